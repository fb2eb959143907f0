"""Surrogate sharpness schedules (seed 002: shallower or scheduled slopes train better in RL).

A schedule maps the training state to a sharpness value: the slope (``k``, ``alpha``) of smooth surrogates, or
``1 / width`` of the width-based ones (see :attr:`sb3_spiking.snn.surrogate.Surrogate.sharpness`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np
from torch import nn

from sb3_spiking.snn.surrogate import Surrogate


class SharpnessSchedule(ABC):
    """Base class: :meth:`value` gives the sharpness in force."""

    @abstractmethod
    def value(self, progress: float, n_updates: int) -> float:
        """
        :param progress: fraction of training done, in [0, 1]
        :param n_updates: number of gradient updates done so far
        :return: the sharpness to use now
        """

    def observe(self, reward: float, second_reward: float | None = None) -> None:  # noqa: B027
        """Feed an evaluation result; only reward-adaptive schedules use it."""


class ConstantSchedule(SharpnessSchedule):
    """
    Fixed sharpness (seed 002's fixed slopes, e.g. k in {2, 50, 100}).

    :param sharpness: the value
    """

    def __init__(self, sharpness: float) -> None:
        if not sharpness > 0:
            raise ValueError(f"sharpness must be positive, got {sharpness}")
        self.sharpness = float(sharpness)

    def value(self, progress: float, n_updates: int) -> float:
        return self.sharpness


class LinearSchedule(SharpnessSchedule):
    """
    Linear ramp from ``start`` to ``end`` over the first ``fraction`` of training, then constant.

    :param start: sharpness at the start
    :param end: sharpness once ``fraction`` of training is done
    :param fraction: fraction of training over which to ramp, in (0, 1]
    """

    def __init__(self, start: float, end: float, fraction: float = 1.0) -> None:
        if not (start > 0 and end > 0):
            raise ValueError(f"start and end must be positive, got {start}, {end}")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.start, self.end, self.fraction = float(start), float(end), float(fraction)

    def value(self, progress: float, n_updates: int) -> float:
        ramp = min(max(progress, 0.0) / self.fraction, 1.0)
        return self.start + (self.end - self.start) * ramp


class IntervalSchedule(SharpnessSchedule):
    """
    Piecewise-constant steps: ``values[i]`` during updates ``[i * every, (i + 1) * every)``, the last value after.
    Seed 002's interval schedule is ``IntervalSchedule(np.linspace(1, 100, n), every)``.

    :param values: the successive sharpness values
    :param every: number of gradient updates per value
    """

    def __init__(self, values: Sequence[float], every: int) -> None:
        if len(values) == 0 or min(values) <= 0:
            raise ValueError(f"values must be a non-empty sequence of positive numbers, got {values}")
        if every < 1:
            raise ValueError(f"every must be a positive number of updates, got {every}")
        self.values = [float(v) for v in values]
        self.every = int(every)

    def value(self, progress: float, n_updates: int) -> float:
        return self.values[min(n_updates // self.every, len(self.values) - 1)]


class RewardAdaptiveSchedule(SharpnessSchedule):
    """
    Sharpness following the recent reward (seed 002's adaptive schedule): the mean over the last ``window``
    observations of ``0.5 * r + 0.5 * r'`` is mapped linearly from ``reward_range`` onto ``slope_range`` and clipped.
    ``r'`` is a second reward stream (e.g. the guiding policy's); it defaults to ``r``. Before any observation the
    lower end of ``slope_range`` (the shallowest slope) is used.

    :param reward_range: rewards mapped onto the two ends of ``slope_range``
    :param slope_range: (k_min, k_max)
    :param window: number of recent observations averaged
    """

    def __init__(
        self,
        reward_range: tuple[float, float] = (-400.0, 400.0),
        slope_range: tuple[float, float] = (2.0, 50.0),
        window: int = 10,
    ) -> None:
        if not reward_range[0] < reward_range[1]:
            raise ValueError(f"reward_range must be increasing, got {reward_range}")
        if not 0 < slope_range[0] <= slope_range[1]:
            raise ValueError(f"slope_range must be positive and increasing, got {slope_range}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.reward_range = (float(reward_range[0]), float(reward_range[1]))
        self.slope_range = (float(slope_range[0]), float(slope_range[1]))
        self.scores: deque[float] = deque(maxlen=window)

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
    count = 0
    for surrogate in iter_surrogates(module):
        surrogate.sharpness = sharpness
        count += 1
    return count
