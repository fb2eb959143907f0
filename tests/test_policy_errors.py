"""Bad settings of SpikingPopPolicy (TD3/DDPG/SAC) and CVTCPolicy (DQN/DoubleDQN) fail at construction, and
non-finite observations fail in predict and in training rollouts: the exception type, and a message naming the
argument (or the observation index)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import DDPG, DQN, SAC, TD3
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

import sb3_spiking  # noqa: F401
from sb3_spiking import DoubleDQN
from sb3_spiking.policies.cvtc import CVTCPolicy
from sb3_spiking.policies.popsan import PopSANConfig, PopSpikingNetwork, SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.snn.surrogate import make

BOX_OBS = spaces.Box(-1.0, 1.0, (4,), np.float32)
BOX_ACT = spaces.Box(-1.0, 1.0, (2,), np.float32)
SMALL_POP = dict(hidden_sizes=[8], encoder_pop_dim=3, decoder_pop_dim=2, net_arch=[8])
SMALL_CVTC = dict(hidden_sizes=[6])


def lr(_: float) -> float:
    return 1e-3


POP_CASES = [
    (dict(hidden_sizes="64"), TypeError, "hidden_sizes"),
    (dict(hidden_sizes=[2.7]), TypeError, "hidden_sizes[0]"),
    (dict(hidden_sizes=64), TypeError, "hidden_sizes"),
    (dict(hidden_sizes=[]), ValueError, "hidden_sizes"),
    (dict(hidden_sizes=[16, 0]), ValueError, "hidden_sizes[1]"),
    (dict(compile_network="no"), TypeError, "compile_network"),
    (dict(threshold=math.inf), ValueError, "threshold"),
    (dict(threshold=0.0), ValueError, "threshold"),
    (dict(spike_ts=None), TypeError, "spike_ts"),
    (dict(spike_ts=2.5), TypeError, "spike_ts"),
    (dict(spike_ts=0), ValueError, "spike_ts"),
    (dict(mean_range=3), TypeError, "mean_range"),
    (dict(mean_range=(3.0, -3.0)), ValueError, "mean_range"),
    (dict(mean_range=(-3.0, math.nan)), ValueError, "mean_range[1]"),
    (dict(encoder_pop_dim=1), ValueError, "encoder_pop_dim"),
    (dict(encoder_pop_dim="10"), TypeError, "encoder_pop_dim"),
    (dict(decoder_pop_dim=0), ValueError, "decoder_pop_dim"),
    (dict(encoder_std=-0.1), ValueError, "encoder_std"),
    (dict(encoder_std=math.nan), ValueError, "encoder_std"),
    (dict(current_decay=1.5), ValueError, "current_decay"),
    (dict(voltage_decay=-0.1), ValueError, "voltage_decay"),
    (dict(neuron="izhikevich"), ValueError, "neuron"),
    (dict(encoder="poisson"), ValueError, "encoder"),
    (dict(encoder=3), TypeError, "encoder"),
    (dict(surrogate="relu"), ValueError, "surrogate"),
    (dict(surrogate=dict(name="trapezoidal", w1=0.6, w2=0.5)), ValueError, "surrogate"),
    (dict(neuron="dynamic", dynamic_params=dict(theta_x=1.0)), ValueError, "dynamic_params"),
    (dict(dynamic_params=dict(theta_v=1.0)), ValueError, "dynamic_params"),
    (dict(neuron="dynamic", dynamic_params=dict(u_sign=0.5)), ValueError, "u_sign"),
    (dict(neuron="dynamic", dynamic_params=dict(theta_v=math.nan)), ValueError, "theta_v"),
    (dict(neuron="dynamic", dynamic_params=[1.0]), TypeError, "dynamic_params"),
    (dict(net_arch="64"), TypeError, "net_arch"),
    (dict(net_arch=dict(pi=[64], qf=[64])), ValueError, "net_arch"),
    (dict(spike_steps=5), TypeError, "spike_steps"),
]


@pytest.mark.parametrize("policy_class", [SpikingPopPolicy, SpikingPopSACPolicy])
@pytest.mark.parametrize(("kwargs", "error", "name"), POP_CASES, ids=[str(c[0]) for c in POP_CASES])
def test_spiking_pop_policy_refuses(policy_class: type, kwargs: dict[str, Any], error: type, name: str) -> None:
    with pytest.raises(error) as info:
        policy_class(BOX_OBS, BOX_ACT, lr, **{**SMALL_POP, **kwargs})
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(log_std_hidden_sizes=[-1]), ValueError, "log_std_hidden_sizes[0]"),
        (dict(log_std_hidden_sizes="64"), TypeError, "log_std_hidden_sizes"),
        (dict(use_sde="yes"), TypeError, "use_sde"),
        (dict(use_sde=True), ValueError, "use_sde"),
    ],
)
def test_spiking_pop_sac_policy_refuses(kwargs: dict[str, Any], error: type, name: str) -> None:
    with pytest.raises(error) as info:
        SpikingPopSACPolicy(BOX_OBS, BOX_ACT, lr, **{**SMALL_POP, **kwargs})
    assert name in str(info.value)


def test_config_is_the_one_place_of_the_settings() -> None:
    """The policies save the config's plain values and rebuild the same config from them."""
    kwargs = dict(SMALL_POP, surrogate="trapezoidal", spike_ts=4, mean_range=[-2, 2], neuron="dynamic")
    for policy_class in (SpikingPopPolicy, SpikingPopSACPolicy):
        policy = policy_class(BOX_OBS, BOX_ACT, lr, **kwargs)
        config = policy.config
        assert config.encoder == "real" and config.mean_range == (-2.0, 2.0) and config.hidden_sizes == (8,)
        assert config.surrogate == make("trapezoidal").to_dict()  # a plain dict, whatever was passed
        saved = policy._get_constructor_parameters()
        assert {k: saved[k] for k in PopSANConfig.field_names()} == config.as_kwargs()
        assert PopSANConfig.from_kwargs(config.as_kwargs()) == config
        assert policy.actor.net.config is config
    with pytest.raises(TypeError, match="config"):
        PopSpikingNetwork(4, 2, config=dict(spike_ts=5))


CVTC_CASES = [
    (dict(hidden_sizes="64"), TypeError, "hidden_sizes"),
    (dict(hidden_sizes=[2.7]), TypeError, "hidden_sizes[0]"),
    (dict(hidden_sizes=64), TypeError, "hidden_sizes"),
    (dict(hidden_sizes=[0]), ValueError, "hidden_sizes[0]"),
    (dict(z_max=math.nan), ValueError, "z_max"),
    (dict(gains=[0.0, 0.0, 0.0, 0.0]), ValueError, "gains"),
    (dict(gains=[1.0, math.nan, 1.0, 1.0]), ValueError, "gains[1]"),
    (dict(gains="1"), TypeError, "gains"),
    (dict(gains=[1.0, 2.0]), ValueError, "gains"),
    (dict(beta=-1.0), ValueError, "beta"),
    (dict(beta=math.inf), ValueError, "beta"),
    (dict(q_sign=2), ValueError, "q_sign"),
    (dict(q_sign=1.0), TypeError, "q_sign"),
    (dict(n_neurons=1), ValueError, "n_neurons"),
    (dict(n_neurons=2.0), TypeError, "n_neurons"),
    (dict(sigma=0.0), ValueError, "sigma"),
    (dict(height=-1.0), ValueError, "height"),
    (dict(cap=0.0), ValueError, "cap"),
    (dict(cap=None, height=50.0), ValueError, "cap"),
    (dict(init="orthogonal"), ValueError, "init"),
    (dict(init_mean=math.inf), ValueError, "init_mean"),
    (dict(init_std=-1.0), ValueError, "init_std"),
    (dict(obs_range=0.0), ValueError, "obs_range"),
    (dict(obs_range=[1.0, 2.0]), ValueError, "obs_range"),
    (dict(obs_range="3"), TypeError, "obs_range"),
    (dict(obs_range=3.0, gains=[1.0] * 4), ValueError, "obs_range"),
    (dict(compile_network="no"), TypeError, "compile_network"),
    (dict(normalize_images="no"), TypeError, "normalize_images"),
    (dict(n_layers=2), TypeError, "n_layers"),
]


@pytest.mark.parametrize(("kwargs", "error", "name"), CVTC_CASES, ids=[str(c[0]) for c in CVTC_CASES])
def test_cvtc_policy_refuses(kwargs: dict[str, Any], error: type, name: str) -> None:
    with pytest.raises(error) as info:
        CVTCPolicy(BOX_OBS, spaces.Discrete(2), lr, **{**SMALL_CVTC, **kwargs})
    assert name in str(info.value)


class Doubler(BaseFeaturesExtractor):
    def __init__(self, observation_space: spaces.Box) -> None:
        super().__init__(observation_space, features_dim=8)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.cat((obs, 2 * obs), dim=1)


def test_cvtc_policy_refuses_an_unknown_encoding_range() -> None:
    unbounded = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    with pytest.raises(ValueError, match=r"unbounded in components \[0, 1, 2\].*obs_range"):
        CVTCPolicy(unbounded, spaces.Discrete(2), lr, **SMALL_CVTC)
    with pytest.raises(ValueError, match=r"Doubler.*gains"):
        CVTCPolicy(BOX_OBS, spaces.Discrete(2), lr, features_extractor_class=Doubler, **SMALL_CVTC)
    policy = CVTCPolicy(BOX_OBS, spaces.Discrete(2), lr, features_extractor_class=Doubler, gains=[1.0] * 8)
    assert policy.q_net.encoder.gains.tolist() == [1.0] * 8


def test_cvtc_policy_refuses_unsupported_spaces() -> None:
    with pytest.raises(ValueError, match="Discrete"):
        CVTCPolicy(BOX_OBS, BOX_ACT, lr)
    with pytest.raises(ValueError, match="Box, Discrete"):
        CVTCPolicy(spaces.Dict({"a": BOX_OBS}), spaces.Discrete(2), lr, gains=None)


class NaNAfter(gym.Wrapper):
    """Puts NaN into observation component ``index`` from the ``step``-th step on."""

    def __init__(self, env: gym.Env, step: int, index: int) -> None:
        super().__init__(env)
        self.after, self.index, self.count = step, index, 0

    def step(self, action: Any) -> tuple:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        if self.count >= self.after:
            obs = obs.copy()
            obs[self.index] = np.nan
        return obs, reward, terminated, truncated, info


POP_ALGOS = [(TD3, "Pendulum-v1"), (DDPG, "Pendulum-v1"), (SAC, "Pendulum-v1")]
CVTC_ALGOS = [(DQN, "MountainCar-v0"), (DoubleDQN, "MountainCar-v0")]


def make_model(algo: type, env: gym.Env | str, **kwargs: Any) -> Any:
    if algo in (DQN, DoubleDQN):
        policy_kwargs = dict(SMALL_CVTC, q_sign=-1)
        kwargs = dict(exploration_initial_eps=0.0, exploration_final_eps=0.0, **kwargs)
        return algo("CVTCPolicy", env, policy_kwargs=policy_kwargs, seed=0, **kwargs)
    return algo("SpikingPopPolicy", env, policy_kwargs=dict(SMALL_POP), seed=0, **kwargs)  # SAC adds use_sde


@pytest.mark.parametrize(("algo", "env_id"), POP_ALGOS + CVTC_ALGOS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predict_refuses_non_finite_observations(algo: type, env_id: str, bad: float) -> None:
    model = make_model(algo, env_id)
    obs = np.zeros((3, *model.observation_space.shape), np.float32)
    model.predict(obs, deterministic=True)  # finite: fine
    obs[2, 1] = bad
    with pytest.raises(ValueError, match=r"index \(2, 1\)"):
        model.predict(obs, deterministic=True)
    with pytest.raises(ValueError, match=r"index \(0, 1\)"):
        model.predict(obs[2], deterministic=False)


@pytest.mark.parametrize(("algo", "env_id"), POP_ALGOS + CVTC_ALGOS, ids=lambda x: getattr(x, "__name__", x))
def test_training_rollout_refuses_non_finite_observations(algo: type, env_id: str) -> None:
    env = NaNAfter(gym.make(env_id), step=5, index=1)
    model = make_model(algo, env, learning_starts=0, batch_size=4, train_freq=1)
    with pytest.raises(ValueError, match=r"non-finite value nan at index \(0, 1\)"):
        model.learn(20)
    assert 5 <= model.num_timesteps < 20
