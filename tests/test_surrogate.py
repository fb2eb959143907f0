"""Surrogate spike functions against the formulas of spec 01 / seed 000 Eq. 17, written here independently."""

import math

import numpy as np
import pytest
import torch

from sb3_spiking.snn import surrogate

RNG = np.random.default_rng(0)
POINTS = RNG.uniform(-1.5, 1.5, size=1000)


def reference(name: str, x: np.ndarray, **p: float) -> np.ndarray:
    ax = np.abs(x)
    if name == "rectangular":
        a = p.get("a", 0.5)
        return np.where(ax < a, 1.0 / (2 * a), 0.0)
    if name == "triangular":
        a = p.get("a", 0.5)
        return np.maximum(0.0, 1.0 - ax / a) / a
    if name == "trapezoidal":
        w1, w2 = p.get("w1", 0.25), p.get("w2", 0.5)
        h = 1.0 / (w1 + w2)
        return np.where(ax < w1, h, np.where(ax < w2, h * (1 - (ax - w1) / (w2 - w1)), 0.0))
    if name == "arctan":
        alpha = p.get("alpha", 2.0)
        return alpha / (2 * (1 + (math.pi / 2 * alpha * x) ** 2))
    if name == "fast_sigmoid":
        k = p.get("k", 25.0)
        return 1.0 / (1 + k * ax) ** 2
    if name == "sigmoid":
        k = p.get("k", 4.0)
        s = 1 / (1 + np.exp(-k * x))
        return k * s * (1 - s)
    raise AssertionError(name)


CASES = [
    ("rectangular", {}),
    ("rectangular", {"a": 0.3}),
    ("triangular", {}),
    ("triangular", {"a": 0.8}),
    ("trapezoidal", {}),
    ("trapezoidal", {"w1": 0.2, "w2": 0.6}),
    ("arctan", {}),
    ("arctan", {"alpha": 4.0}),
    ("fast_sigmoid", {}),
    ("fast_sigmoid", {"k": 2.0}),
    ("sigmoid", {}),
]


def backward_at(fn: surrogate.Surrogate, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    spikes = fn(xt)
    spikes.sum().backward()
    return spikes.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize(("name", "params"), CASES)
def test_backward_matches_formula_and_forward_is_heaviside(name: str, params: dict) -> None:
    fn = surrogate.make(name, **params)
    spikes, grad = backward_at(fn, POINTS)
    np.testing.assert_allclose(grad, reference(name, POINTS, **params), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(spikes, (POINTS > 0).astype(float))
    np.testing.assert_allclose(fn.grad(torch.tensor(POINTS)).numpy(), grad, rtol=0, atol=1e-12)


def test_spike_is_strict_at_threshold() -> None:
    spikes, _ = backward_at(surrogate.make("rectangular"), np.array([0.0, 1e-12, -1e-12]))
    np.testing.assert_array_equal(spikes, [0.0, 1.0, 0.0])


def integral(fn: surrogate.Surrogate, lim: float = 10.0, h: float = 1e-5) -> float:
    """Midpoint rule on [-lim, lim]; cell edges fall on every kink and jump of the width-based surrogates."""
    n = round(2 * lim / h)
    x = -lim + h * (torch.arange(n, dtype=torch.float64) + 0.5)
    return float(fn.grad(x).sum() * h)


@pytest.mark.parametrize(("name", "params"), [c for c in CASES if c[0] not in ("fast_sigmoid", "arctan")])
def test_unit_area(name: str, params: dict) -> None:
    assert integral(surrogate.make(name, **params)) == pytest.approx(1.0, abs=1e-6)


def test_arctan_unit_area() -> None:
    # analytic tails beyond +-L: 2 * (1/2 - atan(pi/2 alpha L) / pi)
    alpha, lim = 2.0, 60.0
    tails = 1.0 - 2.0 * math.atan(math.pi / 2 * alpha * lim) / math.pi
    assert integral(surrogate.make("arctan", alpha=alpha), lim) + tails == pytest.approx(1.0, abs=1e-6)


def test_fast_sigmoid_keeps_snntorch_area() -> None:
    k, lim = 25.0, 60.0
    tails = 2.0 / (k * (1 + k * lim))
    assert integral(surrogate.make("fast_sigmoid", k=k), lim) + tails == pytest.approx(2.0 / k, abs=1e-6)


def test_explicit_height() -> None:
    fn = surrogate.make("rectangular", a=0.5, height=0.3)
    _, grad = backward_at(fn, POINTS)
    np.testing.assert_allclose(grad, np.where(np.abs(POINTS) < 0.5, 0.3, 0.0), atol=1e-12)


def test_trapezoid_limits() -> None:
    x = POINTS[np.abs(np.abs(POINTS) - 0.5) > 1e-6]
    near_rect = surrogate.make("trapezoidal", w1=0.5 - 1e-9, w2=0.5)
    np.testing.assert_allclose(backward_at(near_rect, x)[1], reference("rectangular", x, a=0.5), atol=1e-6)
    triangle = surrogate.make("trapezoidal", w1=0.0, w2=0.5)
    np.testing.assert_allclose(backward_at(triangle, x)[1], reference("triangular", x, a=0.5), atol=1e-12)


def test_make_accepts_dict_and_instance_and_round_trips() -> None:
    fn = surrogate.make({"name": "trapezoidal", "w1": 0.2, "w2": 0.6})
    assert (fn.w1, fn.w2) == (0.2, 0.6)
    copy = surrogate.make(fn)
    assert copy == fn and copy is not fn
    assert surrogate.make(fn.to_dict()) == fn
    assert surrogate.make({"name": "arctan"}, alpha=3.0).alpha == 3.0


@pytest.mark.parametrize(
    ("spec", "params", "match"),
    [
        ("boxcar", {}, "allowed"),
        ("trapezoidal", {"w1": 0.6, "w2": 0.5}, "w1 < w2"),
        ("trapezoidal", {"w1": -0.1, "w2": 0.5}, "w1 < w2"),
        ("rectangular", {"a": 0.0}, "positive"),
        ("triangular", {"a": -1.0}, "positive"),
        ("fast_sigmoid", {"k": 0.0}, "positive"),
        ("arctan", {"slope": 2.0}, "bad parameters"),
        ({"a": 0.5}, {}, "'name'"),
    ],
)
def test_bad_input_raises_value_error(spec, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        surrogate.make(spec, **params)


def test_sharpness_means_slope_or_inverse_width() -> None:
    trap = surrogate.make("trapezoidal", w1=0.25, w2=0.5)
    trap.sharpness = 4.0
    assert trap.w2 == pytest.approx(0.25) and trap.w1 == pytest.approx(0.125)
    assert integral(trap) == pytest.approx(1.0, abs=1e-6)
    rect = surrogate.make("rectangular")
    rect.sharpness = 5.0
    assert rect.a == pytest.approx(0.2)
    fast = surrogate.make("fast_sigmoid")
    fast.sharpness = 2.0
    assert fast.k == 2.0
    with pytest.raises(ValueError):
        fast.sharpness = -1.0


def test_load_dict_changes_the_held_surrogate_in_place() -> None:
    held = surrogate.make("trapezoidal")
    saved = surrogate.make("trapezoidal")
    saved.sharpness = 8.0
    held_id = id(held)
    held.load_dict(saved.to_dict())
    assert id(held) == held_id and held == saved
    _, grad = backward_at(held, POINTS)
    np.testing.assert_allclose(grad, reference("trapezoidal", POINTS, w1=0.0625, w2=0.125), atol=1e-12)
    with pytest.raises(ValueError, match="'trapezoidal' surrogate"):
        held.load_dict({"name": "arctan", "alpha": 2.0})
    with pytest.raises(ValueError, match="w1 < w2"):
        held.load_dict({"name": "trapezoidal", "w1": 0.5, "w2": 0.1, "height": None})
    assert held == saved


@pytest.mark.parametrize(
    ("make_bad", "match"),
    [
        (lambda: surrogate.make("fast_sigmoid", k="25"), "k must be a real number"),
        (lambda: surrogate.make("rectangular", a=True), "a must be a real number"),
        (lambda: surrogate.make("trapezoidal", w1="0.1"), "w1 must be a real number"),
    ],
)
def test_parameter_of_wrong_type_raises_type_error(make_bad, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        make_bad()
    fast = surrogate.make("fast_sigmoid")
    with pytest.raises(TypeError, match="sharpness"):
        fast.sharpness = "2"
