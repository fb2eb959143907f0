"""Surrogate sharpness schedules (seed 002: shallower or scheduled slopes train better in RL).

A schedule maps the training state to a sharpness value: the slope (``k``, ``alpha``) of smooth surrogates, or
``1 / width`` of the width-based ones (see :attr:`sb3_spiking.snn.surrogate.Surrogate.sharpness`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
from torch import nn

from sb3_spiking.snn.surrogate import Surrogate
from sb3_spiking.validation import check_float, check_int


def _check_positive(name: str, value: Any) -> float:
    return check_float(name, value, minimum=0.0, strict=True)


def _check_pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a pair of numbers (low, high), got {value!r} ({type(value).__name__})")
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair of numbers (low, high), got {len(value)} values: {value!r}")
    return check_float(f"{name}[0]", value[0]), check_float(f"{name}[1]", value[1])


class SharpnessSchedule(ABC):
    """Base class: :meth:`value` gives the sharpness in force."""

    observes_rewards: ClassVar[bool] = False
    """Whether :meth:`observe` is used (the callback then needs the returns of finished episodes)."""

    @abstractmethod
    def value(self, progress: float, n_updates: int) -> float:
        """
        :param progress: fraction of training done, in [0, 1]
        :param n_updates: number of gradient updates done so far
        :return: the sharpness to use now
        """

    def observe(self, reward: float, second_reward: float | None = None) -> None:  # noqa: B027
        """Feed an evaluation result; only reward-adaptive schedules use it."""


class ConstantSharpness(SharpnessSchedule):
    """
    Fixed sharpness (seed 002's fixed slopes, e.g. k in {2, 50, 100}).

    :param sharpness: the value, > 0
    """

    def __init__(self, sharpness: float) -> None:
        self.sharpness = _check_positive("sharpness", sharpness)

    def value(self, progress: float, n_updates: int) -> float:
        return self.sharpness


class LinearSharpness(SharpnessSchedule):
    """
    Linear ramp from ``start`` to ``end`` over the first ``fraction`` of training, then constant.

    :param start: sharpness at the start, > 0
    :param end: sharpness once ``fraction`` of training is done, > 0
    :param fraction: fraction of training over which to ramp, in (0, 1]
    """

    def __init__(self, start: float, end: float, fraction: float = 1.0) -> None:
        self.start, self.end = _check_positive("start", start), _check_positive("end", end)
        self.fraction = check_float("fraction", fraction, minimum=0.0, maximum=1.0)
        if self.fraction == 0.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")

    def value(self, progress: float, n_updates: int) -> float:
        ramp = min(max(progress, 0.0) / self.fraction, 1.0)
        return self.start + (self.end - self.start) * ramp


class IntervalSharpness(SharpnessSchedule):
    """
    Piecewise-constant steps: ``values[i]`` during updates ``[i * every, (i + 1) * every)``, the last value after.
    Seed 002's interval schedule is ``IntervalSharpness(np.linspace(1, 100, n), every)``.

    :param values: the successive sharpness values, each > 0
    :param every: number of gradient updates per value, >= 1
    """

    def __init__(self, values: Sequence[float], every: int) -> None:
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise TypeError(f"values must be a sequence of positive numbers, got {values!r} ({type(values).__name__})")
        if len(values) == 0:
            raise ValueError(f"values must be a non-empty sequence of positive numbers, got {values!r}")
        self.values = [_check_positive(f"values[{i}]", v) for i, v in enumerate(values)]
        self.every = check_int("every", every, minimum=1)

    def value(self, progress: float, n_updates: int) -> float:
        return self.values[min(n_updates // self.every, len(self.values) - 1)]


class RewardAdaptiveSharpness(SharpnessSchedule):
    """
    Sharpness following the recent reward (seed 002's adaptive schedule): the mean over the last ``window``
    observations of ``0.5 * r + 0.5 * r'`` is mapped linearly from ``reward_range`` onto ``slope_range`` and clipped.
    ``r'`` is a second reward stream (e.g. the guiding policy's); it defaults to ``r``. Before any observation the
    lower end of ``slope_range`` (the shallowest slope) is used.

    :param reward_range: rewards mapped onto the two ends of ``slope_range``, increasing
    :param slope_range: (k_min, k_max), positive, non-decreasing
    :param window: number of recent observations averaged, >= 1
    """

    observes_rewards = True

    def __init__(
        self,
        reward_range: tuple[float, float] = (-400.0, 400.0),
        slope_range: tuple[float, float] = (2.0, 50.0),
        window: int = 10,
    ) -> None:
        self.reward_range = _check_pair("reward_range", reward_range)
        if not self.reward_range[0] < self.reward_range[1]:
            raise ValueError(f"reward_range must be increasing, got {reward_range}")
        self.slope_range = _check_pair("slope_range", slope_range)
        if not 0 < self.slope_range[0] <= self.slope_range[1]:
            raise ValueError(f"slope_range must be positive and non-decreasing, got {slope_range}")
        self.scores: deque[float] = deque(maxlen=check_int("window", window, minimum=1))

    def observe(self, reward: float, second_reward: float | None = None) -> None:
        second = reward if second_reward is None else second_reward
        self.scores.append(0.5 * float(reward) + 0.5 * float(second))

    def value(self, progress: float, n_updates: int) -> float:
        if not self.scores:
            return self.slope_range[0]
        low, high = self.reward_range
        fraction = float(np.clip((np.mean(self.scores) - low) / (high - low), 0.0, 1.0))
        return self.slope_range[0] + fraction * (self.slope_range[1] - self.slope_range[0])


def iter_surrogates(module: nn.Module) -> Iterator[Surrogate]:
    """
    Every distinct surrogate held as an attribute by ``module`` or its submodules.

    :param module: a network (e.g. an SB3 policy, which holds the target networks too)
    """
    seen: set[int] = set()
    for submodule in module.modules():
        for attribute in vars(submodule).values():
            if isinstance(attribute, Surrogate) and id(attribute) not in seen:
                seen.add(id(attribute))
                yield attribute


def set_sharpness(module: nn.Module, sharpness: float) -> int:
    """
    Set the sharpness of every surrogate in ``module``.

    :param module: a network
    :param sharpness: new slope (or 1 / width)
    :return: the number of surrogates changed
    """
    sharpness = _check_positive("sharpness", sharpness)
    count = 0
    for surrogate in iter_surrogates(module):
        surrogate.sharpness = sharpness
        count += 1
    return count
