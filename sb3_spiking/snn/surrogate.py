"""Spike function with surrogate derivatives.

Forward: ``s = H(x)`` with ``H(x) = 1`` for ``x > 0`` (strict, as Pop-SAN's ``v > v_th``), else 0.
Backward: ``ds/dx = g(x)``, the derivative of a named surrogate, written once per surrogate (:meth:`Surrogate.grad`)
and used by both formulations of the spike: a custom autograd Function (``surrogate(x)``, eager mode) and the same
values and gradient from plain differentiable operations (``surrogate.straight_through(x)``), which
``torch.compile`` can fuse with the neuron update around it.

The width-based surrogates (rectangular, triangular, trapezoidal; seed 000, Eq. 17) integrate to 1
unless an explicit ``height`` is given. ``arctan`` (seed 003, Eq. 6) and ``sigmoid`` integrate to 1.
``fast_sigmoid`` keeps snnTorch's convention ``1 / (1 + k|x|)^2`` whose area is ``2 / k`` (seed 002).

Every surrogate exposes ``sharpness`` (slope, or 1 / width for width-based ones) so that schedules
can change it during training, ``to_dict()`` so that it survives SB3's ``policy_kwargs`` save/load, and
``load_dict()`` so that a saved state (e.g. a scheduled sharpness) can be put back into the surrogate a layer holds.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor

from sb3_spiking.validation import check_float


def heaviside(x: Tensor) -> Tensor:
    """
    :param x: membrane potential minus threshold
    :return: ``H(x)``: 1. where ``x > 0``, else 0., same dtype as ``x``, no gradient
    """
    return torch.gt(x, 0.0, out=torch.empty_like(x))  # several times faster than a bool result converted


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.grad(x), None


class Surrogate(ABC):
    """A spike function ``H(x)`` whose backward pass uses the derivative :meth:`grad`."""

    name: ClassVar[str]

    def __call__(self, x: Tensor) -> Tensor:
        """
        :param x: membrane potential minus threshold
        :return: spikes (0. or 1.), same dtype as ``x``
        """
        return _SpikeFunction.apply(x, self)

    def straight_through(self, x: Tensor) -> Tensor:
        """
        The spike of :meth:`__call__` from plain differentiable operations, for ``torch.compile`` (a custom autograd
        Function is opaque to inductor): ``H(x) + (x - sg(x)) g(sg(x))``, ``sg`` stopping the gradient. The second
        term is zero, and its derivative is ``g(x)``, exactly the surrogate's.

        :param x: membrane potential minus threshold
        :return: spikes (0. or 1.), same dtype as ``x``, with ``ds/dx = g(x)``
        """
        value = x.detach()
        # sign(x) clamped at 0 is H(x) without a bool tensor, which inductor may keep for the backward pass and
        # stores slowly on CPU
        return torch.sign(value).clamp_(min=0.0) + (x - value) * self.grad(value)

    @abstractmethod
    def grad(self, x: Tensor) -> Tensor:
        """The surrogate derivative ``g(x)`` used in place of the Dirac delta."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor parameters (plain values)."""

    @property
    @abstractmethod
    def sharpness(self) -> float:
        """Slope of the surrogate (1 / outer half-width for width-based surrogates)."""

    @sharpness.setter
    @abstractmethod
    def sharpness(self, value: float) -> None: ...

    def to_dict(self) -> dict[str, Any]:
        """Plain-value description, accepted back by :func:`make` and :meth:`load_dict`."""
        return {"name": self.name, **self.params()}

    def load_dict(self, spec: dict[str, Any]) -> None:
        """
        Take the parameters of ``spec`` in place (layers hold their surrogate, so it cannot be replaced).

        :param spec: a :meth:`to_dict` of a surrogate of the same kind
        """
        if not isinstance(spec, dict) or spec.get("name") != self.name:
            raise ValueError(f"spec must be the dict of a {self.name!r} surrogate, got {spec!r}")
        vars(self).update(vars(make(spec)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Surrogate) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))


def _positive(name: str, value: float) -> float:
    value = check_float(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _optional_height(height: float | None) -> float | None:
    return None if height is None else _positive("height", height)


class Rectangular(Surrogate):
    """
    Rectangular window (seed 000, Eq. 17 left): ``g(x) = h`` for ``|x| < a``, else 0, ``h = 1 / (2a)``.
    With ``a = 0.5`` this is Pop-SAN's window (height 1 on ``v in (v_th - 0.5, v_th + 0.5)``).

    :param a: half-width
    :param height: explicit height instead of the unit-area ``1 / (2a)``
    """

    name = "rectangular"

    def __init__(self, a: float = 0.5, height: float | None = None) -> None:
        self.a = _positive("a", a)
        self.height = _optional_height(height)

    def grad(self, x: Tensor) -> Tensor:
        h = 1.0 / (2.0 * self.a) if self.height is None else self.height
        return torch.sign(self.a - x.abs()).clamp_(min=0.0) * h  # [|x| < a] without a bool tensor (slow on CPU)

    def params(self) -> dict[str, Any]:
        return {"a": self.a, "height": self.height}

    @property
    def sharpness(self) -> float:
        return 1.0 / self.a

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        self.a = 1.0 / _positive("sharpness", value)


class Triangular(Surrogate):
    """
    Triangular window (seed 000, Eq. 17 middle): ``g(x) = h * max(0, 1 - |x| / a)``, ``h = 1 / a``.

    :param a: half-width
    :param height: explicit peak height instead of the unit-area ``1 / a``
    """

    name = "triangular"

    def __init__(self, a: float = 0.5, height: float | None = None) -> None:
        self.a = _positive("a", a)
        self.height = _optional_height(height)

    def grad(self, x: Tensor) -> Tensor:
        h = 1.0 / self.a if self.height is None else self.height
        return torch.clamp(1.0 - x.abs() / self.a, min=0.0) * h

    def params(self) -> dict[str, Any]:
        return {"a": self.a, "height": self.height}

    @property
    def sharpness(self) -> float:
        return 1.0 / self.a

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        self.a = 1.0 / _positive("sharpness", value)


class Trapezoidal(Surrogate):
    """
    Trapezoidal window (seed 000, Eq. 17 right): flat top ``h`` for ``|x| < w1``, linear flanks down to 0
    at ``|x| = w2``, ``h = 1 / (w1 + w2)`` (unit area). ``w1 -> w2`` gives the rectangle, ``w1 = 0`` the
    triangle.

    :param w1: inner half-width (flat top), ``0 <= w1 < w2``
    :param w2: outer half-width
    :param height: explicit height instead of the unit-area ``1 / (w1 + w2)``
    """

    name = "trapezoidal"

    def __init__(self, w1: float = 0.25, w2: float = 0.5, height: float | None = None) -> None:
        w1, w2 = check_float("w1", w1), _positive("w2", w2)
        if not 0.0 <= w1 < w2:
            raise ValueError(f"trapezoidal needs 0 <= w1 < w2, got w1={w1}, w2={w2}")
        self.w1, self.w2 = w1, w2
        self.height = _optional_height(height)

    def grad(self, x: Tensor) -> Tensor:
        h = 1.0 / (self.w1 + self.w2) if self.height is None else self.height
        ramp = (self.w2 - x.abs()) / (self.w2 - self.w1)
        return torch.clamp(ramp, min=0.0, max=1.0) * h

    def params(self) -> dict[str, Any]:
        return {"w1": self.w1, "w2": self.w2, "height": self.height}

    @property
    def sharpness(self) -> float:
        return 1.0 / self.w2

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        scale = 1.0 / (_positive("sharpness", value) * self.w2)
        self.w1, self.w2 = self.w1 * scale, self.w2 * scale


class ArcTan(Surrogate):
    """
    Arctan surrogate (seed 003, Eq. 6; SpikingJelly ``ATan``): ``g(x) = alpha / (2 (1 + (pi/2 alpha x)^2))``.

    :param alpha: slope
    """

    name = "arctan"

    def __init__(self, alpha: float = 2.0) -> None:
        self.alpha = _positive("alpha", alpha)

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / (2.0 * (1.0 + (math.pi / 2.0 * self.alpha * x) ** 2))

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    @property
    def sharpness(self) -> float:
        return self.alpha

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        self.alpha = _positive("sharpness", value)


class FastSigmoid(Surrogate):
    """
    Fast sigmoid (snnTorch convention, seed 002): ``g(x) = 1 / (1 + k |x|)^2``.
    Not normalised: its area is ``2 / k``, kept so that slopes match snnTorch and seed 002.

    :param k: slope
    """

    name = "fast_sigmoid"

    def __init__(self, k: float = 25.0) -> None:
        self.k = _positive("k", k)

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.k * x.abs()) ** 2

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    @property
    def sharpness(self) -> float:
        return self.k

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        self.k = _positive("sharpness", value)


class Sigmoid(Surrogate):
    """
    Logistic surrogate: ``g(x) = k sig(k x) (1 - sig(k x))`` (unit area).

    :param k: slope
    """

    name = "sigmoid"

    def __init__(self, k: float = 4.0) -> None:
        self.k = _positive("k", k)

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.k * x)
        return self.k * s * (1.0 - s)

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    @property
    def sharpness(self) -> float:
        return self.k

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        self.k = _positive("sharpness", value)


SURROGATES: dict[str, type[Surrogate]] = {
    cls.name: cls for cls in (Rectangular, Triangular, Trapezoidal, ArcTan, FastSigmoid, Sigmoid)
}

SurrogateLike = str | dict[str, Any] | Surrogate


def make(spec: SurrogateLike, **params: Any) -> Surrogate:
    """
    Build a surrogate spike function.

    ``make("trapezoidal", w1=0.2, w2=0.6)``, ``make({"name": "rectangular", "a": 0.3})`` or an existing
    :class:`Surrogate` (returned as a copy, so that layers never share mutable state by accident).

    :param spec: a name from :data:`SURROGATES`, a dict with a ``"name"`` key and parameters, or a surrogate
    :param params: parameters of the named surrogate (see each class)
    :return: a callable ``f(x) -> spikes``
    """
    if isinstance(spec, Surrogate):
        spec = spec.to_dict()
    if isinstance(spec, dict):
        spec = dict(spec)
        if "name" not in spec:
            raise ValueError(f"a surrogate dict needs a 'name' key, one of {sorted(SURROGATES)}; got {spec}")
        params = {**spec, **params}
        spec = params.pop("name")
    if not isinstance(spec, str) or spec not in SURROGATES:
        raise ValueError(f"unknown surrogate {spec!r}; allowed: {sorted(SURROGATES)}")
    cls = SURROGATES[spec]
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as err:
        raise ValueError(f"bad parameters {params} for surrogate {spec!r}: {err}") from err
    return cls(**params)
