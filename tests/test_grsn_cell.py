"""GRSN / LIF cells and SpikingRecurrent against a per-step float64 loop of seed 003's equations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from sb3_spiking.snn.neurons import GRSNCell, LIFCell
from sb3_spiking.snn.recurrent import SpikingRecurrent


class _ArcTanSpike(torch.autograd.Function):
    """Eq. 4-6: Heaviside forward (strict, as surrogate.py), arctan derivative alpha / (2 (1 + (pi/2 alpha x)^2))."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.alpha / (2.0 * (1.0 + (math.pi / 2.0 * ctx.alpha * x) ** 2)), None


def reference(
    model: SpikingRecurrent, x: Tensor, u0: Tensor, c0: Tensor, starts: Tensor, alpha: float = 2.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-step loop of Eq. 1, 3, 4, 12, 13, 14, reading the model's parameters; resets where ``starts``."""
    layer_input, final_u, final_c = x, [], []
    for layer, cell in enumerate(model.cells):
        u_hat, c = u0[layer], c0[layer]
        outputs = []
        for t in range(x.shape[0]):
            keep = (1.0 - starts[t]).unsqueeze(-1)
            u_hat, c = u_hat * keep, c * keep
            o_prev = layer_input[t]
            if isinstance(cell, GRSNCell):
                f = torch.sigmoid(o_prev @ cell.forget_gate.weight.T + cell.forget_gate.bias)  # Eq. 14
                j = torch.relu(o_prev @ cell.input_gate.weight.T + cell.input_gate.bias)  # Eq. 14
                c = f * c + (1.0 - f) * j  # Eq. 13
                beta = torch.sigmoid(cell.beta_logit)
            else:
                c = o_prev @ cell.fc.weight.T + cell.fc.bias  # Eq. 2
                beta = cell.beta
            u = beta * u_hat + (1.0 - beta) * c  # Eq. 1
            o = _ArcTanSpike.apply(u - cell.threshold, alpha)  # Eq. 4
            if isinstance(cell, GRSNCell):
                u_hat = u - cell.threshold * o  # Eq. 12
            else:
                u_hat = cell.reset_potential * o + (1.0 - o) * u  # Eq. 3
            outputs.append(o)
        layer_input = torch.stack(outputs)
        final_u.append(u_hat)
        final_c.append(c)
    return layer_input, torch.stack(final_u), torch.stack(final_c)


def _model(cell: str, **kwargs) -> SpikingRecurrent:
    torch.manual_seed(0)
    model = SpikingRecurrent(6, 9, num_layers=2, cell=cell, **kwargs).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.mul_(6.0)  # strong inputs and positive biases: both layers fire at a moderate rate
            elif name.endswith("bias"):
                p.add_(1.5)
        if cell == "grsn":
            for c in model.cells:
                c.beta_logit.copy_(torch.linspace(-1.5, 1.5, 9))
    return model


def _inputs(seq_len: int = 20, batch: int = 5) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(seq_len, batch, 6, dtype=torch.float64, generator=gen).requires_grad_()
    u0 = (0.5 * torch.randn(2, batch, 9, dtype=torch.float64, generator=gen)).requires_grad_()
    c0 = torch.randn(2, batch, 9, dtype=torch.float64, generator=gen).requires_grad_()
    starts = (torch.rand(seq_len, batch, generator=gen) < 0.15).double()
    starts[7, 0] = 1.0  # at least one reset inside a sequence
    return x, u0, c0, starts


@pytest.mark.parametrize("cell, kwargs", [("grsn", {}), ("lif", {}), ("lif", {"reset_potential": -0.3, "beta": 0.7})])
def test_sequence_matches_reference_forward_and_gradients(cell: str, kwargs: dict) -> None:
    model = _model(cell, **kwargs)
    x, u0, c0, starts = _inputs()
    weights = [torch.randn(20, 5, 9, dtype=torch.float64), torch.randn(2, 5, 9, dtype=torch.float64)]

    def run(fn) -> tuple[list[Tensor], list[Tensor | None]]:
        out, u, c = fn()
        loss = (out * weights[0]).sum() + (u * weights[1]).sum() + (c * weights[1]).sum()
        inputs = [x, u0, c0, *model.parameters()]
        return [out, u, c], list(torch.autograd.grad(loss, inputs, allow_unused=True))

    def ours() -> tuple[Tensor, Tensor, Tensor]:
        out, (u, c) = model(x, (u0, c0), starts)
        return out, u, c

    (out, u, c), grads = run(ours)
    (ref_out, ref_u, ref_c), ref_grads = run(lambda: reference(model, x, u0, c0, starts))
    assert 0.05 < out.mean().item() < 0.95
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(u, ref_u)
    torch.testing.assert_close(c, ref_c)
    for g, ref_g in zip(grads, ref_grads, strict=True):
        if ref_g is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            torch.testing.assert_close(g, ref_g)
    assert grads[0].abs().sum() > 0


def test_reset_at_episode_start_equals_fresh_sequence() -> None:
    model = _model("grsn")
    x, u0, c0, _ = _inputs()
    starts = torch.zeros(20, 5, dtype=torch.float64)
    starts[8] = 1.0
    out, _ = model(x, (u0, c0), starts)
    fresh, _ = model(x[8:])
    torch.testing.assert_close(out[8:], fresh)


def test_step_by_step_equals_whole_sequence() -> None:
    model = _model("grsn")
    x, u0, c0, starts = _inputs()
    whole, (u_whole, c_whole) = model(x, (u0, c0), starts)
    state = (u0, c0)
    steps = []
    for t in range(x.shape[0]):
        out, state = model(x[t : t + 1], state, starts[t : t + 1])
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps), whole)
    torch.testing.assert_close(state[0], u_whole)
    torch.testing.assert_close(state[1], c_whole)


def test_single_cell_step_matches_reference() -> None:
    torch.manual_seed(3)
    cell = GRSNCell(4, 7, beta_init=0.3).double()
    x = 3.0 * torch.randn(6, 4, dtype=torch.float64)
    u_hat, c = torch.randn(6, 7, dtype=torch.float64), torch.randn(6, 7, dtype=torch.float64)
    spikes, (new_u_hat, new_c) = cell(x, (u_hat, c))
    f = torch.sigmoid(x @ cell.forget_gate.weight.T + cell.forget_gate.bias)
    j = torch.relu(x @ cell.input_gate.weight.T + cell.input_gate.bias)
    ref_c = f * c + (1 - f) * j
    ref_u = 0.3 * u_hat + 0.7 * ref_c
    ref_o = (ref_u > 1.0).double()
    torch.testing.assert_close(new_c, ref_c)
    torch.testing.assert_close(spikes, ref_o)
    torch.testing.assert_close(new_u_hat, ref_u - ref_o)
    torch.testing.assert_close(cell.beta, torch.full((7,), 0.3, dtype=torch.float64))


@pytest.mark.parametrize("cell", ["grsn", "lif"])
def test_input_bias_starts_neurons_at_threshold(cell: str) -> None:
    # small inputs (CartPole-P: position and angle ~0.1): the default init keeps u below theta = 1, so the
    # layer is silent; input_bias = theta starts u near theta, where the neurons fire
    torch.manual_seed(0)
    x = 0.1 * torch.randn(50, 200, 2)
    rates = {}
    for bias in (None, 1.0):
        model = SpikingRecurrent(2, 64, cell=cell, input_bias=bias)
        gate = model.cells[0].input_gate if cell == "grsn" else model.cells[0].fc
        if bias is not None:
            assert (gate.bias == bias).all()
        with torch.no_grad():
            rates[bias] = model(x)[0].mean().item()
    assert rates[None] < 0.01
    assert 0.05 < rates[1.0] < 0.9


def test_surrogate_sharpness_change_reaches_the_backward() -> None:
    model = _model("grsn")
    x, u0, c0, starts = _inputs()
    for module in model.modules():
        if isinstance(module, (GRSNCell, LIFCell)):
            module.spike.sharpness = 5.0
    grad = torch.autograd.grad(model(x, (u0, c0), starts)[0].sum(), x)[0]
    ref_grad = torch.autograd.grad(reference(model, x, u0, c0, starts, alpha=5.0)[0].sum(), x)[0]
    torch.testing.assert_close(grad, ref_grad)
    assert model.cells[0].spike is not model.cells[1].spike


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="grsn"):
        SpikingRecurrent(3, 4, cell="gru")
    with pytest.raises(ValueError, match="num_layers"):
        SpikingRecurrent(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="seq_len, batch"):
        SpikingRecurrent(3, 4)(torch.zeros(2, 3))
