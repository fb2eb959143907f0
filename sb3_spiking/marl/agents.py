"""Shared-parameter agent networks of QMIX: fc + ReLU -> recurrent core -> fc to per-action utilities."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sb3_spiking.snn.recurrent import SpikingRecurrent

AgentState = tuple[Tensor, ...]


class RecurrentAgent(nn.Module):
    """
    One network shared by all agents (parameter sharing); agents are rows of the batch.

    The core runs one update per environment step (temporal alignment paradigm, seed 003 section 4.1):
    ``"grsn"`` and ``"lif"`` are :class:`~sb3_spiking.snn.recurrent.SpikingRecurrent` (state ``(u, c)``),
    ``"gru"`` is ``torch.nn.GRU`` (state ``(h,)``), ``"mlp"`` a feed-forward layer (no state).

    :param input_dim: per-agent input features (observation, one-hot last action, one-hot agent id)
    :param n_actions: number of discrete actions
    :param core: ``"grsn"``, ``"gru"``, ``"lif"`` or ``"mlp"``
    :param fc_dim: width of the input layer
    :param hidden_dim: width of the core
    :param num_layers: stacked core layers (recurrent cores only)
    :param core_kwargs: extra arguments of the spiking cell (``surrogate``, ``threshold``, ``beta_init``/``beta``)
    """

    cores: ClassVar[tuple[str, ...]] = ("grsn", "gru", "lif", "mlp")

    def __init__(
        self,
        input_dim: int,
        n_actions: int,
        core: str = "grsn",
        fc_dim: int = 64,
        hidden_dim: int = 64,
        num_layers: int = 1,
        core_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if core not in self.cores:
            raise ValueError(f"unknown agent core {core!r}; allowed: {list(self.cores)}")
        core_kwargs = core_kwargs or {}
        if core_kwargs and core not in ("grsn", "lif"):
            raise ValueError(f"core_kwargs are only accepted by the spiking cores 'grsn' and 'lif', not {core!r}")
        self.core_type = core
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.fc_in = nn.Linear(input_dim, fc_dim)
        if core == "gru":
            self.core: nn.Module = nn.GRU(fc_dim, hidden_dim, num_layers)
        elif core == "mlp":
            self.core = nn.Sequential(nn.Linear(fc_dim, hidden_dim), nn.ReLU())
        else:
            self.core = SpikingRecurrent(fc_dim, hidden_dim, num_layers, cell=core, **core_kwargs)
        self.fc_out = nn.Linear(hidden_dim, n_actions)

    @property
    def n_state_tensors(self) -> int:
        """Number of tensors in the core state: 2 for spiking ``(u, c)``, 1 for GRU ``(h,)``, 0 for MLP."""
        return {"grsn": 2, "lif": 2, "gru": 1, "mlp": 0}[self.core_type]

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> AgentState:
        """Zero core state, each tensor (num_layers, batch, hidden_dim)."""
        shape = (self.num_layers, batch_size, self.hidden_dim)
        return tuple(torch.zeros(shape, device=device) for _ in range(self.n_state_tensors))

    def forward(
        self, x: Tensor, state: AgentState | None = None, episode_starts: Tensor | None = None
    ) -> tuple[Tensor, AgentState]:
        """
        :param x: inputs (seq_len, batch, input_dim); batch = episodes x agents
        :param state: core state (see :meth:`initial_state`), ``None`` for zeros
        :param episode_starts: (seq_len, batch), 1 where the state is reset to zero before that step
        :return: utilities (seq_len, batch, n_actions) and the final core state
        """
        hidden = torch.relu(self.fc_in(x))
        if state is None:
            state = self.initial_state(x.shape[1], x.device)
        if self.core_type == "mlp":
            out = self.core(hidden)
        elif self.core_type == "gru":
            out, state = self._run_gru(hidden, state[0], episode_starts)
        else:
            out, state = self.core(hidden, state, episode_starts)
        return self.fc_out(out), state

    def _run_gru(self, x: Tensor, h: Tensor, episode_starts: Tensor | None) -> tuple[Tensor, AgentState]:
        if episode_starts is None or not episode_starts[1:].any():
            if episode_starts is not None:
                h = h * (1.0 - episode_starts[0].to(x.dtype)).view(1, -1, 1)
            out, h = self.core(x, h)
            return out, (h,)
        keep = (1.0 - episode_starts.to(x.dtype)).view(x.shape[0], 1, -1, 1)
        outputs = []
        for t in range(x.shape[0]):
            out, h = self.core(x[t : t + 1], h * keep[t])
            outputs.append(out)
        return torch.cat(outputs), (h,)
