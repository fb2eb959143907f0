"""Pretrained agents in the Hugging Face Hub repo layout (rl_zoo3 compatible).

A folder ``<algo>-<policy>-<env>/`` holds ``<algo>-<env>.zip``, ``config.yml``, ``env_kwargs.yml``,
``vec_normalize.pkl`` (when the observations are normalised), ``results.json`` and a ``README.md`` model card.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sb3_spiking.zoo import ALGOS

CONFIG_KEYS = ("algo", "policy", "env_id", "normalize")


def _algo_name(model: BaseAlgorithm) -> str:
    for name, cls in ALGOS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"unsupported algorithm {type(model).__name__}; allowed: {sorted(ALGOS)}")


def make_eval_env(env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int | None = None) -> VecEnv:
    """
    One-env ``DummyVecEnv`` of a ``Monitor``-wrapped env, for evaluation.

    :param env_id: gymnasium id
    :param env_kwargs: keyword arguments of ``gym.make``
    :param seed: seed of the env
    """
    env = DummyVecEnv([lambda: Monitor(gym.make(env_id, **(env_kwargs or {})))])
    env.seed(seed)
    return env


def package(
    model: BaseAlgorithm,
    env_id: str,
    out_dir: str | Path,
    vec_normalize: VecNormalize | None = None,
    env_kwargs: dict[str, Any] | None = None,
    n_eval_episodes: int = 10,
    command: str = "",
    extra_card: str = "",
) -> Path:
    """
    Write an agent folder in the hub layout, with results measured now over ``n_eval_episodes``.

    :param model: the trained model
    :param env_id: gymnasium id of its env
    :param out_dir: parent folder; the agent goes to ``out_dir/<algo>-<policy>-<env_id>``
    :param vec_normalize: the normalisation wrapper used in training, if any
    :param env_kwargs: keyword arguments of ``gym.make``
    :param n_eval_episodes: deterministic evaluation episodes for ``results.json``
    :param command: the command that trained the model (goes into the model card)
    :param extra_card: extra markdown for the model card (spiking details)
    :return: the agent folder
    """
    algo = _algo_name(model)
    policy = type(model.policy).__name__
    folder = Path(out_dir) / f"{algo}-{policy}-{env_id}"
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / f"{algo}-{env_id}.zip")
    env = make_eval_env(env_id, env_kwargs, seed=0)
    if vec_normalize is not None:
        vec_normalize.save(str(folder / "vec_normalize.pkl"))
        env = VecNormalize.load(str(folder / "vec_normalize.pkl"), env)
        env.training, env.norm_reward = False, False
    mean, std = evaluate_policy(model, env, n_eval_episodes=n_eval_episodes, deterministic=True)
    results = {
        "mean_reward": float(mean),
        "std_reward": float(std),
        "n_eval_episodes": n_eval_episodes,
        "eval_datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / "env_kwargs.yml").write_text(yaml.safe_dump(env_kwargs or {}))
    config = {"algo": algo, "policy": policy, "env_id": env_id, "normalize": vec_normalize is not None}
    (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    card = f"""---
library_name: stable-baselines3
tags:
- reinforcement-learning
- stable-baselines3
- spiking-neural-networks
- sb3-spiking
- {env_id}
model-index:
- name: {algo.upper()}
  results:
  - task:
      type: reinforcement-learning
      name: reinforcement-learning
    dataset:
      name: {env_id}
      type: {env_id}
    metrics:
    - type: mean_reward
      value: {mean:.2f} +/- {std:.2f}
      name: mean_reward
---
# {algo.upper()} + {policy} on {env_id}

A spiking agent trained with [sb3-spiking](https://github.com/sb3-spiking/sb3-spiking).
Mean return {mean:.1f} +/- {std:.1f} over {n_eval_episodes} deterministic episodes.

{extra_card}

Reproduce: `{command}`
"""
    (folder / "README.md").write_text(card)
    return folder


def load_local(folder: str | Path, seed: int | None = None, device: str = "auto") -> tuple[BaseAlgorithm, VecEnv]:
    """
    Load an agent folder in the hub layout, with its normalisation statistics applied to a fresh env.

    :param folder: the agent folder
    :param seed: seed of the evaluation env
    :param device: torch device of the model
    :return: the model and its (normalised, non-training) evaluation env
    """
    folder = Path(folder)
    config_file = folder / "config.yml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not an sb3-spiking agent folder: no config.yml")
    config = yaml.safe_load(config_file.read_text())
    missing = [key for key in CONFIG_KEYS if not isinstance(config, dict) or key not in config]
    if missing:
        raise ValueError(
            f"{str(config_file)!r} lacks the keys {missing}; an agent's config.yml holds {list(CONFIG_KEYS)}"
        )
    algo, env_id = config["algo"], config["env_id"]
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r} in {folder / 'config.yml'}; allowed: {sorted(ALGOS)}")
    env_kwargs = yaml.safe_load((folder / "env_kwargs.yml").read_text()) or {}
    env = make_eval_env(env_id, env_kwargs, seed)
    if config.get("normalize"):
        env = VecNormalize.load(str(folder / "vec_normalize.pkl"), env)
        env.training, env.norm_reward = False, False
    model = ALGOS[algo].load(folder / f"{algo}-{env_id}.zip", env=env, device=device)
    return model, env
