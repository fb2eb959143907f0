"""Population coding of Pop-SAN / MDC-SAN (seed 000, section II.B): observations to spike trains and
output-population spike counts to actions.

- :class:`PopulationEncoder`: Gaussian receptive fields (Eq. 6-7) turned into T spike frames by a
  deterministic integrate-and-fire neuron (Eq. 8-10), Bernoulli sampling, or passed on as real values;
- :class:`PopulationDecoder`: firing rates of each action's own population (Eq. 14-15) read out by one
  independent linear unit per action dimension (Eq. 16).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

ENCODER_THRESHOLD = 1.0 - 1e-3
MAX_SPIKE_TS = 999
"""Longest simulation of the deterministic encoder: ``theta / (1 - theta)`` steps, the most in which its neuron, fed
at most 1 per step, fires at most once per step (what makes its spikes a closed form, see :func:`_regular_spikes`)."""

_STEPS: dict[tuple[int, int, torch.dtype, torch.device], Tensor] = {}


def _steps(spike_ts: int, like: Tensor) -> Tensor:
    """``t = 0 .. T`` shaped (T + 1, 1, ...) to broadcast against ``like``; cached, never an inference tensor."""
    if torch.compiler.is_compiling():  # a constant of the graph
        return torch.arange(spike_ts + 1, dtype=like.dtype, device=like.device).view(-1, *[1] * like.dim())
    key = (spike_ts, like.dim(), like.dtype, like.device)
    if key not in _STEPS:
        with torch.inference_mode(False):
            _STEPS[key] = torch.arange(spike_ts + 1, dtype=like.dtype, device=like.device).view(-1, *[1] * like.dim())
    return _STEPS[key]


def _regular_spikes(stimulus: Tensor, spike_ts: int) -> Tensor:
    """
    Deterministic encoder spikes (Eq. 8-10) from the stimulus ``A`` for T steps, in closed form, without autograd.

    With the constant input ``A`` in [0, 1] and the subtractive reset, the voltage tested at step ``t`` is
    ``t A - theta n_(t-1)`` (Eq. 8, 10), ``n_t`` the spikes so far. While at most one spike fits in a step
    (``t <= MAX_SPIKE_TS``), induction on Eq. 9 gives ``n_t = #{k >= 1 : k theta < t A}``, i.e.
    ``n_t = max(ceil(t A / theta), 1) - 1``, and ``o_t = n_t - n_(t-1)``: five operations in all instead of three per
    step. ``(t A) / theta`` rounds like the per-step loop: no spike differs from it on 2e7 random stimuli or near
    every boundary ``t A = k theta`` in float32; in float64 only exactly on such a boundary, where the loop's
    rounding fires and this does not.
    """
    return _counted_spikes(stimulus, _steps(spike_ts, stimulus))


def _counted_spikes(stimulus: Tensor, steps: Tensor, threshold: float = ENCODER_THRESHOLD) -> Tensor:
    """:func:`_regular_spikes` given the steps ``t = 0 .. T`` (:func:`_steps`); TorchScript-able."""
    counts = torch.mul(stimulus, steps).div_(threshold).ceil_().clamp_(min=1.0)
    return torch.diff(counts, dim=0)  # counts: n_t + 1 for t = 0 .. T


def gaussian_stimulus(obs: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """
    Gaussian receptive fields (Eq. 7): ``A = exp(-(o - mu)^2 / (2 sigma^2))``.

    :param obs: observations (batch, obs_dim)
    :param mean: ``mu`` (obs_dim, pop_dim)
    :param std: ``sigma`` (obs_dim, pop_dim)
    :return: ``A`` (batch, obs_dim * pop_dim), neuron ``j`` of dimension ``i`` at ``i * pop_dim + j``
    """
    return torch.exp(-0.5 * (obs.unsqueeze(-1) - mean).pow(2) / std.pow(2)).flatten(-2)


def population_readout(spikes: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """
    Firing rates of each action's population (Eq. 14-15) read out by its own linear unit (Eq. 16).

    :param spikes: output population spikes (T, batch, act_dim * pop_dim)
    :param weight: (act_dim, pop_dim)
    :param bias: (act_dim,)
    :return: pre-squashing actions (batch, act_dim)
    """
    rate = spikes.mean(0).unflatten(-1, (weight.shape[0], weight.shape[1]))  # Eq. 14-15
    return (rate * weight).sum(-1) + bias  # Eq. 16


def _encoder_gains(spike_ts: int, like: Tensor) -> Tensor:
    """``g_t = do_t/dA`` of the deterministic encoder (see :class:`_RegularSpikes`), as a tensor like ``like``."""
    gains = [1.0]
    for _ in range(spike_ts - 1):
        gains.append(1.0 + (1.0 - ENCODER_THRESHOLD) * gains[-1])
    return torch.tensor(gains, dtype=like.dtype, device=like.device)


def _straight_through_spikes(stimulus: Tensor, spike_ts: int) -> Tensor:
    """
    The spikes of :class:`_RegularSpikes`, same values and gradient, from plain differentiable operations (for
    ``torch.compile``): ``o_t + g_t (A - sg(A))``, ``sg`` stopping the gradient.
    """
    value = stimulus.detach()
    gains = _encoder_gains(spike_ts, stimulus).view(-1, *[1] * stimulus.dim())
    return _regular_spikes(value, spike_ts) + gains * (stimulus - value)


class _RegularSpikes(torch.autograd.Function):
    """
    Deterministic encoder spikes with a straight-through spike gradient (``do/dv = 1``) and the reset term
    not detached, so ``dv_t/dA = 1 + eps * dv_{t-1}/dA``: ``do_t/dA`` is a constant ``g_t`` per step
    (Eq. 22-23 via ``A``).
    """

    @staticmethod
    def forward(ctx: Any, stimulus: Tensor, spike_ts: int) -> Tensor:
        return _regular_spikes(stimulus, spike_ts)

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor) -> tuple[Tensor, None]:
        return torch.tensordot(_encoder_gains(grad_spikes.shape[0], grad_spikes), grad_spikes, dims=1), None


class _RegularSpikesLinear(torch.autograd.Function):
    """
    Deterministic encoder spikes fed into the first layer, ``W o_t + b`` for all T steps. As ``do_t/dA = g_t``
    is a constant per step, the stimulus gradient ``sum_t g_t W^T dL/d(drive_t)`` is summed over T before the
    matmul with ``W``: one (batch, out) x (out, in) matmul instead of T.
    """

    @staticmethod
    def forward(ctx: Any, stimulus: Tensor, weight: Tensor, bias: Tensor, spike_ts: int) -> Tensor:
        frames = _regular_spikes(stimulus, spike_ts).flatten(0, 1)
        ctx.save_for_backward(frames, weight)
        return torch.addmm(bias, frames, weight.t()).view(spike_ts, *stimulus.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad_drive: Tensor) -> tuple[Tensor | None, ...]:
        frames, weight = ctx.saved_tensors
        grad_stimulus = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_stimulus = (
                torch.tensordot(_encoder_gains(grad_drive.shape[0], grad_drive), grad_drive, dims=1) @ weight
            )
        flat = grad_drive.reshape(-1, grad_drive.shape[-1])
        if ctx.needs_input_grad[1]:
            grad_weight = flat.t().mm(frames)
        if ctx.needs_input_grad[2]:
            grad_bias = flat.sum(0)
        return grad_stimulus, grad_weight, grad_bias, None


class PopulationEncoder(nn.Module):
    """
    Gaussian population encoder (seed 000, Eq. 6-10). Each observation dimension ``i`` has ``pop_dim``
    neurons with trainable receptive fields ``(mu_ij, sigma_ij)``; the stimulus is
    ``A_ij = exp(-0.5 ((s_i - mu_ij) / sigma_ij)^2)`` (Eq. 7), turned into T input frames by ``mode``:

    - ``"deterministic"``: integrate-and-fire with threshold ``1 - 1e-3`` and subtractive reset (Eq. 8-10);
    - ``"bernoulli"`` (Pop-SAN's "probabilistic"): ``o_t ~ Bernoulli(A)`` independently per step while the
      module is in training mode; in eval mode (``predict``, target networks) the deterministic spikes,
      as Pop-SAN evaluated its Bernoulli-trained actors;
    - ``"real"`` (MDC-SAN's "none"): the stimulus ``A`` itself at every step, no spikes.

    Spike gradients are straight-through, so ``mu`` and ``sigma`` learn (Eq. 22-23).

    :param obs_dim: number of observation dimensions
    :param pop_dim: neurons per observation dimension
    :param spike_ts: number of timesteps T
    :param mode: ``"deterministic"``, ``"bernoulli"`` or ``"real"`` (aliases ``"probabilistic"``, ``"none"``)
    :param mean_range: receptive field centres are initialised evenly on this interval
    :param std: initial receptive field width ``sigma``
    """

    modes: ClassVar[tuple[str, ...]] = ("deterministic", "bernoulli", "real")
    aliases: ClassVar[dict[str, str]] = {"probabilistic": "bernoulli", "none": "real"}

    def __init__(
        self,
        obs_dim: int,
        pop_dim: int,
        spike_ts: int,
        mode: str = "deterministic",
        mean_range: tuple[float, float] = (-3.0, 3.0),
        std: float = 0.15**0.5,
    ) -> None:
        super().__init__()
        self.mode = self.resolve_mode(mode)
        if obs_dim < 1 or pop_dim < 2 or spike_ts < 1:
            raise ValueError(f"need obs_dim >= 1, pop_dim >= 2 and spike_ts >= 1, got {obs_dim}, {pop_dim}, {spike_ts}")
        self.check_spike_ts(spike_ts, self.mode)
        low, high = (float(m) for m in mean_range)
        if not low < high:
            raise ValueError(f"mean_range must be increasing (low, high), got {mean_range}")
        if not std > 0:
            raise ValueError(f"encoder std must be positive, got {std}")
        self.obs_dim, self.pop_dim, self.spike_ts = obs_dim, pop_dim, spike_ts
        self.mean = nn.Parameter(torch.linspace(low, high, pop_dim).repeat(obs_dim, 1))
        self.std = nn.Parameter(torch.full((obs_dim, pop_dim), float(std)))

    @classmethod
    def resolve_mode(cls, mode: str) -> str:
        """Canonical mode name; raises ``ValueError`` for unknown names."""
        mode = cls.aliases.get(mode, mode)
        if mode not in cls.modes:
            raise ValueError(f"unknown encoder {mode!r}; allowed: {list(cls.modes)} (aliases {cls.aliases})")
        return mode

    @staticmethod
    def check_spike_ts(spike_ts: int, mode: str) -> None:
        """Refuse more than ``MAX_SPIKE_TS`` steps for the spiking modes (their deterministic spikes are a closed form
        only while the encoder neuron fires at most once per step)."""
        if mode != "real" and spike_ts > MAX_SPIKE_TS:
            raise ValueError(
                f"spike_ts must be at most {MAX_SPIKE_TS} with the {mode!r} encoder (its deterministic spikes "
                f"fire at most once per step), got {spike_ts}"
            )

    @property
    def num_neurons(self) -> int:
        """``N_enc = N_o * N_p`` (Eq. 6)."""
        return self.obs_dim * self.pop_dim

    def stimulus(self, obs: Tensor) -> Tensor:
        """
        :param obs: observations (batch, obs_dim)
        :return: ``A`` (batch, obs_dim * pop_dim), neuron ``j`` of dimension ``i`` at ``i * pop_dim + j``
        """
        return gaussian_stimulus(obs, self.mean, self.std)  # Eq. 7

    def forward(self, obs: Tensor) -> Tensor:
        """
        :param obs: observations (batch, obs_dim)
        :return: input frames (T, batch, obs_dim * pop_dim)
        """
        stimulus = self.stimulus(obs)
        if self.mode == "real":
            return stimulus.expand(self.spike_ts, *stimulus.shape)
        if self.mode == "bernoulli" and self.training:
            noise = torch.rand((self.spike_ts, *stimulus.shape), device=obs.device, dtype=obs.dtype)
            spikes = (noise < stimulus).to(stimulus.dtype)
            return spikes + stimulus - stimulus.detach()  # straight-through
        if not (torch.is_grad_enabled() and stimulus.requires_grad):
            return _regular_spikes(stimulus, self.spike_ts)
        if torch.compiler.is_compiling():
            return _straight_through_spikes(stimulus, self.spike_ts)
        return _RegularSpikes.apply(stimulus, self.spike_ts)

    def linear_drive(self, obs: Tensor, layer: nn.Linear) -> Tensor:
        """
        The first layer's synaptic input ``W o_t + b`` for all T steps, same values as ``layer(self(obs))``,
        with fewer operations: one matmul for the constant frames of ``"real"``, and the deterministic encoder's
        stimulus gradient summed over T before its matmul (:class:`_RegularSpikesLinear`).

        :param obs: observations (batch, obs_dim)
        :param layer: the first layer, ``in_features = obs_dim * pop_dim``
        :return: (T, batch, layer.out_features)
        """
        if self.mode == "real":
            drive = layer(self.stimulus(obs))
            return drive.expand(self.spike_ts, *drive.shape)
        if self.mode == "deterministic" and torch.is_grad_enabled() and not torch.compiler.is_compiling():
            return _RegularSpikesLinear.apply(self.stimulus(obs), layer.weight, layer.bias, self.spike_ts)
        frames = self(obs)
        return layer(frames.flatten(0, 1)).view(self.spike_ts, obs.shape[0], layer.out_features)

    def extra_repr(self) -> str:
        return f"obs_dim={self.obs_dim}, pop_dim={self.pop_dim}, spike_ts={self.spike_ts}, mode={self.mode!r}"


class PopulationDecoder(nn.Module):
    """
    Population decoder (seed 000, Eq. 14-16): the firing rate ``f = (1/T) sum_t o_t`` of each output
    neuron, then ``a_i = W_a^(i) . f^(i) + b_a^(i)`` over action ``i``'s own ``pop_dim`` neurons (one
    independent linear readout per action dimension, Pop-SAN's grouped 1-d convolution).

    :param act_dim: number of action dimensions
    :param pop_dim: output neurons per action dimension
    """

    def __init__(self, act_dim: int, pop_dim: int) -> None:
        super().__init__()
        if act_dim < 1 or pop_dim < 1:
            raise ValueError(f"need act_dim >= 1 and pop_dim >= 1, got {act_dim}, {pop_dim}")
        self.act_dim, self.pop_dim = act_dim, pop_dim
        bound = pop_dim**-0.5
        self.weight = nn.Parameter(torch.empty(act_dim, pop_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(act_dim).uniform_(-bound, bound))

    def forward(self, spikes: Tensor) -> Tensor:
        """
        :param spikes: output population spikes (T, batch, act_dim * pop_dim)
        :return: pre-squashing actions (batch, act_dim)
        """
        return population_readout(spikes, self.weight, self.bias)  # Eq. 14-16

    def extra_repr(self) -> str:
        return f"act_dim={self.act_dim}, pop_dim={self.pop_dim}"
