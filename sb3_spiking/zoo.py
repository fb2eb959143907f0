"""rl-baselines3-zoo conventions of ``zoo_configs/`` for code that reads them without rl_zoo3 (benchmarks, tests)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from stable_baselines3.common.utils import LinearSchedule


def wrapper_class(entries: list[dict[str, dict[str, Any] | None]] | None) -> Callable[[gym.Env], gym.Env]:
    """
    The ``env_wrapper`` list of a zoo entry as one ``wrapper_class`` for ``make_vec_env``.

    :param entries: ``[{"package.module.Wrapper": {keyword arguments}}, ...]``, applied in order; ``None`` for none
    :return: a function wrapping an env with every entry
    """

    def wrap(env: gym.Env) -> gym.Env:
        for entry in entries or []:
            ((path, kwargs),) = entry.items()
            module, name = path.rsplit(".", 1)
            env = getattr(importlib.import_module(module), name)(env, **(kwargs or {}))
        return env

    return wrap


def hyperparameter(value: Any) -> Any:
    """
    A zoo hyperparameter value: ``"lin_<x>"`` becomes a schedule falling linearly from x to 0 over training
    (rl_zoo3's ``linear_schedule``), anything else is returned unchanged.

    :param value: the value from the config
    :return: the value to pass to the algorithm
    """
    if isinstance(value, str) and value.startswith("lin_"):
        return LinearSchedule(float(value[4:]), 0.0, 1.0)
    return value
