"""A stack of single-step spiking cells run over sequences, with ``nn.LSTM``'s call conventions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sb3_spiking.snn.neurons import GRSNCell, LIFCell, ScanRecord, SpikingCell
from sb3_spiking.validation import check_int

SequenceState = tuple[Tensor, Tensor]


def _scan_forward(
    cell: SpikingCell, drive: tuple[Tensor, ...], state: SequenceState, keep: Tensor | None, params: tuple[Tensor, ...]
) -> tuple[ScanRecord, SequenceState]:
    """
    The cell's fused ``scan_forward`` where it has one (:class:`~sb3_spiking.snn.neurons.GRSNCell`,
    :class:`~sb3_spiking.snn.neurons.LIFCell`), else its :meth:`~SpikingCell.step` in a loop; arguments and result as
    :meth:`GRSNCell.scan_forward <sb3_spiking.snn.neurons.GRSNCell.scan_forward>` (the loop reads the cell's own
    parameters).
    """
    if hasattr(cell, "scan_forward"):
        return cell.scan_forward(drive, state, keep, params)
    u_hat, c = state
    spikes, u_prev, c_prev, c_all = [], [], [], []
    for t, step_drive in enumerate(zip(*(d.unbind(0) for d in drive), strict=True)):
        if keep is not None:
            u_hat, c = u_hat * keep[t], c * keep[t]
        u_prev.append(u_hat)
        c_prev.append(c)
        s, (u_hat, c) = cell.step(step_drive, (u_hat, c))
        spikes.append(s)
        c_all.append(c)
    stacked = (torch.stack(x) for x in (spikes, u_prev, c_prev, c_all))
    return ScanRecord(keep, *stacked, drive, params), (u_hat, c)


class _SpikingScan(torch.autograd.Function):
    """
    One cell over a whole sequence in a single autograd node. Forward: the cell's fused scan (or its
    :meth:`~SpikingCell.step`, step by step), without building a graph. Backward: the cell's own hand-written adjoint,
    :meth:`~SpikingCell.scan_backward`. This replaces about ten autograd nodes per step, which dominate the cost of
    these small elementwise updates.
    """

    @staticmethod
    def forward(
        ctx: Any, cell: SpikingCell, keep: Tensor | None, n_params: int, u0: Tensor, c0: Tensor, *tensors: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        record, (u, c) = _scan_forward(cell, tensors[n_params:], (u0, c0), keep, tensors[:n_params])
        ctx.cell = cell
        ctx.n_params = n_params
        ctx.has_keep = keep is not None
        ctx.save_for_backward(
            keep if keep is not None else u0.new_empty(0),
            record.spikes,
            record.u_prev,
            record.c_prev,
            record.c,
            *tensors,
        )
        return record.spikes, u.clone(), c.clone()

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


def _scan(
    cell: SpikingCell, keep: Tensor | None, state: SequenceState, params: tuple[Tensor, ...], drive: tuple[Tensor, ...]
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer over a sequence: spikes (seq_len, batch, hidden) and the final ``(u, c)``."""
    if torch.is_grad_enabled() and any(x.requires_grad for x in (*state, *params, *drive)):
        return _SpikingScan.apply(cell, keep, len(params), *state, *params, *drive)
    record, (u, c) = _scan_forward(cell, drive, state, keep, params)
    return record.spikes, u, c


class SpikingRecurrent(nn.Module):
    """
    Multi-layer spiking recurrent module (temporal alignment paradigm: one neuron update per step).

    Input (seq_len, batch, input_size); state ``(u, c)`` each (num_layers, batch, hidden_size), like the
    ``(h, c)`` pair of ``nn.LSTM``. Output: the spikes of the last layer, (seq_len, batch, hidden_size).
    Layers have no top-down connections, so each layer runs over the whole sequence before the next one:
    its input terms are one matmul over all steps, and the elementwise recurrence over time is one autograd node
    with a hand-written backward. :func:`run_stacked` runs several such modules as one batch.

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
        return run_stacked([self], [x], [state], episode_starts)[0]


def _reset_mask(
    states: list[SequenceState], episode_starts: Tensor | None, dtype: torch.dtype
) -> tuple[list[SequenceState], Tensor | None]:
    """
    :return: the states with the resets before the first step applied, and the reset mask of the scans (``keep``,
        (seq_len, batch, 1)), ``None`` when no episode starts inside the sequence
    """
    if episode_starts is None:
        return states, None
    keep = (1.0 - episode_starts.to(dtype)).unsqueeze(-1)
    if episode_starts.shape[0] > 1 and torch.any(episode_starts[1:]):
        return states, keep
    return [(u * keep[0], c * keep[0]) for u, c in states], None


def stackable(cores: Sequence[nn.Module]) -> bool:
    """
    :param cores: recurrent cores
    :return: whether :func:`run_stacked` can run them: :class:`SpikingRecurrent` modules of as many layers, with
        cells of one class that has a fused ``scan_forward`` and equal settings (hidden size, threshold, surrogate, ...)
    """

    def settings(cell: SpikingCell) -> tuple[Any, ...]:
        plain = {k: v for k, v in vars(cell).items() if isinstance(v, (bool, int, float, str)) and k != "training"}
        return type(cell), sorted(plain.items()), cell.spike.to_dict()

    first = cores[0]
    return all(isinstance(core, SpikingRecurrent) and len(core.cells) == len(first.cells) for core in cores) and all(
        hasattr(cell, "scan_forward") and settings(cell) == settings(first_cell)
        for core in cores
        for cell, first_cell in zip(core.cells, first.cells, strict=True)
    )


def run_stacked(
    cores: Sequence[SpikingRecurrent],
    inputs: Sequence[Tensor],
    states: Sequence[SequenceState | None],
    episode_starts: Tensor | None,
) -> list[tuple[Tensor, SequenceState]]:
    """
    ``[core(x, state, episode_starts) ...]`` as one batch: per layer, each core's input terms, then one scan over all
    cores side by side along the batch (each sequence with its own core's parameters).

    :param cores: one core, or several that :func:`stackable` accepts
    :param inputs: one input (seq_len, batch, input_size) per core, all of one seq_len and batch
    :param states: one initial state per core, ``None`` for zeros
    :param episode_starts: (seq_len, batch), 1 where every core's state is reset before that step
    :return: the output and final state of each core
    """
    for x in inputs:
        if x.dim() != 3:
            raise ValueError(f"expected input of shape (seq_len, batch, features), got {tuple(x.shape)}")
    full = [
        state if state is not None else core.initial_state(x.shape[1], x.device, x.dtype)
        for core, x, state in zip(cores, inputs, states, strict=True)
    ]
    full, keep = _reset_mask(full, episode_starts, inputs[0].dtype)
    batch, n_cores = inputs[0].shape[1], len(cores)
    if keep is not None and n_cores > 1:
        keep = keep.repeat(1, n_cores, 1)
    layer_inputs = list(inputs)
    final_u, final_c = [], []
    for layer in range(cores[0].num_layers):
        cells = [core.cells[layer] for core in cores]
        drives = [cell.input_current(x) for cell, x in zip(cells, layer_inputs, strict=True)]
        if n_cores == 1:
            params, drive = cells[0].scan_parameters(), drives[0]
            state = (full[0][0][layer], full[0][1][layer])
        else:  # one row of parameters per sequence; the cores side by side along the batch
            params = tuple(
                torch.cat([p.expand(batch, *p.shape) for p in per_cell])
                for per_cell in zip(*(c.scan_parameters() for c in cells), strict=True)
            )
            drive = tuple(torch.cat(parts, dim=1) for parts in zip(*drives, strict=True))
            state = (torch.cat([u[layer] for u, _ in full]), torch.cat([c[layer] for _, c in full]))
        spikes, u, c = _scan(cells[0], keep, state, params, drive)
        layer_inputs = [spikes] if n_cores == 1 else list(spikes.split(batch, dim=1))
        final_u.append([u] if n_cores == 1 else u.split(batch))
        final_c.append([c] if n_cores == 1 else c.split(batch))
    return [
        (layer_inputs[k], (torch.stack([u[k] for u in final_u]), torch.stack([c[k] for c in final_c])))
        for k in range(n_cores)
    ]
