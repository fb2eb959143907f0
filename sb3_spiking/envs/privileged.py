"""
The full state of a partially observed task in ``info`` (privileged observation), for the guide policies of guided
training (seed 002, :mod:`sb3_spiking.algos.guided`): a guide trained on ``Pendulum-v1`` drives ``Pendulum-P-v0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from sb3_spiking.envs.pomdp import POMDP_SPECS, make_pomdp

PRIVILEGED_KEY = "privileged_obs"
"""The ``info`` key of the full observation."""

FULL_OBSERVATIONS: dict[type[gym.Env], Callable[[Any], np.ndarray]] = {
    PendulumEnv: lambda env: np.asarray(env._get_obs(), dtype=np.float32),  # [cos th, sin th, th dot]
    CartPoleEnv: lambda env: np.asarray(env.state, dtype=np.float32),  # [x, x dot, theta, theta dot]
}
"""Base env class -> its observation computed from its current state (what the fully observed env returns)."""

PRIVILEGED_IDS: dict[str, str] = {env_id.replace("-v0", "-Privileged-v0"): env_id for env_id in POMDP_SPECS}
"""Registered ids: ``Pendulum-P-Privileged-v0`` is ``Pendulum-P-v0`` with the full state in ``info``, and so on."""


class PrivilegedObservation(gym.Wrapper):
    """
    Put the full observation of the base environment (``Pendulum-v1``'s ``[cos, sin, velocity]``, ``CartPole-v1``'s
    four values) in ``info[key]`` at reset and after every step, whatever the wrappers above the base env hide.
    The observation itself is unchanged. ``privileged_space`` is the base env's observation space.

    :param env: an env whose base env is in :data:`FULL_OBSERVATIONS` (any of the POMDP ids), or any env with
        ``full_observation``
    :param key: the ``info`` key
    :param full_observation: ``unwrapped env -> full observation``; ``None`` for :data:`FULL_OBSERVATIONS`
    """

    def __init__(
        self,
        env: gym.Env,
        key: str = PRIVILEGED_KEY,
        full_observation: Callable[[Any], np.ndarray] | None = None,
    ) -> None:
        super().__init__(env)
        if not isinstance(key, str) or not key:
            raise TypeError(f"key must be a non-empty str, got {key!r}")
        if full_observation is None:
            base = type(env.unwrapped)
            found = [fn for cls, fn in FULL_OBSERVATIONS.items() if issubclass(base, cls)]
            if not found:
                known = ", ".join(cls.__name__ for cls in FULL_OBSERVATIONS)
                raise ValueError(
                    f"PrivilegedObservation knows the full observation of {known}, not of {base.__name__}: pass "
                    "full_observation=(unwrapped env -> observation)"
                )
            full_observation = found[0]
        elif not callable(full_observation):
            raise TypeError(f"full_observation must be callable or None, got {full_observation!r}")
        self.key = key
        self.full_observation = full_observation
        self.privileged_space: spaces.Space = env.unwrapped.observation_space

    def _add(self, info: dict[str, Any]) -> dict[str, Any]:
        return {**info, self.key: self.full_observation(self.env.unwrapped)}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, self._add(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._add(info)


def make_privileged(env_id: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """
    :param env_id: a POMDP id of :data:`~sb3_spiking.envs.pomdp.POMDP_SPECS` (``"Pendulum-P-v0"``, ...)
    :param render_mode: passed to the base environment
    :param kwargs: extra arguments of :func:`~sb3_spiking.envs.pomdp.make_pomdp`
    :return: the POMDP task with its full state in ``info["privileged_obs"]``
    """
    return PrivilegedObservation(make_pomdp(env_id, render_mode=render_mode, **kwargs))


def register_privileged_envs() -> None:
    """Register :data:`PRIVILEGED_IDS` with gymnasium (idempotent), 200-step episodes as the POMDP ids."""
    for privileged_id, env_id in PRIVILEGED_IDS.items():
        if privileged_id not in gym.registry:
            gym.register(
                id=privileged_id,
                entry_point="sb3_spiking.envs.privileged:make_privileged",
                max_episode_steps=gym.spec(env_id).max_episode_steps,
                kwargs={"env_id": env_id, "max_episode_steps": None},
            )
