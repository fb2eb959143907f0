"""Continuous-valued temporal coding (CVTC, seed 001): time-to-first-spike layers in the z-domain.

Every spike time ``t`` is carried as ``z = exp(t)``. A neuron is a non-leaky integrate-and-fire neuron with
exponentially decaying synaptic current and threshold 1 (Mostafa 2017, seed 001 Eq. 1-4), plus the CVTC
self-incremental term ``beta * exp(t)`` (seed 001 Eq. 7) that makes every neuron fire in finite time:

    V(t) = sum_{i in C} w_i (1 - exp(-(t - t_i))) + beta * exp(t)

Setting ``V = 1`` and multiplying by ``z`` gives ``beta z^2 + (W - 1) z - S = 0`` with ``W = sum_C w_i``,
``S = sum_C w_i z_i``, whose upper root is the output spike (seed 001 Eq. 9; ``beta = 0`` is Eq. 4).

The output is the first threshold crossing of ``V(t)`` exactly, for any input times. The authors' code
also discards crossings before ``t = 0``; the two agree whenever all inputs arrive at ``t >= 0`` (``z >= 1``),
which :class:`GaussianPopulationEncoder` guarantees with its default cap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

NO_SPIKE_Z = 1.0e6
"""z used for a neuron that never fires (only possible with ``beta = 0``): ``t = ln(1e6) = 13.8``, as in the
authors' code. It is a constant, so no gradient flows through it."""


class CVTCLayer(nn.Module):
    """
    Fully connected layer of CVTC neurons mapping input spike times to output spike times (z-domain).

    The causal set (seed 001 Algorithm 2) is found for all samples and neurons at once: ``V`` is evaluated
    at every input arrival (one matrix product, or prefix sums over the inputs in arrival order when the
    layer has few outputs), and the first arrival with ``V > 1`` closes the causal set. Only the root of
    Eq. 9 on that set enters autograd, so gradients are exact and unselected candidates cannot give NaN.

    :param in_features: number of input neurons
    :param out_features: number of output neurons
    :param beta: rate of the self-incremental term ``beta * exp(t)``; ``0`` gives Mostafa's neuron, whose
        non-firing neurons return :data:`NO_SPIKE_Z`
    """

    def __init__(self, in_features: int, out_features: int, beta: float = 1e-3) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.in_features = in_features
        self.out_features = out_features
        self.beta = float(beta)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.xavier_uniform_(self.weight)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, beta={self.beta}"

    def forward(self, z: Tensor) -> Tensor:
        """
        Output spike times.

        :param z: input spike times in the z-domain (batch, in_features), positive
        :return: output spike times in the z-domain (batch, out_features)
        """
        beta = self.beta
        batch, n_in = z.shape
        with torch.no_grad():
            # causal set search (seed 001 Algorithm 2): between input events V(t) is monotone or convex, so
            # V crosses 1 before the k-th earliest input z_(k) iff V(z_(k)) > 1, i.e. (seed 001 Eq. 7, times z)
            # drive_k = sum_i w_i relu(z_(k) - z_i) > z_(k) - beta z_(k)^2, for all k, neurons and samples at once
            z_sorted, order = torch.sort(z, dim=1)
            arrival = z_sorted.unsqueeze(2)
            if 8 * self.out_features >= n_in:
                lag = (arrival - z.unsqueeze(1)).clamp_(min=0.0)
                drive = (lag.view(batch * n_in, n_in) @ self.weight.t()).view(batch, n_in, self.out_features)
            else:  # few outputs: drive_k = z_(k) W_k - S_k from sums over the earlier inputs in arrival order
                w_sorted = self.weight.t()[order]  # (batch, in, out)
                earlier = torch.ones(n_in, n_in, device=z.device, dtype=z.dtype).tril_(diagonal=-1)
                sums = earlier @ torch.cat((w_sorted, w_sorted * arrival), dim=2)
                drive = sums[..., : self.out_features] * arrival - sums[..., self.out_features :]
            # 1 where V(z_(k)) > 1, else 0 (float arithmetic: faster than boolean tensors on CPU)
            crossed = (drive - (arrival - beta * arrival * arrival)).clamp_(min=0.0).sign_()
            # index of the first crossing from the largest of crossed * (n_in, ..., 1); n_in: none before the last input
            countdown = torch.arange(n_in, 0, -1, device=z.device, dtype=z.dtype).view(1, n_in, 1)
            first = n_in - crossed.mul_(countdown).amax(dim=1).long()
            horizon = torch.cat((z_sorted, torch.full_like(z_sorted[:, :1], math.inf)), dim=1).gather(1, first)
            causal = (horizon.unsqueeze(2) - z.unsqueeze(1)).clamp_(min=0.0).sign_()  # 1 if z_i < horizon
        causal_w = causal * self.weight
        big_w = causal_w.sum(dim=2)
        big_s = (causal_w @ z.unsqueeze(2)).squeeze(2)
        a = big_w - 1.0
        disc = a * a + 4.0 * beta * big_s  # > 0 at a crossing (seed 001 Eq. 10)
        positive = disc > 0
        root = torch.where(positive, torch.sqrt(torch.where(positive, disc, torch.ones_like(disc))), 0.0)
        # upper root of beta z^2 + (W - 1) z - S = 0 (seed 001 Eq. 9) without cancellation: 2S / ((W - 1) + sqrt)
        # for W > 1 (beta = 0: S / (W - 1), Eq. 4), else (sqrt - (W - 1)) / 2 beta; the other branch is masked
        rising = a > 0
        z_out = 2.0 * big_s / torch.where(rising, a + root, torch.ones_like(a))
        if beta > 0:
            return torch.where(rising, z_out, (root - a) / (2.0 * beta))
        # beta = 0: after the last input V tends to W, so a neuron not crossed by then fires iff W > 1
        return torch.where(rising, z_out, torch.full_like(z_out, NO_SPIKE_Z))


class GaussianPopulationEncoder(nn.Module):
    """
    Gaussian population coding of observations into input spike times (seed 001 Section 4.1, Eq. 14).

    Component ``s_i`` is spread over ``K`` input neurons with centres ``c_k = k - (K - 1) / 2``:
    ``z_ik = z_max - min(height * NormalPDF(c_k; gain_i * s_i, sigma), cap)``.

    :param gains: one gain per observation component
    :param n_neurons: K, input neurons per component
    :param sigma: standard deviation of the Gaussian receptive field
    :param z_max: spike time (z-domain) of a neuron far from the value
    :param height: scale of the Gaussian
    :param cap: upper limit of ``height * NormalPDF``; ``None`` for none. The default ``z_max - 1`` keeps every
        input at ``z >= 1`` (``t >= 0``), where :class:`CVTCLayer` agrees with the authors' code
    """

    def __init__(
        self,
        gains: Sequence[float],
        n_neurons: int = 20,
        sigma: float = 1.4,
        z_max: float = 6.0,
        height: float = 20.0,
        cap: float | None = 5.0,
    ) -> None:
        super().__init__()
        if len(gains) == 0:
            raise ValueError("gains must have one entry per observation component, got none")
        if n_neurons < 2:
            raise ValueError(f"n_neurons must be >= 2, got {n_neurons}")
        if not (sigma > 0 and height > 0):
            raise ValueError(f"sigma and height must be positive, got {sigma}, {height}")
        if cap is not None and not 0 < cap:
            raise ValueError(f"cap must be positive or None, got {cap}")
        self.n_neurons = n_neurons
        self.sigma = float(sigma)
        self.z_max = float(z_max)
        self.height = float(height)
        self.cap = None if cap is None else float(cap)
        self.register_buffer("gains", torch.tensor([float(g) for g in gains]))
        self.register_buffer("centres", torch.arange(n_neurons, dtype=torch.float32) - (n_neurons - 1) / 2)

    @property
    def out_features(self) -> int:
        """Number of input spikes produced per observation."""
        return self.gains.numel() * self.n_neurons

    @property
    def min_z(self) -> float:
        """Earliest spike time (z-domain) the encoder can produce."""
        return self.earliest_z(self.z_max, self.height, self.sigma, self.cap)

    @staticmethod
    def earliest_z(z_max: float, height: float, sigma: float, cap: float | None) -> float:
        """
        Earliest spike time (z-domain) of an encoder with these settings, ``z_max - min(peak, cap)`` (Eq. 14).

        :param z_max: spike time far from the value
        :param height: scale of the Gaussian
        :param sigma: standard deviation of the Gaussian
        :param cap: upper limit of ``height * NormalPDF`` or ``None``
        :return: the earliest ``z``
        """
        peak = height / (sigma * math.sqrt(2 * math.pi))
        return z_max - (peak if cap is None else min(peak, cap))

    @staticmethod
    def gains_from_bounds(low: Sequence[float], high: Sequence[float], n_neurons: int = 20) -> list[float]:
        """
        Default gains: map ``max(|low|, |high|)`` of each component to 90 % of the outermost centre.

        Components with an infinite bound get gain 1.

        :param low: lower bounds of the observation components
        :param high: upper bounds of the observation components
        :param n_neurons: K, input neurons per component
        :return: one gain per component
        """
        gains = []
        for lo, hi in zip(low, high, strict=True):
            bound = max(abs(float(lo)), abs(float(hi)))
            gains.append(0.9 * (n_neurons - 1) / 2 / bound if math.isfinite(bound) and bound > 0 else 1.0)
        return gains

    def forward(self, obs: Tensor) -> Tensor:
        """
        Encode observations.

        :param obs: observations (batch, n_components)
        :return: input spike times in the z-domain (batch, n_components * K), component-major
        """
        mean = (obs * self.gains).unsqueeze(-1)
        pdf = torch.exp(-0.5 * ((self.centres - mean) / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))
        bump = self.height * pdf
        if self.cap is not None:
            bump = bump.clamp(max=self.cap)
        return (self.z_max - bump).flatten(start_dim=1)  # seed 001 Eq. 14

    def decode(self, z: Tensor) -> Tensor:
        """
        Recover observations from uncapped codes: ``x = sum_k c_k (z_max - z_k) / sum_k (z_max - z_k)``
        (seed 001 Eq. 17), divided by the gain.

        :param z: input spike times (batch, n_components * K)
        :return: observations (batch, n_components)
        """
        bump = self.z_max - z.reshape(z.shape[0], -1, self.n_neurons)
        return (bump * self.centres).sum(-1) / bump.sum(-1) / self.gains
