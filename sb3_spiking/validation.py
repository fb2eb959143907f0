"""Argument and input checks shared by every policy and algorithm: a bad value fails at the call, naming the
argument, the value and what is allowed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """
    :param name: argument name for the message
    :param value: the value (an integer, not a bool or float)
    :param minimum: smallest allowed value, ``None`` for no bound
    :return: ``value`` as ``int``
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
) -> float:
    """
    :param name: argument name for the message
    :param value: a finite real number (not a bool)
    :param minimum: lower bound, ``None`` for none
    :param maximum: upper bound, ``None`` for none
    :param strict: bounds are exclusive
    :return: ``value`` as ``float``
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low, high = ("(", ")") if strict else ("[", "]")
    allowed = f"{low}{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}{high}"
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be in {allowed}, got {value}")
    if maximum is not None and (value >= maximum if strict else value > maximum):
        raise ValueError(f"{name} must be in {allowed}, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """
    :param name: argument name for the message
    :param value: ``True`` or ``False`` (strings such as ``"no"`` are refused)
    :return: ``value``
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """
    :param name: argument name for the message
    :param value: the value
    :param allowed: the allowed values
    :return: ``value``
    """
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {list(allowed)}")
    return value


def check_sizes(name: str, value: Any, allow_empty: bool = True) -> list[int]:
    """
    Layer sizes: a list or tuple of positive ints (a string or a bare int is refused, not split or wrapped).

    :param name: argument name for the message
    :param value: the sizes
    :param allow_empty: an empty list is allowed (no hidden layer)
    :return: the sizes as a list of ints
    """
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of positive ints, got {value!r} ({type(value).__name__})")
    if not value and not allow_empty:
        raise ValueError(f"{name} must hold at least one size, got {value!r}")
    sizes = []
    for i, size in enumerate(value):
        if isinstance(size, bool) or not isinstance(size, Integral):
            raise TypeError(f"{name}[{i}] must be a positive int, got {size!r} ({type(size).__name__})")
        if size < 1:
            raise ValueError(f"{name}[{i}] must be a positive int, got {size}")
        sizes.append(int(size))
    return sizes


def check_finite_observation(obs: Any, name: str = "observation") -> None:
    """
    Refuse NaN / inf in an observation batch: threshold comparisons with NaN are always false, so a spiking network
    would turn it into a plausible action.

    :param obs: array or tensor (or a dict of them), any shape
    :param name: what to call it in the message
    """
    if isinstance(obs, dict):
        for key, value in obs.items():
            check_finite_observation(value, f"{name}[{key!r}]")
        return
    if isinstance(obs, torch.Tensor):
        if not obs.is_floating_point() or bool(torch.isfinite(obs).all()):
            return
        bad = (~torch.isfinite(obs)).nonzero()[0].tolist()
        value = obs[tuple(bad)].item()
    else:
        array = np.asarray(obs)
        if not np.issubdtype(array.dtype, np.floating) or np.isfinite(array).all():
            return
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        value = array[tuple(bad)]
    raise ValueError(
        f"{name} holds a non-finite value {value} at index {tuple(bad)}; spiking policies need finite inputs"
    )


def suggest(name: str, allowed: Sequence[str]) -> str:
    """
    :param name: a name that is not in ``allowed``
    :param allowed: the valid names
    :return: an error message tail naming the closest match and every valid name
    """
    close = difflib.get_close_matches(name, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; allowed: {sorted(allowed)}"
