"""Spiking neuron models, each written once and reused by every policy.

Single-step cells for the temporal alignment paradigm (seed 003, one neuron update per env step):

- :class:`GRSNCell`: gated recurrent spiking neuron (seed 003, Eq. 1, 4, 12, 13, 14);
- :class:`LIFCell`: the plain LIF baseline (seed 003, Eq. 1-5), hard reset, fixed decay.

Both take ``state = (u, c)``: ``u`` the membrane potential after the reset (``u_hat``), ``c`` the current.
Both split their update into :meth:`input_current` (depends only on the layer input, so a whole sequence
can be done in one matmul) and :meth:`step` (the elementwise recurrence), and own the hand-written adjoint of
that recurrence over a sequence, :meth:`scan_backward`. A new cell subclasses :class:`SpikingCell`.

Multi-step neurons for the stateless population actors (seed 000, one observation = one T-step
simulation starting from zero state), fed with the synaptic input of all T steps at once:

- :class:`CurrentLIF`: current-based LIF of Pop-SAN (seed 000, Eq. 11-13), hand-written backward;
- :class:`DynamicNeuron`: 2nd-order dynamic neuron of MDC-SAN.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sb3_spiking.snn.surrogate import Surrogate, SurrogateLike, make

CellState = tuple[Tensor, Tensor]


@dataclass
class ScanRecord:
    """
    What a forward scan of a single-step cell over a sequence keeps for its backward pass; every tensor is
    (seq_len, batch, hidden) unless stated.

    :param keep: 0 where the state was reset before that step, else 1 (seq_len, batch, 1); ``None`` for no reset
    :param spikes: the spikes of every step
    :param u_prev: ``u_hat`` entering every step (after the reset mask)
    :param c_prev: ``c`` entering every step (after the reset mask)
    :param c: ``c`` after every step
    :param drive: the cell's :meth:`~SpikingCell.input_current` terms of every step
    :param params: the cell's :meth:`~SpikingCell.scan_parameters`
    """

    keep: Tensor | None
    spikes: Tensor
    u_prev: Tensor
    c_prev: Tensor
    c: Tensor
    drive: tuple[Tensor, ...]
    params: tuple[Tensor, ...]


@dataclass
class ScanGradients:
    """Gradients returned by :meth:`SpikingCell.scan_backward`: parameters, initial ``u_hat`` and ``c``, drive."""

    params: tuple[Tensor | None, ...]
    u0: Tensor
    c0: Tensor
    drive: tuple[Tensor, ...]


class SpikingCell(nn.Module):
    """
    Base of the single-step cells: threshold, surrogate, state handling. A subclass defines :meth:`input_current`,
    :meth:`step`, :meth:`scan_backward` and, if :meth:`step` uses learnable tensors directly, :meth:`scan_parameters`.

    :param hidden_size: number of neurons
    :param surrogate: surrogate spike function (name, dict or instance)
    :param threshold: firing threshold theta
    """

    hidden_size: int

    def __init__(self, hidden_size: int, surrogate: SurrogateLike, threshold: float) -> None:
        super().__init__()
        if hidden_size <= 0:
            raise ValueError(f"hidden_size must be positive, got {hidden_size}")
        if not threshold > 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        self.hidden_size = hidden_size
        self.threshold = float(threshold)
        self.spike = make(surrogate)

    def initial_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> CellState:
        """Zero state ``(u, c)`` of shape (batch, hidden)."""
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def input_current(self, x: Tensor) -> tuple[Tensor, ...]:
        """Input-dependent terms of the update, for any leading shape of ``x`` (..., input_size)."""
        raise NotImplementedError

    def step(self, drive: tuple[Tensor, ...], state: CellState) -> tuple[Tensor, CellState]:
        """One neuron update from precomputed input terms."""
        raise NotImplementedError

    def scan_parameters(self) -> tuple[Tensor, ...]:
        """Tensors used by :meth:`step` that need gradients through a sequence scan (e.g. a learnable decay)."""
        return ()

    def scan_backward(self, record: ScanRecord, grads: CellState, grad_spikes: Tensor) -> ScanGradients:
        """
        Hand-written adjoint of :meth:`step` over a whole sequence, used by
        :class:`~sb3_spiking.snn.recurrent.SpikingRecurrent` in place of autograd.

        :param record: what the forward scan saved
        :param grads: gradients w.r.t. the final state ``(u_hat_T, c_T)``
        :param grad_spikes: gradients w.r.t. the spikes of every step (seq_len, batch, hidden)
        :return: gradients w.r.t. :meth:`scan_parameters`, the initial state and every drive tensor
        """
        raise NotImplementedError

    def forward(self, x: Tensor, state: CellState | None = None) -> tuple[Tensor, CellState]:
        """
        One neuron update (one env step).

        :param x: layer input (batch, input_size)
        :param state: ``(u, c)`` each (batch, hidden), ``None`` for zeros
        :return: spikes (batch, hidden) and the new state
        """
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return self.step(self.input_current(x), state)


class GRSNCell(SpikingCell):
    """
    Gated recurrent spiking neuron (seed 003, section 4.3).

    :param input_size: number of input features
    :param hidden_size: number of neurons
    :param surrogate: surrogate spike function (default arctan, alpha = 2; seed 003, Eq. 6)
    :param threshold: firing threshold theta
    :param beta_init: initial membrane decay, learnable per neuron and kept in (0, 1) by a sigmoid
    :param input_bias: initial bias of the input gate ``W_i``; ``None`` keeps PyTorch's default init. Small
        inputs with the default init keep ``J``, hence ``c`` and ``u``, below a threshold of 1, so the layer
        starts silent; ``input_bias=threshold`` starts every neuron at its threshold
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        surrogate: SurrogateLike = "arctan",
        threshold: float = 1.0,
        beta_init: float = 0.5,
        input_bias: float | None = None,
    ) -> None:
        super().__init__(hidden_size, surrogate, threshold)
        if not 0.0 < beta_init < 1.0:
            raise ValueError(f"beta_init must be in (0, 1), got {beta_init}")
        self.forget_gate = nn.Linear(input_size, hidden_size)
        self.input_gate = nn.Linear(input_size, hidden_size)
        if input_bias is not None:
            nn.init.constant_(self.input_gate.bias, input_bias)
        self.beta_logit = nn.Parameter(torch.full((hidden_size,), math.log(beta_init / (1.0 - beta_init))))

    @property
    def beta(self) -> Tensor:
        """Membrane decay in (0, 1), one per neuron."""
        return torch.sigmoid(self.beta_logit)

    def input_current(self, x: Tensor) -> tuple[Tensor, Tensor]:
        forget = torch.sigmoid(self.forget_gate(x))  # Eq. 14, F
        gated_input = torch.relu(self.input_gate(x))  # Eq. 14, J
        return forget, (1.0 - forget) * gated_input

    def step(self, drive: tuple[Tensor, ...], state: CellState) -> tuple[Tensor, CellState]:
        forget, gated_input = drive
        u_hat, c = state
        beta = self.beta
        c = forget * c + gated_input  # Eq. 13
        u = beta * u_hat + (1.0 - beta) * c  # Eq. 1
        spikes = self.spike(u - self.threshold)  # Eq. 4
        return spikes, (u - self.threshold * spikes, c)  # Eq. 12, soft reset

    def scan_parameters(self) -> tuple[Tensor]:
        return (self.beta,)

    def scan_forward(
        self, drive: tuple[Tensor, ...], state: CellState, keep: Tensor | None, params: tuple[Tensor, ...]
    ) -> tuple[ScanRecord, CellState]:
        """
        :meth:`step` over a whole sequence without autograd: Eq. 13 for every step first (it does not depend on the
        spikes), then Eq. 1, 4 and 12 in three operations per step, written into preallocated buffers.

        :param drive: :meth:`input_current` of every step, each (seq_len, batch, hidden)
        :param state: initial ``(u_hat, c)``, each (batch, hidden)
        :param keep: 0 where the state is reset before that step, else 1 (seq_len, batch, 1); ``None`` for no reset
        :param params: :meth:`scan_parameters`, or those of several cells run as one batch, one row per sequence
        :return: what :meth:`scan_backward` needs, and the final state
        """
        (beta,) = params
        forget, gated_input = drive
        c, c_prev = _state_buffers(state[1], forget, keep)
        _compiled(_gated_sum)(forget, gated_input, c, c_prev, keep)  # Eq. 13
        u = (1.0 - beta) * c[1:]  # Eq. 1, input part; the loop adds beta u_hat: u of every step
        u_hat, u_prev = _state_buffers(state[0], u, keep)
        spikes = torch.empty_like(u)
        _compiled(_soft_reset)(u, beta, u_hat, u_prev, spikes, keep, self.threshold)  # Eq. 1, 4, 12
        return ScanRecord(keep, spikes, u_prev, c_prev, c[1:], drive, params), (u_hat[-1], c[-1])

    def scan_backward(self, record: ScanRecord, grads: CellState, grad_spikes: Tensor) -> ScanGradients:
        (beta,) = record.params
        forget, _ = record.drive
        keep = record.keep
        u = torch.addcmul((1.0 - beta) * record.c, beta, record.u_prev)  # Eq. 1, every step at once
        surrogate = self.spike.grad(u - self.threshold)  # Eq. 4
        # dL/du_t = b_t + a_t dL/du_hat_t (Eq. 12, soft reset), dL/du_hat_t = beta keep_(t+1) dL/du_(t+1) (Eq. 1)
        carry = 1.0 - self.threshold * surrogate
        decay = beta if keep is None else beta * keep
        carry[:-1] *= decay if keep is None else decay[1:]
        b = grad_spikes * surrogate
        g_u = torch.empty_like(u)
        torch.addcmul(b[-1], carry[-1], grads[0], out=g_u[-1])
        _compiled(_adjoint)(carry, b, g_u)
        # dL/dc_t = (1 - beta) dL/du_t (Eq. 1) + keep_(t+1) F_(t+1) dL/dc_(t+1) (Eq. 13: c = F c_prev + (1 - F) J)
        forget = forget if keep is None else forget * keep
        g_c = (1.0 - beta) * g_u
        g_c[-1] += grads[1]
        _compiled(_adjoint)(forget[1:], g_c, g_c)
        g_u0 = (decay if keep is None else decay[0]) * g_u[0]
        grad_beta = ((record.u_prev - record.c) * g_u).sum(0).sum_to_size(beta.shape)
        return ScanGradients((grad_beta,), g_u0, forget[0] * g_c[0], (g_c * record.c_prev, g_c))


class LIFCell(SpikingCell):
    """
    Plain LIF neuron, the baseline of seed 003 (Eq. 1-5): fixed decay, hard reset to ``u_r``.
    The state's ``c`` is the last input current (kept for a uniform ``(u, c)`` state; not recurrent).

    :param input_size: number of input features
    :param hidden_size: number of neurons
    :param surrogate: surrogate spike function (default arctan, alpha = 2)
    :param threshold: firing threshold theta
    :param beta: fixed membrane decay in (0, 1)
    :param reset_potential: ``u_r`` of the hard reset
    :param input_bias: initial bias of the input layer; ``None`` keeps PyTorch's default init (see
        :class:`GRSNCell`)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        surrogate: SurrogateLike = "arctan",
        threshold: float = 1.0,
        beta: float = 0.5,
        reset_potential: float = 0.0,
        input_bias: float | None = None,
    ) -> None:
        super().__init__(hidden_size, surrogate, threshold)
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        self.fc = nn.Linear(input_size, hidden_size)
        if input_bias is not None:
            nn.init.constant_(self.fc.bias, input_bias)
        self.beta = float(beta)
        self.reset_potential = float(reset_potential)

    def input_current(self, x: Tensor) -> tuple[Tensor]:
        return (self.fc(x),)  # Eq. 2

    def step(self, drive: tuple[Tensor, ...], state: CellState) -> tuple[Tensor, CellState]:
        (c,) = drive
        u_hat, _ = state
        u = self.beta * u_hat + (1.0 - self.beta) * c  # Eq. 1
        spikes = self.spike(u - self.threshold)  # Eq. 4
        u_hat = self.reset_potential * spikes + (1.0 - spikes) * u  # Eq. 3, hard reset
        return spikes, (u_hat, c)

    def scan_forward(
        self, drive: tuple[Tensor, ...], state: CellState, keep: Tensor | None, params: tuple[Tensor, ...]
    ) -> tuple[ScanRecord, CellState]:
        """
        :meth:`step` over a whole sequence without autograd, three operations per step into preallocated buffers;
        arguments as :meth:`GRSNCell.scan_forward` (``params`` is empty: the decay is fixed).
        """
        (current,) = drive
        u = (1.0 - self.beta) * current  # Eq. 1, input part; the loop adds beta u_hat: u of every step
        u_hat, u_prev = _state_buffers(state[0], u, keep)
        fired = torch.empty_like(u, dtype=torch.bool)
        _compiled(_hard_reset)(
            u, u_hat, u_prev, fired, keep, self.beta, self.threshold, self.reset_potential
        )  # Eq. 1, 3, 4
        c_prev = torch.cat([state[1][None], current[:-1]])  # the state's c is the last input current
        c_prev = c_prev if keep is None else c_prev * keep
        spikes = fired.to(u.dtype)
        return ScanRecord(keep, spikes, u_prev, c_prev, current, drive, params), (u_hat[-1], current[-1])

    def scan_backward(self, record: ScanRecord, grads: CellState, grad_spikes: Tensor) -> ScanGradients:
        (current,) = record.drive
        u = torch.add((1.0 - self.beta) * current, record.u_prev, alpha=self.beta)  # Eq. 1, every step at once
        surrogate = self.spike.grad(u - self.threshold)  # Eq. 4
        # dL/du_t = b_t + a_t dL/du_hat_t (Eq. 3, hard reset), dL/du_hat_t = beta keep_(t+1) dL/du_(t+1) (Eq. 1)
        carry = torch.addcmul(1.0 - record.spikes, self.reset_potential - u, surrogate)
        keep = record.keep
        carry[:-1] *= self.beta if keep is None else self.beta * keep[1:]
        b = grad_spikes * surrogate
        g_u = torch.empty_like(u)
        torch.addcmul(b[-1], carry[-1], grads[0], out=g_u[-1])
        _compiled(_adjoint)(carry, b, g_u)
        g_u0 = (self.beta if keep is None else self.beta * keep[0]) * g_u[0]
        grad_current = (1.0 - self.beta) * g_u  # Eq. 1 with c = the input current (Eq. 2)
        grad_current[-1] += grads[1]  # the returned state's c is the last input current
        return ScanGradients((), g_u0, torch.zeros_like(grads[1]), (grad_current,))


def _state_buffers(initial: Tensor, like: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
    """
    Buffers of a state over a sequence, for the fused scans of the single-step cells.

    :param initial: the state before the first step (batch, hidden)
    :param like: a tensor (seq_len, batch, hidden) of the sequence
    :param keep: reset mask of :meth:`SpikingCell.scan_backward`'s record, ``None`` for no reset
    :return: ``after`` (seq_len + 1, batch, hidden) with ``after[0] = initial`` and ``after[t + 1]`` for the state after
        step ``t``, and the state entering every step: ``after[:-1]`` without resets, else a buffer for
        ``after[t] * keep[t]``
    """
    after = like.new_empty((like.shape[0] + 1, *like.shape[1:]))
    after[0] = initial
    return after, after[:-1] if keep is None else torch.empty_like(like)


def _gated_sum(forget: Tensor, drive: Tensor, c: Tensor, c_prev: Tensor, keep: Tensor | None) -> None:
    """``c[t + 1] = forget[t] c_in + drive[t]``, ``c_in = c[t]``, or ``c[t] keep[t]`` written to ``c_prev[t]``."""
    for t in range(forget.shape[0]):
        c_in = c[t] if keep is None else torch.mul(c[t], keep[t], out=c_prev[t])
        torch.addcmul(drive[t], forget[t], c_in, out=c[t + 1])


def _soft_reset(
    u: Tensor, beta: Tensor, u_hat: Tensor, u_prev: Tensor, spikes: Tensor, keep: Tensor | None, threshold: float
) -> None:
    """``u[t] += beta u_in``, ``spikes[t] = H(u[t] - threshold)``, ``u_hat[t + 1] = u[t] - threshold spikes[t]``."""
    for t in range(u.shape[0]):
        u_in = u_hat[t] if keep is None else torch.mul(u_hat[t], keep[t], out=u_prev[t])
        u_t = u[t].addcmul_(beta, u_in)
        torch.gt(u_t, threshold, out=spikes[t])
        torch.sub(u_t, spikes[t], alpha=threshold, out=u_hat[t + 1])


def _hard_reset(
    u: Tensor,
    u_hat: Tensor,
    u_prev: Tensor,
    fired: Tensor,
    keep: Tensor | None,
    beta: float,
    threshold: float,
    reset_potential: float,
) -> None:
    """``u_hat[t + 1] = u[t] + beta u_in``, ``fired[t] = u_hat[t + 1] > threshold``, then ``reset_potential`` there."""
    for t in range(u.shape[0]):
        u_in = u_hat[t] if keep is None else torch.mul(u_hat[t], keep[t], out=u_prev[t])
        u_out = torch.add(u[t], u_in, alpha=beta, out=u_hat[t + 1])
        torch.gt(u_out, threshold, out=fired[t])
        u_out.masked_fill_(fired[t], reset_potential)


def _adjoint(carry: Tensor, source: Tensor, grad: Tensor) -> None:
    """``grad[t] = source[t] + carry[t] grad[t + 1]`` from the second last step back to the first."""
    for t in range(grad.shape[0] - 2, -1, -1):
        torch.addcmul(source[t], carry[t], grad[t + 1], out=grad[t])


@functools.cache
def _compiled(loop: Callable[..., None]) -> Callable[..., None]:
    """
    :param loop: a per-step loop of the fused scans (a few small elementwise operations per step)
    :return: the loop compiled by TorchScript, which dispatches these operations several times faster than Python;
        the loop itself where TorchScript cannot compile it (it is deprecated in recent PyTorch)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(loop)
    except Exception:  # any failure of TorchScript leaves the Python loop
        return loop


_DECAY_MATRICES: dict[tuple[float, int, torch.dtype, torch.device], Tensor] = {}


def _decay_matrix(decay: float, steps: int, dtype: torch.dtype, device: torch.device, sign: float = 1.0) -> Tensor:
    """
    Lower-triangular ``L[t, s] = sign d^(t - s)`` (``s <= t``), so that ``c = L x`` solves ``c_t = d c_{t-1} + x_t``
    (``c_{-1} = 0``; times ``sign``) for all T steps in one matmul. Cached; never an inference tensor, so autograd can
    save it.
    """
    key = (decay, steps, dtype, device, sign)
    if key not in _DECAY_MATRICES:
        with torch.inference_mode(False):
            lags = torch.arange(steps, dtype=torch.float64)
            lags = lags[:, None] - lags[None, :]
            matrix = torch.where(lags >= 0, decay ** lags.clamp(min=0.0), 0.0)
            _DECAY_MATRICES[key] = (sign * matrix).to(dtype=dtype, device=device)
    return _DECAY_MATRICES[key]


def _decayed_sum(drive: Tensor, decay: float, sign: float = 1.0) -> Tensor:
    """``c_t = d c_{t-1} + drive_t`` (times ``sign``) for all steps of ``drive`` (T, ..., N), in one matmul."""
    matrix = _decay_matrix(decay, drive.shape[0], drive.dtype, drive.device, sign)
    return torch.mm(matrix, drive.reshape(drive.shape[0], -1)).view(drive.shape)


_SILENT_BOUNDS: dict[tuple[float, torch.dtype], float] = {}


def _silent_bound(threshold: float, dtype: torch.dtype) -> float:
    """The largest ``dtype`` number below ``-v_th``: ``-v > bound`` exactly where ``v <= v_th`` (``v_th`` rounded to
    ``dtype``, as a comparison rounds it), i.e. where the neuron stays silent."""
    key = (threshold, dtype)
    if key not in _SILENT_BOUNDS:
        bound = torch.tensor(-threshold, dtype=dtype)
        _SILENT_BOUNDS[key] = float(torch.nextafter(bound, torch.tensor(-math.inf, dtype=dtype)))
    return _SILENT_BOUNDS[key]


def _lif_scan(drive: Tensor, current_decay: float, voltage_decay: float, threshold: float) -> Tensor:
    """
    Forward of the current-based LIF over all T steps, without autograd, in two operations per step: with the negated
    potential ``-v``, ``torch.threshold`` keeps ``-v_(t-1)`` where the neuron stayed silent and gives 0 where it fired.

    :param drive: synaptic input ``W x_t + b`` (T, ..., N)
    :return: the negated membrane potentials before the reset, ``-v_t`` (T, ..., N); spikes: :func:`_lif_spikes`
    """
    negated = _decayed_sum(drive, current_decay, sign=-1.0)  # Eq. 11, -c_t, overwritten in place by -v_t
    _compiled(_lif_loop)(negated, _silent_bound(threshold, drive.dtype), voltage_decay)
    return negated


def _lif_loop(negated: Tensor, bound: float, voltage_decay: float) -> None:
    """
    The per-step part of :func:`_lif_scan`, in place: ``-c_t`` becomes ``-v_t``.

    :param negated: ``-c_t`` (T, ..., N)
    :param bound: :func:`_silent_bound` of the threshold
    :param voltage_decay: ``d_v``
    """
    for t in range(1, negated.shape[0]):
        # Eq. 12: -v_t = -c_t + d_v (-v_(t-1)) (1 - o_(t-1))
        negated[t].add_(torch.threshold(negated[t - 1], bound, 0.0), alpha=voltage_decay)


def _lif_spikes(negated: Tensor, threshold: float) -> Tensor:
    """``o_t = H(v_t - v_th)`` (Eq. 13) from :func:`_lif_scan`'s ``-v_t``."""
    return torch.lt(negated, -threshold, out=torch.empty_like(negated))


class _LIFScanFunction(torch.autograd.Function):
    """Current-based LIF scan with a hand-written backward through time (the reset term is not detached)."""

    @staticmethod
    def forward(
        ctx: Any, drive: Tensor, surrogate: Surrogate, current_decay: float, voltage_decay: float, threshold: float
    ) -> Tensor:
        negated = _lif_scan(drive, current_decay, voltage_decay, threshold)
        spikes = _lif_spikes(negated, threshold)
        ctx.save_for_backward(negated, spikes)
        ctx.constants = surrogate, current_decay, voltage_decay, threshold
        return spikes

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        negated, spikes = ctx.saved_tensors
        surrogate, current_decay, voltage_decay, threshold = ctx.constants
        surrogate_grad = surrogate.grad(negated.add(threshold).neg_())  # g(v_t - v_th)
        # v_{t+1} = d_v v_t (1 - o_t) + c_{t+1}, so dv_{t+1}/dv_t = d_v ((1 - o_t) - g(v_t - v_th) v_t)
        carry = torch.addcmul(torch.rsub(spikes[:-1], 1.0), surrogate_grad[:-1], negated[:-1]).mul_(voltage_decay)
        grad_volts = surrogate_grad.mul_(grad_spikes)
        grad_steps, carry_steps = grad_volts.unbind(0), carry.unbind(0)
        for t in range(negated.shape[0] - 2, -1, -1):
            grad_steps[t].addcmul_(carry_steps[t], grad_steps[t + 1])
        # c = L drive (Eq. 11), so dloss/ddrive = L^T dloss/dc, and dloss/dc_t = dloss/dv_t
        matrix = _decay_matrix(current_decay, negated.shape[0], negated.dtype, negated.device)
        grad_drive = torch.mm(matrix.t(), grad_volts.view(negated.shape[0], -1)).view(negated.shape)
        return grad_drive, None, None, None, None


def _spike_function(surrogate: Surrogate, threshold: float, drive: Tensor) -> Callable[[Tensor], Tensor]:
    """
    How a multi-step neuron fires on ``drive``: ``H(v - v_th)`` through the surrogate's autograd Function in eager
    mode, through its plain differentiable form under ``torch.compile`` (which fuses it with the neuron update), and as
    the bare comparison ``v > v_th`` (the same spikes) when no gradient is needed.

    :param surrogate: the neuron's surrogate
    :param threshold: the neuron's threshold ``v_th``
    :param drive: the neuron's input
    :return: ``v -> H(v - v_th)`` with the surrogate gradient where needed
    """
    if not (torch.is_grad_enabled() and drive.requires_grad):
        return lambda volt: torch.gt(volt, threshold, out=torch.empty_like(volt))
    if torch.compiler.is_compiling():
        return lambda volt: surrogate.straight_through(volt - threshold)
    return lambda volt: surrogate(volt - threshold)


def _lif_steps(drive: Tensor, spike: Callable[[Tensor], Tensor], current_decay: float, voltage_decay: float) -> Tensor:
    """
    The current-based LIF over all T steps in plain operations, one step after the other: what ``torch.compile``
    fuses into a few kernels, forward and backward (with the spike of :func:`_spike_function`, the gradient is that of
    :class:`_LIFScanFunction`, reset term included).

    :param drive: synaptic input ``W x_t + b`` (T, ..., N)
    :param spike: ``v -> o`` (:func:`_spike_function`)
    :param current_decay: ``d_c``
    :param voltage_decay: ``d_v``
    :return: spikes (T, ..., N)
    """
    spikes: list[Tensor] = []
    for t, step_drive in enumerate(drive.unbind(0)):
        if t == 0:
            current = volt = step_drive
        else:
            current = current_decay * current + step_drive  # Eq. 11
            volt = voltage_decay * volt * (1.0 - spikes[-1]) + current  # Eq. 12
        spikes.append(spike(volt))  # Eq. 13
    return torch.stack(spikes)


class CurrentLIF(nn.Module):
    """
    Current-based LIF neuron of Pop-SAN (seed 000, Eq. 11-13), multi-step: runs all T steps of one
    stateless simulation at once, state starting at zero for every input (one observation = one
    T-step simulation)::

        c_t = d_c c_{t-1} + W o^{k-1}_t + b
        v_t = d_v v_{t-1} (1 - o_{t-1}) + c_t
        o_t = H(v_t - v_th)

    The backward pass is written by hand (BPTT through current, voltage and the reset term) and uses the
    surrogate derivative ``surrogate.grad``; without gradients the same scan runs without autograd. Under
    ``torch.compile`` the steps are plain differentiable operations instead (:func:`_lif_steps`), which inductor fuses.

    :param surrogate: surrogate spike function (Pop-SAN: rectangular, a = 0.5)
    :param current_decay: ``d_c``
    :param voltage_decay: ``d_v``
    :param threshold: ``v_th``
    """

    def __init__(
        self,
        surrogate: SurrogateLike = "rectangular",
        current_decay: float = 0.5,
        voltage_decay: float = 0.75,
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        for name, value in (("current_decay", current_decay), ("voltage_decay", voltage_decay)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not threshold > 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        self.spike = make(surrogate)
        self.current_decay = float(current_decay)
        self.voltage_decay = float(voltage_decay)
        self.threshold = float(threshold)

    def forward(self, drive: Tensor) -> Tensor:
        """
        :param drive: synaptic input ``W x_t + b`` for all steps (T, ..., N)
        :return: spikes (T, ..., N)
        """
        if torch.compiler.is_compiling():
            spike = _spike_function(self.spike, self.threshold, drive)
            return _lif_steps(drive, spike, self.current_decay, self.voltage_decay)
        constants = self.current_decay, self.voltage_decay, self.threshold
        if torch.is_grad_enabled() and drive.requires_grad:
            return _LIFScanFunction.apply(drive, self.spike, *constants)
        return _lif_spikes(_lif_scan(drive, *constants), self.threshold)

    def extra_repr(self) -> str:
        return (
            f"surrogate={self.spike!r}, current_decay={self.current_decay}, voltage_decay={self.voltage_decay}, "
            f"threshold={self.threshold}"
        )


class DynamicNeuron(nn.Module):
    """
    Second-order dynamic neuron of MDC-SAN (Izhikevich-like), multi-step, state reset per input. One
    Euler step per timestep, both increments taken from the values before the step::

        v <- v (1 - o_{t-1}) + theta_r o_{t-1},   u <- u + theta_s o_{t-1}     (reset after a spike)
        c_t = d_c c_{t-1} + W x_t + b
        v_t = v + (v^2 - v - u + c_t),   u_t = u + sign * (theta_v v - theta_u u)
        o_t = H(v_t - v_th)

    The MDC-SAN paper's own equation could not be retrieved; the defaults are those of the public
    re-implementations, and the four constants and the sign of the ``u`` increment are configurable.
    Runs under autograd (the reset terms are not detached), about eight operations per step.

    :param surrogate: surrogate spike function
    :param current_decay: ``d_c``
    :param threshold: ``v_th``
    :param theta_v: coupling of ``u`` to ``v``
    :param theta_u: decay rate of ``u``
    :param theta_r: reset value of ``v`` after a spike
    :param theta_s: jump of ``u`` after a spike
    :param u_sign: ``+1`` or ``-1``, sign of the ``u`` increment
    """

    def __init__(
        self,
        surrogate: SurrogateLike = "rectangular",
        current_decay: float = 0.5,
        threshold: float = 0.5,
        theta_v: float = -0.172,
        theta_u: float = 0.529,
        theta_r: float = 0.021,
        theta_s: float = 0.132,
        u_sign: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= current_decay <= 1.0:
            raise ValueError(f"current_decay must be in [0, 1], got {current_decay}")
        if not threshold > 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        if u_sign not in (1.0, -1.0):
            raise ValueError(f"u_sign must be 1 or -1, got {u_sign}")
        self.spike = make(surrogate)
        self.current_decay = float(current_decay)
        self.threshold = float(threshold)
        self.theta_v, self.theta_u = float(theta_v), float(theta_u)
        self.theta_r, self.theta_s = float(theta_r), float(theta_s)
        self.u_sign = float(u_sign)

    def forward(self, drive: Tensor) -> Tensor:
        """
        :param drive: synaptic input ``W x_t + b`` for all steps (T, ..., N)
        :return: spikes (T, ..., N)
        """
        currents = _decayed_sum(drive, self.current_decay)
        fire = _spike_function(self.spike, self.threshold, drive)
        reset = currents.new_full((), self.theta_r)
        keep, couple = 1.0 - self.u_sign * self.theta_u, self.u_sign * self.theta_v
        spikes: list[Tensor] = []
        for t, current in enumerate(currents.unbind(0)):
            if t == 0:  # from v = u = o = 0: v_0 = c_0, u_0 = 0
                volt, recovery = current, None
            else:
                volt = torch.lerp(volt, reset, spikes[-1])  # v (1 - o) + theta_r o, exact for o in {0, 1}
                jumped = torch.add(recovery, spikes[-1], alpha=self.theta_s) if t > 1 else self.theta_s * spikes[-1]
                # v + (v^2 - v - u + c) = v^2 - u + c;  u + sign (theta_v v - theta_u u) = keep u + couple v
                recovery = torch.add(keep * jumped, volt, alpha=couple)
                volt = torch.addcmul(current - jumped, volt, volt)
            spikes.append(fire(volt))
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return (
            f"surrogate={self.spike!r}, current_decay={self.current_decay}, threshold={self.threshold}, "
            f"theta_v={self.theta_v}, theta_u={self.theta_u}, theta_r={self.theta_r}, theta_s={self.theta_s}, "
            f"u_sign={self.u_sign}"
        )
