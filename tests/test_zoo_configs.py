"""Every entry of zoo_configs/ builds its model (rl-zoo conventions) and takes a few learning steps."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
import yaml
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking.envs.wrappers import RewardShift
from sb3_spiking.marl import QMIX
from sb3_spiking.zoo import ALGOS, load_entry, parse_literal

ZOO = Path(__file__).resolve().parents[1] / "zoo_configs"
ENTRIES = [
    (path.stem, env_id)
    for path in sorted(ZOO.glob("*.yml"))
    for env_id in yaml.safe_load(path.read_text())
    if path.stem != "qmix"
]


@pytest.mark.parametrize("algo, env_id", ENTRIES, ids=[f"{a}-{e}" for a, e in ENTRIES])
def test_zoo_entry_builds_and_learns(algo: str, env_id: str) -> None:
    entry = load_entry(algo, env_id)
    assert entry.n_timesteps > 0 and entry.algo_class is ALGOS[algo]
    kwargs = dict(entry.kwargs)
    policy_kwargs = dict(kwargs.get("policy_kwargs", {}))
    if policy_kwargs.get("compile_network"):
        policy_kwargs["compile_network"] = False  # the configs as shipped, without minutes of compilation
    kwargs["policy_kwargs"] = policy_kwargs
    if "learning_starts" in kwargs:
        kwargs.update(learning_starts=10, batch_size=4)
    if algo == "recurrentppo":
        kwargs.update(n_steps=8, batch_size=8, n_epochs=1)
    if "buffer_size" in kwargs:
        kwargs.update(buffer_size=1000, train_freq=1, gradient_steps=1)
    if "seq_len" in kwargs:
        kwargs["seq_len"] = 8
    model = entry.algo_class(env=entry.make_env(seed=0), seed=0, **kwargs)
    model.learn(24)
    assert model.num_timesteps >= 24


@pytest.mark.parametrize("env_name", sorted(yaml.safe_load((ZOO / "qmix.yml").read_text())))
def test_zoo_qmix_entry_builds_and_learns(env_name: str) -> None:
    hyperparams = dict(yaml.safe_load((ZOO / "qmix.yml").read_text())[env_name])
    env = importlib.import_module(hyperparams.pop("env_module")).parallel_env(**hyperparams.pop("env_kwargs"))
    assert hyperparams.pop("n_timesteps") > 0
    for key in ("agent_kwargs", "mixer_kwargs"):
        if isinstance(hyperparams[key], str):
            hyperparams[key] = parse_literal(hyperparams[key])
    hyperparams.update(batch_size=2, buffer_size=10)
    model = QMIX(env=env, seed=0, **hyperparams)
    model.learn(60)
    assert model.num_timesteps >= 60


def test_literal_parser_reads_zoo_strings_without_eval() -> None:
    value = parse_literal("dict(a=[1, 2.5], b=(-3.0, 3.0), c=0.15 ** 0.5, d=nn.ReLU, e={'x': None}, f='s')")
    assert value == {"a": [1, 2.5], "b": (-3.0, 3.0), "c": 0.15**0.5, "d": torch.nn.ReLU, "e": {"x": None}, "f": "s"}
    for bad in ("__import__('os').system('true')", "dict(a=open('x'))", "nn.functional.relu", "[x for x in y]"):
        with pytest.raises(ValueError, match="unsupported expression"):
            parse_literal(bad)
    with pytest.raises(ValueError, match="not a Python literal"):
        parse_literal("dict(a=")


def test_load_entry_follows_rl_zoo_conventions(tmp_path: Path) -> None:
    conf = tmp_path / "td3.yml"
    conf.write_text(
        yaml.safe_dump(
            {
                "Pendulum-v1": {
                    "policy": "SpikingPopPolicy",
                    "n_timesteps": 1000,
                    "learning_rate": "lin_0.001",
                    "policy_kwargs": "dict(hidden_sizes=[8], surrogate='rectangular', net_arch=[8])",
                    "normalize": "{'norm_obs': True, 'norm_reward': False, 'clip_obs': 3.0}",
                    "env_wrapper": [{"sb3_spiking.envs.wrappers.RewardShift": {"shift": 0.5, "scale": 2.0}}],
                    "noise_type": "normal",
                    "noise_std": 0.3,
                    "gamma": 0.9,
                }
            }
        )
    )
    entry = load_entry("td3", "Pendulum-v1", conf, hyperparams={"policy_kwargs.surrogate": "trapezoidal"})
    schedule = entry.kwargs["learning_rate"]
    assert [schedule(p) for p in (1.0, 0.25, 0.0)] == pytest.approx([1e-3, 2.5e-4, 0.0])
    assert entry.kwargs["policy_kwargs"] == {"hidden_sizes": [8], "surrogate": "trapezoidal", "net_arch": [8]}
    assert entry.normalize_kwargs == {"norm_obs": True, "norm_reward": False, "clip_obs": 3.0, "gamma": 0.9}
    noise = entry.kwargs["action_noise"]
    assert isinstance(noise, NormalActionNoise) and noise._sigma.tolist() == [0.3]
    assert "noise_type" not in entry.kwargs and "normalize" not in entry.kwargs
    env = entry.make_env(seed=0)
    assert isinstance(env, VecNormalize) and env.clip_obs == 3.0
    inner = env.venv.envs[0]
    while not isinstance(inner, RewardShift):
        inner = inner.env
    assert (inner.shift, inner.scale) == (0.5, 2.0)
    assert not entry.make_env(seed=0, training=False).training
    model = entry.make_model(env, seed=0)
    assert type(model.policy).__name__ == "SpikingPopPolicy"


def test_load_entry_errors_list_the_valid_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown algorithm 'td4'.*'td3'"):
        load_entry("td4", "Pendulum-v1")
    with pytest.raises(ValueError, match=r"no entry for env 'Acrobot-v1'.*Pendulum-v1"):
        load_entry("td3", "Acrobot-v1")
    with pytest.raises(FileNotFoundError, match=r"nope\.yml"):
        load_entry("td3", "Pendulum-v1", tmp_path / "nope.yml")
    with pytest.raises(ValueError, match=r"cannot set 'gamma\.x'"):
        load_entry("td3", "Pendulum-v1", hyperparams={"gamma.x": 1})


def test_load_entry_reads_plain_string_wrappers(tmp_path: Path) -> None:
    conf = tmp_path / "dqn.yml"
    conf.write_text(
        "CartPole-v1:\n"
        "  policy: CVTCPolicy\n"
        "  n_timesteps: 100\n"
        "  env_wrapper: gymnasium.wrappers.TimeAwareObservation\n"  # rl_zoo3's plain-string form
        '  policy_kwargs: "dict(hidden_sizes=[8], gains=[1.0, 1.0, 1.0, 1.0, 1.0])"\n'
    )
    entry = load_entry("dqn", "CartPole-v1", conf)
    env = entry.make_env(seed=0)
    assert env.observation_space.shape == (5,)  # the wrapper appended the time step
