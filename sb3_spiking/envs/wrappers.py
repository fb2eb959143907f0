"""Reward wrappers for temporal-coded Q-networks (seed 001), whose Q-values live in ``z = exp(t) >= 1``."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym


class RewardShift(gym.RewardWrapper):
    """
    Scale every reward and add a constant, ``r' = scale * r + shift``, so that Q-values stay in the range a
    CVTC network can represent (``Q >= 1`` with ``q_sign=+1``; seed 001 Section 5.3 makes MountainCar's
    rewards positive), and in a narrow one (a CVTC neuron reaches a late spike ``z`` only with a summed weight
    ``W`` close to 1, where ``dz / dw ~ z / (W - 1)`` is steep).

    A plain shift changes the optimal policy when episodes end by termination (MountainCar: +1 per step
    would teach the car to avoid the goal). With ``gamma`` given, a terminal bonus
    ``gamma * shift / (1 - gamma)`` (the discounted value of the shift continued forever after the episode)
    is added on termination, not on truncation, which the algorithm bootstraps. Every Q-value then becomes
    ``Q' = scale * Q + shift / (1 - gamma)`` and the greedy policy is unchanged.

    :param env: environment to wrap
    :param shift: constant added to each (scaled) reward
    :param gamma: discount factor of the learner; ``None`` for a plain shift (no terminal bonus)
    :param scale: positive factor applied to each reward before the shift
    """

    def __init__(self, env: gym.Env, shift: float, gamma: float | None = None, scale: float = 1.0) -> None:
        super().__init__(env)
        if gamma is not None and not 0 <= gamma < 1:
            raise ValueError(f"gamma must be in [0, 1) or None, got {gamma}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.shift = float(shift)
        self.gamma = gamma
        self.scale = float(scale)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward = self.reward(reward)
        if terminated and self.gamma is not None:
            reward += self.gamma * self.shift / (1.0 - self.gamma)
        return obs, reward, terminated, truncated, info

    def reward(self, reward: SupportsFloat) -> float:
        return self.scale * float(reward) + self.shift
