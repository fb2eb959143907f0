"""Partially observable classic control tasks (seed 003, section 5.1): only positions (-P) or only velocities (-V)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_spiking.validation import check_choice, check_int

POMDP_SPECS: dict[str, tuple[str, tuple[int, ...]]] = {
    "Pendulum-P-v0": ("Pendulum-v1", (0, 1)),
    "Pendulum-V-v0": ("Pendulum-v1", (2,)),
    "CartPole-P-v0": ("CartPole-v1", (0, 2)),
    "CartPole-V-v0": ("CartPole-v1", (1, 3)),
}
"""POMDP id -> (base env id, kept observation dims)."""

MAX_EPISODE_STEPS = 200


class ObservationSubset(gym.ObservationWrapper):
    """
    Keep only some dimensions of a Box observation.

    :param env: environment with a 1-D Box observation space
    :param keep: indices of the kept dimensions
    """

    def __init__(self, env: gym.Env, keep: Sequence[int]) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"ObservationSubset needs a 1-D Box observation space, got {space}")
        keep = [int(i) for i in keep]
        if not keep or any(not 0 <= i < space.shape[0] for i in keep):
            raise ValueError(f"keep must be a non-empty list of indices in [0, {space.shape[0]}), got {keep}")
        self.keep = np.asarray(keep)
        self.observation_space = spaces.Box(space.low[self.keep], space.high[self.keep], dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.keep]


def make_pomdp(
    env_id: str, render_mode: str | None = None, max_episode_steps: int | None = MAX_EPISODE_STEPS, **kwargs: Any
) -> gym.Env:
    """
    Build one of the POMDP tasks of :data:`POMDP_SPECS`.

    :param env_id: ``"Pendulum-P-v0"``, ``"Pendulum-V-v0"``, ``"CartPole-P-v0"`` or ``"CartPole-V-v0"``
    :param render_mode: passed to the base environment
    :param max_episode_steps: episodes are truncated after this many steps; ``None`` for no time limit (the
        registered ids use ``None`` here and take gymnasium's own, 200 unless ``gym.make`` is given another)
    :param kwargs: extra arguments of the base environment
    :return: the wrapped environment
    """
    check_choice("env_id", env_id, sorted(POMDP_SPECS))
    if max_episode_steps is not None:
        max_episode_steps = check_int("max_episode_steps", max_episode_steps, minimum=1)
    base_id, keep = POMDP_SPECS[env_id]
    # max_episode_steps=-1: no time limit on the base env (Pendulum-v1 and CartPole-v1 register their own)
    env: gym.Env = ObservationSubset(gym.make(base_id, render_mode=render_mode, max_episode_steps=-1, **kwargs), keep)
    if max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
    return env


def register_pomdp_envs() -> None:
    """Register the POMDP ids with gymnasium (idempotent), with 200-step episodes unless ``gym.make`` says otherwise."""
    for env_id in POMDP_SPECS:
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="sb3_spiking.envs.pomdp:make_pomdp",
                max_episode_steps=MAX_EPISODE_STEPS,
                kwargs={"env_id": env_id, "max_episode_steps": None},  # the limit is gym.make's TimeLimit alone
            )
