"""A stack of single-step spiking cells run over sequences, with ``nn.LSTM``'s call conventions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sb3_spiking.snn.neurons import GRSNCell, LIFCell

SequenceState = tuple[Tensor, Tensor]


class _SpikingScan(torch.autograd.Function):
    """
    One cell over a whole sequence in a single autograd node. Forward: the cell's own :meth:`step`, step by step,
    without building a graph. Backward: the hand-written adjoint of the same equations (seed 003, Eq. 1, 3, 4, 12, 13;
    the spike derivative is the cell's surrogate): everything that does not depend on the recurrence is computed for
    all steps at once, only a few fused ops per step run in the reverse loop. This replaces about ten autograd nodes
    per step, which dominate the cost of these small elementwise updates.
    """

    @staticmethod
    def forward(
        ctx: Any, cell: GRSNCell | LIFCell, keep: Tensor | None, beta: Tensor, u0: Tensor, c0: Tensor, *drive: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
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
        spikes_t = torch.stack(spikes)
        ctx.cell = cell
        ctx.has_keep = keep is not None
        ctx.save_for_backward(
            keep if keep is not None else spikes_t.new_empty(0),
            beta,
            spikes_t,
            torch.stack(u_prev),
            torch.stack(c_prev),
            torch.stack(c_all),
            *drive,
        )
        return spikes_t, u_hat, c

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor, grad_u: Tensor, grad_c: Tensor) -> tuple[Tensor | None, ...]:
        keep, beta, spikes, u_prev, c_prev, c_all, *drive = ctx.saved_tensors
        cell = ctx.cell
        threshold = cell.threshold
        u = beta * u_prev + (1.0 - beta) * c_all  # Eq. 1, every step at once (the reset overwrote u)
        surrogate = cell.spike.grad(u - threshold)  # Eq. 4
        # dL/du_t = a_t * dL/du_hat_t + b_t, from the reset (Eq. 12 soft / Eq. 3 hard) and the spike output
        if isinstance(cell, GRSNCell):
            a = 1.0 - threshold * surrogate
        else:
            a = (1.0 - spikes) + (cell.reset_potential - u) * surrogate
        b = grad_spikes * surrogate
        decay = beta * keep if ctx.has_keep else beta.expand_as(u)
        one_minus_beta = 1.0 - beta
        g_u_all = torch.empty_like(u)
        g_u_hat = grad_u
        if isinstance(cell, GRSNCell):
            forget = drive[0] * keep if ctx.has_keep else drive[0]
            g_c_all = torch.empty_like(u)
            g_c = grad_c
            for t in range(u.shape[0] - 1, -1, -1):
                g_u = torch.addcmul(b[t], g_u_hat, a[t])
                g_c = torch.addcmul(g_c, g_u, one_minus_beta)  # Eq. 1: u = beta u_hat + (1 - beta) c
                g_u_all[t] = g_u
                g_c_all[t] = g_c
                g_u_hat = decay[t] * g_u
                g_c = forget[t] * g_c  # Eq. 13: c = F c_prev + (1 - F) J
            grad_drive = [g_c_all * c_prev, g_c_all]
            grad_beta = ((u_prev - c_all) * g_u_all).sum((0, 1))
        else:
            for t in range(u.shape[0] - 1, -1, -1):
                g_u = torch.addcmul(b[t], g_u_hat, a[t])
                g_u_all[t] = g_u
                g_u_hat = decay[t] * g_u
            grad_current = one_minus_beta * g_u_all  # Eq. 1 with c = the input current (Eq. 2)
            grad_current[-1] += grad_c  # the returned state's c is the last input current
            grad_drive, grad_beta, g_c = [grad_current], None, torch.zeros_like(grad_c)
        return None, None, grad_beta, g_u_hat, g_c, *grad_drive


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
    :param cell: ``"grsn"`` or ``"lif"``
    :param cell_kwargs: extra arguments of the cell (``surrogate``, ``threshold``, ``beta_init`` / ``beta``)
    """

    cell_classes: ClassVar[dict[str, type[nn.Module]]] = {"grsn": GRSNCell, "lif": LIFCell}

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, cell: str = "grsn", **cell_kwargs: Any
    ) -> None:
        super().__init__()
        if cell not in self.cell_classes:
            raise ValueError(f"unknown spiking cell {cell!r}; allowed: {sorted(self.cell_classes)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        cls = self.cell_classes[cell]
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
            beta = cell.beta if isinstance(cell, GRSNCell) else torch.tensor(cell.beta, dtype=x.dtype, device=x.device)
            layer_input, u, c = _SpikingScan.apply(
                cell, keep, beta, state[0][layer], state[1][layer], *cell.input_current(layer_input)
            )
            final_u.append(u)
            final_c.append(c)
        return layer_input, (torch.stack(final_u), torch.stack(final_c))
