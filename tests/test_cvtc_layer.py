"""CVTC layer and Gaussian population encoder (seed 001) against an event-driven simulation of V(t)."""

import math

import numpy as np
import pytest
import torch

from sb3_spiking.snn.temporal import NO_SPIKE_Z, CVTCLayer, GaussianPopulationEncoder


def membrane(t: float, t_in: np.ndarray, w: np.ndarray, beta: float) -> float:
    """V(t) of seed 001 Eq. 7: inputs that arrived by t, plus the self-incremental term."""
    arrived = t_in <= t
    return float(np.sum(w[arrived] * (1.0 - np.exp(-(t - t_in[arrived])))) + beta * math.exp(t))


def first_spike_time(t_in: np.ndarray, w: np.ndarray, beta: float) -> float:
    """
    Event-driven simulation: between consecutive input events V(t) is either monotone or convex, so it
    crosses 1 from below inside an interval iff V >= 1 at the interval's end; the crossing is then found
    by bisection on t. Returns inf when the neuron never fires.
    """
    events = np.sort(t_in)
    # before the first input only beta * exp(t) < 1 acts (it reaches 1 at t = ln(1 / beta) > 0)
    starts = np.concatenate(([min(0.0, events[0]) - 1.0], events))
    for k, start in enumerate(starts):
        if k < len(events):
            end = events[k]
            if membrane(end, t_in[t_in < end], w[t_in < end], beta) < 1.0:
                continue
        else:
            end = start + 1.0
            while membrane(end, t_in, w, beta) < 1.0:
                end = start + 2 * (end - start)
                if end > 60.0:
                    return math.inf
        lo, hi = start, end
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if membrane(mid, t_in[t_in < end], w[t_in < end], beta) >= 1.0:
                hi = mid
            else:
                lo = mid
        return hi
    raise AssertionError("unreachable")


def random_case(seed: int, batch: int = 6, n_in: int = 12, n_out: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z_in = 0.3 + 5.7 * torch.rand(batch, n_in, generator=gen, dtype=torch.float64)  # some inputs before t = 0
    # mix of strongly excitatory, weak and inhibitory neurons
    scale = torch.tensor([0.05, 0.2, 0.5, 1.0, 2.0] * n_out, dtype=torch.float64)[:n_out].unsqueeze(1)
    w = (torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) + 0.3) * scale
    return z_in, w


# (12, 10): the lag-matrix branch; (40, 3): the sorted prefix-sum branch (few outputs)
@pytest.mark.parametrize("n_in, n_out", [(12, 10), (40, 3)])
@pytest.mark.parametrize("beta", [1e-3, 0.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_layer_matches_event_driven_simulation(beta: float, seed: int, n_in: int, n_out: int) -> None:
    z_in, w = random_case(seed, n_in=n_in, n_out=n_out)
    layer = CVTCLayer(z_in.shape[1], w.shape[0], beta=beta).double()
    with torch.no_grad():
        layer.weight.copy_(w)
    z_out = layer(z_in).detach().numpy()
    t_in = np.log(z_in.numpy())
    n_silent = 0
    for b in range(z_in.shape[0]):
        for j in range(w.shape[0]):
            t_ref = first_spike_time(t_in[b], w[j].numpy(), beta)
            if math.isinf(t_ref):
                n_silent += 1
                assert z_out[b, j] == NO_SPIKE_Z
            else:
                assert z_out[b, j] == pytest.approx(math.exp(t_ref), rel=1e-5)
    if beta == 0.0:
        assert 0 < n_silent < z_out.size  # both branches exercised
    else:
        assert n_silent == 0


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_every_neuron_fires_with_beta(scale: float) -> None:
    gen = torch.Generator().manual_seed(3)
    z_in = 1.0 + 20.0 * torch.rand(64, 30, generator=gen)
    layer = CVTCLayer(30, 50, beta=1e-3)
    with torch.no_grad():
        layer.weight.copy_(scale * torch.randn(50, 30, generator=gen))
        layer.weight[:5] = -scale  # purely inhibitory neurons fire too (after the last input)
    z_out = layer(z_in)
    assert torch.isfinite(z_out).all()
    assert (z_out > 1.0).all()
    # the beta term crosses threshold at V = 1 exactly
    b, j = 0, 0
    t_out = math.log(float(z_out[b, j].detach()))
    assert membrane(t_out, np.log(z_in[b].double().numpy()), layer.weight[j].double().detach().numpy(), 1e-3) == (
        pytest.approx(1.0, abs=1e-4)
    )


@pytest.mark.parametrize("n_in, n_out", [(8, 5), (24, 2)])
@pytest.mark.parametrize("beta", [1e-3, 0.0])
def test_gradients_match_formulas_and_finite_differences(beta: float, n_in: int, n_out: int) -> None:
    z_in, w = random_case(7, batch=4, n_in=n_in, n_out=n_out)
    layer = CVTCLayer(n_in, n_out, beta=beta).double()
    with torch.no_grad():
        layer.weight.copy_(w)
    z_in.requires_grad_(True)
    z_out = layer(z_in)
    assert torch.isfinite(z_out).all()
    grad_z_in, grad_w = torch.autograd.grad(z_out.sum(), (z_in, layer.weight))
    assert torch.isfinite(grad_z_in).all() and torch.isfinite(grad_w).all()

    # formulas of the spec: d z / d z_i = w_i / sqrt(D), d z / d w_i = (z_i - z_out) / sqrt(D) for i in C
    ref_z = torch.zeros_like(z_in)
    ref_w = torch.zeros_like(w)
    for b in range(z_in.shape[0]):
        for j in range(w.shape[0]):
            zo = float(z_out[b, j].detach())
            if zo in (NO_SPIKE_Z, 1.0 / beta if beta > 0 else None):
                continue
            causal = z_in[b].detach() < zo
            big_w = float(w[j][causal].sum())
            big_s = float((w[j][causal] * z_in[b].detach()[causal]).sum())
            sqrt_d = math.sqrt((big_w - 1.0) ** 2 + 4.0 * beta * big_s)
            ref_z[b, causal] += w[j][causal] / sqrt_d
            ref_w[j, causal] += (z_in[b].detach()[causal] - zo) / sqrt_d
    torch.testing.assert_close(grad_z_in, ref_z, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grad_w, ref_w, rtol=1e-9, atol=1e-12)

    def f(zi: torch.Tensor, wi: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weight": wi}, (zi,))

    # finite differences along random directions (fast mode) of inputs and weights together
    inputs = (z_in.detach().requires_grad_(), w.clone().requires_grad_())
    assert torch.autograd.gradcheck(f, inputs, eps=1e-7, fast_mode=True)


@pytest.mark.parametrize("beta", [1e-3, 0.0])
def test_no_nan_gradients_when_candidates_degenerate(beta: float) -> None:
    # exact ties, zero weights, W = 1 exactly and inputs at z = 1 make several unused candidates singular
    layer = CVTCLayer(4, 3, beta=beta).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, -1.0, 3.0], [0.0, 0.0, 0.0, 0.0]]))
    z_in = torch.tensor([[1.0, 1.0, 2.0, 2.0], [3.0, 1.0, 1.0, 5.0]], dtype=torch.float64, requires_grad=True)
    z_out = layer(z_in)
    grads = torch.autograd.grad(z_out.sum(), (z_in, layer.weight))
    assert all(torch.isfinite(g).all() for g in grads)


def test_beta_zero_silent_neuron_is_constant() -> None:
    layer = CVTCLayer(3, 1, beta=0.0)
    with torch.no_grad():
        layer.weight.fill_(0.2)
    z_in = torch.tensor([[1.5, 2.0, 3.0]], requires_grad=True)
    z_out = layer(z_in)
    assert z_out.item() == NO_SPIKE_Z
    (grad,) = torch.autograd.grad(z_out.sum(), z_in)
    assert (grad == 0).all()


def test_encoder_matches_formula_and_decodes() -> None:
    gains = [20.0, 2.0, 20.0, 2.0]
    enc = GaussianPopulationEncoder(gains, n_neurons=20, sigma=1.4, z_max=6.0, height=20.0, cap=None).double()
    obs = torch.tensor([[0.1, -1.5, -0.12, 1.4], [0.0, 0.3, 0.05, -1.45]], dtype=torch.float64)
    z = enc(obs)
    assert z.shape == (2, 80)
    for b in range(2):
        for i, g in enumerate(gains):
            for k in range(20):
                c = k - 9.5
                pdf = math.exp(-0.5 * ((c - g * float(obs[b, i])) / 1.4) ** 2) / (1.4 * math.sqrt(2 * math.pi))
                assert float(z[b, i * 20 + k]) == pytest.approx(6.0 - 20.0 * pdf, rel=1e-12)
    # Eq. 17 is exact for an unbounded grid; the finite grid (centres up to 9.5) costs < 1e-6 for |gain * s| <= 3
    torch.testing.assert_close(enc.decode(z), obs, rtol=0, atol=1e-6)


def test_encoder_cap_keeps_inputs_causal() -> None:
    enc = GaussianPopulationEncoder([20.0, 2.0], sigma=1.4, height=20.0, cap=5.0)
    z = enc(torch.tensor([[-0.2, 0.0], [0.3, 1.75]]))
    assert z.min() >= 1.0
    assert torch.isclose(z.min(), torch.tensor(1.0))


def test_default_gains_from_bounds() -> None:
    gains = GaussianPopulationEncoder.gains_from_bounds([-1.2, -0.07], [0.6, 0.07], n_neurons=20)
    assert gains == pytest.approx([0.9 * 9.5 / 1.2, 0.9 * 9.5 / 0.07])
    assert GaussianPopulationEncoder.gains_from_bounds([-math.inf], [math.inf]) == [1.0]


@pytest.mark.parametrize("kwargs", [dict(gains=[]), dict(gains=[1.0], n_neurons=1), dict(gains=[1.0], sigma=0.0)])
def test_encoder_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        GaussianPopulationEncoder(**kwargs)


def test_layer_rejects_negative_beta() -> None:
    with pytest.raises(ValueError, match="beta"):
        CVTCLayer(2, 2, beta=-1.0)


def test_wide_layer_matches_event_driven_simulation() -> None:
    # more than 255 inputs (wider first-crossing index) and few outputs (the sorted prefix-sum branch)
    gen = torch.Generator().manual_seed(11)
    z_in = 1.0 + 5.0 * torch.rand(2, 300, generator=gen, dtype=torch.float64)
    layer = CVTCLayer(300, 3, beta=1e-3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 300, generator=gen, dtype=torch.float64) * 0.02 + 0.004)
    z_out = layer(z_in).detach().numpy()
    t_in = np.log(z_in.numpy())
    for b in range(2):
        for j in range(3):
            t_ref = first_spike_time(t_in[b], layer.weight[j].detach().numpy(), 1e-3)
            assert z_out[b, j] == pytest.approx(math.exp(t_ref), rel=1e-5)


@pytest.mark.parametrize("cap", [None, 5.0, 2.0])
def test_earliest_z_is_the_minimum_over_values(cap: float | None) -> None:
    """``earliest_z`` (the policy's check that every input is a spike time) against a fine sweep of the encoder."""
    enc = GaussianPopulationEncoder([1.0], n_neurons=6, sigma=1.4, z_max=6.0, height=20.0, cap=cap).double()
    sweep = torch.linspace(-3.0, 3.0, 6001, dtype=torch.float64).unsqueeze(1)  # passes every centre exactly
    peak = 20.0 / (1.4 * math.sqrt(2 * math.pi))
    want = 6.0 - (peak if cap is None else min(peak, cap))
    assert float(enc(sweep).min()) == pytest.approx(want, abs=1e-9)
    assert GaussianPopulationEncoder.earliest_z(6.0, 20.0, 1.4, cap) == pytest.approx(want, abs=1e-12)
    assert enc.min_z == pytest.approx(want, abs=1e-12)
