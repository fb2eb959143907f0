"""Every entry of zoo_configs/ builds its model (rl-zoo conventions) and takes a few learning steps."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch
import yaml
from stable_baselines3.common.env_util import make_vec_env

import sb3_spiking
from sb3_spiking.envs.wrappers import RewardShift
from sb3_spiking.hub import ALGOS as HUB_ALGOS
from sb3_spiking.marl import QMIX
from sb3_spiking.zoo import hyperparameter, wrapper_class

ZOO = Path(__file__).resolve().parents[1] / "zoo_configs"
ALGOS = {**HUB_ALGOS, "recurrent_td3": sb3_spiking.RecurrentTD3, "recurrent_dqn": sb3_spiking.RecurrentDQN}
# keys rl_zoo3 itself consumes (env creation, normalisation, noise), not constructor arguments
ZOO_ONLY = ("n_timesteps", "n_envs", "normalize", "env_wrapper", "noise_type", "noise_std")
ENTRIES = [
    (path.stem, env_id)
    for path in sorted(ZOO.glob("*.yml"))
    for env_id in yaml.safe_load(path.read_text())
    if path.stem != "qmix"
]


def _constructor_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    kwargs = {key: hyperparameter(value) for key, value in hyperparams.items() if key not in ZOO_ONLY}
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"], {"dict": dict, "nn": torch.nn})
    return kwargs


@pytest.mark.parametrize("algo, env_id", ENTRIES, ids=[f"{a}-{e}" for a, e in ENTRIES])
def test_zoo_entry_builds_and_learns(algo: str, env_id: str) -> None:
    hyperparams = yaml.safe_load((ZOO / f"{algo}.yml").read_text())[env_id]
    assert hyperparams["n_timesteps"] > 0
    kwargs = _constructor_kwargs(hyperparams)
    if "learning_starts" in kwargs:
        kwargs.update(learning_starts=10, batch_size=4)
    if algo == "recurrentppo":
        kwargs.update(n_steps=8, batch_size=8, n_epochs=1)
    if "buffer_size" in kwargs:
        kwargs.update(buffer_size=1000, train_freq=1, gradient_steps=1)
    if "seq_len" in kwargs:
        kwargs["seq_len"] = 8
    n_envs = hyperparams.get("n_envs", 1)
    env = make_vec_env(env_id, n_envs=n_envs, seed=0, wrapper_class=wrapper_class(hyperparams.get("env_wrapper")))
    model = ALGOS[algo](env=env, seed=0, **kwargs)
    model.learn(24)
    assert model.num_timesteps >= 24


@pytest.mark.parametrize("env_name", sorted(yaml.safe_load((ZOO / "qmix.yml").read_text())))
def test_zoo_qmix_entry_builds_and_learns(env_name: str) -> None:
    hyperparams = dict(yaml.safe_load((ZOO / "qmix.yml").read_text())[env_name])
    env = importlib.import_module(hyperparams.pop("env_module")).parallel_env(**hyperparams.pop("env_kwargs"))
    assert hyperparams.pop("n_timesteps") > 0
    for key in ("agent_kwargs", "mixer_kwargs"):
        hyperparams[key] = eval(hyperparams[key], {"dict": dict})
    hyperparams.update(batch_size=2, buffer_size=10)
    model = QMIX(env=env, seed=0, **hyperparams)
    model.learn(60)
    assert model.num_timesteps >= 60


def test_zoo_helpers_follow_rl_zoo_conventions() -> None:
    schedule = hyperparameter("lin_0.001")
    assert [schedule(p) for p in (1.0, 0.25, 0.0)] == pytest.approx([1e-3, 2.5e-4, 0.0])
    assert hyperparameter(0.5) == 0.5 and hyperparameter("auto") == "auto"
    wrap = wrapper_class([{"sb3_spiking.envs.wrappers.RewardShift": {"shift": 0.5, "scale": 2.0}}])
    env = wrap(gym.make("CartPole-v1"))
    assert isinstance(env, RewardShift) and (env.shift, env.scale) == (0.5, 2.0)
    assert wrapper_class(None)(env) is env
