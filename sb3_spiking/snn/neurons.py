"""Spiking neuron models, each written once and reused by every policy.

Single-step cells for the temporal alignment paradigm (seed 003, one neuron update per env step):

- :class:`GRSNCell`: gated recurrent spiking neuron (seed 003, Eq. 1, 4, 12, 13, 14);
- :class:`LIFCell`: the plain LIF baseline (seed 003, Eq. 1-5), hard reset, fixed decay.

Both take ``state = (u, c)``: ``u`` the membrane potential after the reset (``u_hat``), ``c`` the current.
Both split their update into :meth:`input_current` (depends only on the layer input, so a whole sequence
can be done in one matmul) and :meth:`step` (the elementwise recurrence).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sb3_spiking.snn.surrogate import SurrogateLike, make

CellState = tuple[Tensor, Tensor]


class _SpikingCell(nn.Module):
    """Common parts of the single-step cells: threshold, surrogate, state handling."""

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


class GRSNCell(_SpikingCell):
    """
    Gated recurrent spiking neuron (seed 003, section 4.3).

    :param input_size: number of input features
    :param hidden_size: number of neurons
    :param surrogate: surrogate spike function (default arctan, alpha = 2; seed 003, Eq. 6)
    :param threshold: firing threshold theta
    :param beta_init: initial membrane decay, learnable per neuron and kept in (0, 1) by a sigmoid
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        surrogate: SurrogateLike = "arctan",
        threshold: float = 1.0,
        beta_init: float = 0.5,
    ) -> None:
        super().__init__(hidden_size, surrogate, threshold)
        if not 0.0 < beta_init < 1.0:
            raise ValueError(f"beta_init must be in (0, 1), got {beta_init}")
        self.forget_gate = nn.Linear(input_size, hidden_size)
        self.input_gate = nn.Linear(input_size, hidden_size)
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


class LIFCell(_SpikingCell):
    """
    Plain LIF neuron, the baseline of seed 003 (Eq. 1-5): fixed decay, hard reset to ``u_r``.
    The state's ``c`` is the last input current (kept for a uniform ``(u, c)`` state; not recurrent).

    :param input_size: number of input features
    :param hidden_size: number of neurons
    :param surrogate: surrogate spike function (default arctan, alpha = 2)
    :param threshold: firing threshold theta
    :param beta: fixed membrane decay in (0, 1)
    :param reset_potential: ``u_r`` of the hard reset
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        surrogate: SurrogateLike = "arctan",
        threshold: float = 1.0,
        beta: float = 0.5,
        reset_potential: float = 0.0,
    ) -> None:
        super().__init__(hidden_size, surrogate, threshold)
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        self.fc = nn.Linear(input_size, hidden_size)
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
