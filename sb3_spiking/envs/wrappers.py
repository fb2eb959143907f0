"""Reward wrappers for temporal-coded Q-networks (seed 001), whose Q-values live in ``z = exp(t) >= 1``."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym


class RewardShift(gym.RewardWrapper):
    """
    Add a constant to every reward, so that Q-values stay in the range a CVTC network can represent
    (``Q >= 1`` with ``q_sign=+1``; seed 001 Section 5.3 makes MountainCar's rewards positive).

    A plain shift changes the optimal policy when episodes end by termination (MountainCar: +1 per step
    would teach the car to avoid the goal). With ``gamma`` given, a terminal bonus
    ``gamma * shift / (1 - gamma)`` (the discounted value of the shift continued forever after the episode)
    is added on termination, not on truncation, which the algorithm bootstraps. Every Q-value then moves by
    exactly ``shift / (1 - gamma)`` and the greedy policy is unchanged.

    :param env: environment to wrap
    :param shift: constant added to each reward
    :param gamma: discount factor of the learner; ``None`` for a plain shift (no terminal bonus)
    """

    def __init__(self, env: gym.Env, shift: float, gamma: float | None = None) -> None:
        super().__init__(env)
        if gamma is not None and not 0 <= gamma < 1:
            raise ValueError(f"gamma must be in [0, 1) or None, got {gamma}")
        self.shift = float(shift)
        self.gamma = gamma

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward = self.reward(reward)
        if terminated and self.gamma is not None:
            reward += self.gamma * self.shift / (1.0 - self.gamma)
        return obs, reward, terminated, truncated, info

    def reward(self, reward: SupportsFloat) -> float:
        return float(reward) + self.shift
