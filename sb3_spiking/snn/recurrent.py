"""A stack of single-step spiking cells run over sequences, with ``nn.LSTM``'s call conventions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sb3_spiking.snn.neurons import GRSNCell, LIFCell, ScanRecord, SpikingCell
from sb3_spiking.validation import check_int

SequenceState = tuple[Tensor, Tensor]


class _SpikingScan(torch.autograd.Function):
    """
    One cell over a whole sequence in a single autograd node. Forward: the cell's own :meth:`~SpikingCell.step`,
    step by step, without building a graph. Backward: the cell's own hand-written adjoint,
    :meth:`~SpikingCell.scan_backward`. This replaces about ten autograd nodes per step, which dominate the cost of
    these small elementwise updates.
    """

    @staticmethod
    def forward(
        ctx: Any, cell: SpikingCell, keep: Tensor | None, n_params: int, u0: Tensor, c0: Tensor, *tensors: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        drive = tensors[n_params:]
        u_hat, c = u0, c0
        spikes, u_prev, c_prev, c_all = [], [], [], []
        for t, step_drive in enumerate(zip(*(d.unbind(0) for d in drive), strict=True)):
            if keep is not None:
                u_hat, c = u_hat * keep[t], c * keep[t]
            u_prev.append(u_hat)
            c_prev.append(c)
            s, (u_hat, c) = cell.step(step_drive, (u_hat, c))
            spikes.append(s)
            c_all.append(c)
        ctx.cell = cell
        ctx.n_params = n_params
        ctx.has_keep = keep is not None
        spikes_t = torch.stack(spikes)
        ctx.save_for_backward(
            keep if keep is not None else u0.new_empty(0),
            spikes_t,
            torch.stack(u_prev),
            torch.stack(c_prev),
            torch.stack(c_all),
            *tensors,
        )
        return spikes_t, u_hat, c

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor, grad_u: Tensor, grad_c: Tensor) -> tuple[Tensor | None, ...]:
        keep, spikes, u_prev, c_prev, c_all, *tensors = ctx.saved_tensors
        n_params = ctx.n_params
        record = ScanRecord(
            keep if ctx.has_keep else None,
            spikes,
            u_prev,
            c_prev,
            c_all,
            tuple(tensors[n_params:]),
            tuple(tensors[:n_params]),
        )
        grads = ctx.cell.scan_backward(record, (grad_u, grad_c), grad_spikes)
        return None, None, None, grads.u0, grads.c0, *grads.params, *grads.drive


class SpikingRecurrent(nn.Module):
    """
    Multi-layer spiking recurrent module (temporal alignment paradigm: one neuron update per step).

    Input (seq_len, batch, input_size); state ``(u, c)`` each (num_layers, batch, hidden_size), like the
    ``(h, c)`` pair of ``nn.LSTM``. Output: the spikes of the last layer, (seq_len, batch, hidden_size).
    Layers have no top-down connections, so each layer runs over the whole sequence before the next one:
    its input terms are one matmul over all steps, and the elementwise recurrence over time is one autograd node
    with a hand-written backward.

    :param input_size: number of input features
    :param hidden_size: neurons per layer
    :param num_layers: number of stacked cells
    :param cell: ``"grsn"``, ``"lif"`` or a :class:`~sb3_spiking.snn.neurons.SpikingCell` subclass
    :param cell_kwargs: extra arguments of the cell (``surrogate``, ``threshold``, ``beta_init`` / ``beta``)
    """

    cell_classes: ClassVar[dict[str, type[SpikingCell]]] = {"grsn": GRSNCell, "lif": LIFCell}

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str | type[SpikingCell] = "grsn",
        **cell_kwargs: Any,
    ) -> None:
        super().__init__()
        if isinstance(cell, type) and issubclass(cell, SpikingCell):
            cls = cell
        elif isinstance(cell, str) and cell in self.cell_classes:
            cls = self.cell_classes[cell]
        else:
            raise ValueError(f"unknown spiking cell {cell!r}; allowed: {sorted(self.cell_classes)} or a SpikingCell")
        check_int("input_size", input_size, minimum=1)
        check_int("num_layers", num_layers, minimum=1)
        self.input_size = input_size
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = num_layers
        self.cell = cell
        self.cells = nn.ModuleList(
            cls(input_size if i == 0 else hidden_size, hidden_size, **cell_kwargs) for i in range(num_layers)
        )

    def initial_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> SequenceState:
        """Zero state ``(u, c)``, each (num_layers, batch, hidden)."""
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def forward(
        self, x: Tensor, state: SequenceState | None = None, episode_starts: Tensor | None = None
    ) -> tuple[Tensor, SequenceState]:
        """
        :param x: inputs (seq_len, batch, input_size)
        :param state: ``(u, c)`` each (num_layers, batch, hidden), ``None`` for zeros
        :param episode_starts: (seq_len, batch), 1 where the state must be reset to zero before that step
        :return: last layer's spikes (seq_len, batch, hidden) and the final state
        """
        if x.dim() != 3:
            raise ValueError(f"expected input of shape (seq_len, batch, features), got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        keep = None if episode_starts is None else (1.0 - episode_starts.to(x.dtype)).unsqueeze(-1)
        final_u, final_c = [], []
        layer_input = x
        for layer, cell in enumerate(self.cells):
            params = cell.scan_parameters()
            layer_input, u, c = _SpikingScan.apply(
                cell, keep, len(params), state[0][layer], state[1][layer], *params, *cell.input_current(layer_input)
            )
            final_u.append(u)
            final_c.append(c)
        return layer_input, (torch.stack(final_u), torch.stack(final_c))
