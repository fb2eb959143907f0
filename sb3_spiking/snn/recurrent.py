"""A stack of single-step spiking cells run over sequences, with ``nn.LSTM``'s call conventions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sb3_spiking.snn.neurons import GRSNCell, LIFCell

SequenceState = tuple[Tensor, Tensor]


class SpikingRecurrent(nn.Module):
    """
    Multi-layer spiking recurrent module (temporal alignment paradigm: one neuron update per step).

    Input (seq_len, batch, input_size); state ``(u, c)`` each (num_layers, batch, hidden_size), like the
    ``(h, c)`` pair of ``nn.LSTM``. Output: the spikes of the last layer, (seq_len, batch, hidden_size).
    Layers have no top-down connections, so each layer runs over the whole sequence before the next one:
    its input terms are one matmul over all steps, only the elementwise recurrence loops over time.

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
            # unbind once: indexing d[t] per step would make backward O(seq_len^2)
            drives = list(zip(*(d.unbind(0) for d in cell.input_current(layer_input)), strict=True))
            u, c = state[0][layer], state[1][layer]
            outputs = []
            for t, drive in enumerate(drives):
                if keep is not None:
                    u, c = u * keep[t], c * keep[t]
                spikes, (u, c) = cell.step(drive, (u, c))
                outputs.append(spikes)
            layer_input = torch.stack(outputs)
            final_u.append(u)
            final_c.append(c)
        return layer_input, (torch.stack(final_u), torch.stack(final_c))
