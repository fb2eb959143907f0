"""
Recurrent cores by name: the one registry that RecurrentPPO's spiking policies, RecurrentTD3, RecurrentDQN and QMIX
build their cores from.

Every core takes inputs (seq_len, batch, input_size), a state tuple (each tensor (num_layers, batch, hidden);
``None`` for zeros) and ``episode_starts`` (seq_len, batch), 1 where the state is reset to zero before that step,
and returns its outputs (seq_len, batch, hidden) and the final state, as :class:`SpikingRecurrent` does.

A new spiking cell is one :class:`~sb3_spiking.snn.neurons.SpikingCell` subclass plus one registry line::

    register_core("my_cell", functools.partial(SpikingRecurrent, cell=MyCell))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from sb3_spiking.snn.recurrent import SpikingRecurrent, run_stacked, stackable
from sb3_spiking.validation import check_int

CoreState = tuple[Tensor, ...]
CoreFactory = Callable[..., nn.Module]


class GRUCore(nn.Module):
    """
    ``torch.nn.GRU`` with the call conventions of :class:`~sb3_spiking.snn.recurrent.SpikingRecurrent`
    (state a tuple, ``episode_starts`` masks), the non-spiking baseline core.

    :param input_size: number of input features
    :param hidden_size: number of hidden units
    :param num_layers: number of stacked GRU layers
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        self.gru = nn.GRU(input_size, hidden_size, num_layers)

    def initial_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> tuple[Tensor]:
        """Zero state ``(h,)``, (num_layers, batch, hidden)."""
        return (torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype),)

    def forward(
        self, x: Tensor, state: CoreState | None = None, episode_starts: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor]]:
        """
        :param x: inputs (seq_len, batch, input_size)
        :param state: ``(h,)``, ``None`` for zeros
        :param episode_starts: (seq_len, batch), 1 where the state is reset before that step
        :return: outputs (seq_len, batch, hidden) and the final state
        """
        (h,) = state if state is not None else self.initial_state(x.shape[1], x.device, x.dtype)
        if episode_starts is None:
            out, h = self.gru(x, h)
            return out, (h,)
        keep = (1.0 - episode_starts.to(x.dtype)).unsqueeze(-1)
        if not torch.any(episode_starts[1:]):  # resets only before the first step: one cuDNN/oneDNN call
            out, h = self.gru(x, h * keep[0])
            return out, (h,)
        outputs = []
        for t in range(x.shape[0]):
            out, h = self.gru(x[t : t + 1], h * keep[t])
            outputs.append(out)
        return torch.cat(outputs), (h,)


class MLPCore(nn.Module):
    """
    A memoryless core (Linear + ReLU layers applied per step, empty state), for agents without recurrence
    (QMIX's ``"mlp"``).

    :param input_size: number of input features
    :param hidden_size: number of hidden units
    :param num_layers: number of Linear + ReLU layers
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Linear(input_size if i == 0 else hidden_size, hidden_size), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def initial_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> tuple[()]:
        """No state."""
        return ()

    def forward(
        self, x: Tensor, state: CoreState | None = None, episode_starts: Tensor | None = None
    ) -> tuple[Tensor, tuple[()]]:
        """
        :param x: inputs (seq_len, batch, input_size)
        :param state: ignored (no state)
        :param episode_starts: ignored (nothing to reset)
        :return: outputs (seq_len, batch, hidden) and the empty state
        """
        return self.net(x), ()


CORES: dict[str, CoreFactory] = {
    "grsn": partial(SpikingRecurrent, cell="grsn"),
    "lif": partial(SpikingRecurrent, cell="lif"),
    "gru": GRUCore,
    "mlp": MLPCore,
}


def register_core(name: str, factory: CoreFactory) -> None:
    """
    Make a core available by name to every algorithm.

    :param name: the name used in ``core=`` arguments
    :param factory: ``factory(input_size, hidden_size, **kwargs)`` returning a core module
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {factory!r}")
    CORES[name] = factory


def core_arguments(name: str) -> list[str]:
    """
    :param name: a registered core
    :return: the keyword arguments its factory accepts besides ``input_size`` and ``hidden_size``
    """
    factory = CORES[name]
    target = factory.func if isinstance(factory, partial) else factory
    names = list(inspect.signature(target).parameters)
    if target is SpikingRecurrent:  # its **cell_kwargs go to the cell
        cell = factory.keywords["cell"]
        names += list(inspect.signature(SpikingRecurrent.cell_classes.get(cell, cell)).parameters)
    fixed = {"input_size", "hidden_size", "cell", "cell_kwargs", "args", "kwargs"}
    return [n for n in dict.fromkeys(names) if n not in fixed]


def make_core(name: str, input_size: int, hidden_size: int, **kwargs: Any) -> nn.Module:
    """
    Build a registered core.

    :param name: ``"grsn"``, ``"lif"`` (spiking), ``"gru"``, ``"mlp"`` or a name added with :func:`register_core`
    :param input_size: number of input features
    :param hidden_size: number of units per layer
    :param kwargs: arguments of the core (``num_layers``; spiking cores: ``surrogate``, ``threshold``, ...)
    :return: the core module
    """
    if name not in CORES:
        raise ValueError(f"unknown core {name!r}; allowed: {sorted(CORES)}")
    allowed = core_arguments(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"core {name!r} does not take the arguments {unknown} (given in core_kwargs / cell_kwargs); "
            f"allowed: {allowed}"
        )
    return CORES[name](input_size, hidden_size, **kwargs)


def run_cores(
    cores: Sequence[nn.Module],
    inputs: Sequence[Tensor],
    states: Sequence[CoreState | None] | None = None,
    episode_starts: Tensor | None = None,
) -> list[tuple[Tensor, CoreState]]:
    """
    ``[core(x, state, episode_starts) for ...]``: several cores, each on its own inputs of one shape. Spiking cores of
    equal settings run as one batch (one elementwise scan per layer over all of them, see
    :func:`~sb3_spiking.snn.recurrent.run_stacked`), other cores one by one.

    :param cores: cores built by :func:`make_core`
    :param inputs: one input (seq_len, batch, input_size) per core, all of one seq_len and batch
    :param states: one initial state per core (``None`` for zeros), ``None`` for zeros everywhere
    :param episode_starts: (seq_len, batch), 1 where every core's state is reset before that step
    :return: the output (seq_len, batch, hidden) and final state of each core
    """
    states = list(states) if states is not None else [None] * len(cores)
    if len(cores) > 1 and stackable(cores):
        return run_stacked(cores, inputs, states, episode_starts)
    return [core(x, state, episode_starts) for core, x, state in zip(cores, inputs, states, strict=True)]
