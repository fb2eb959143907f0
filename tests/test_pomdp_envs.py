"""POMDP classic control ids (seed 003, section 5.1) and the previous action / reward observation wrapper."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import sb3_spiking
from sb3_spiking.envs import VecPrevActionReward

KEPT = {
    "Pendulum-P-v0": ("Pendulum-v1", [0, 1]),
    "Pendulum-V-v0": ("Pendulum-v1", [2]),
    "CartPole-P-v0": ("CartPole-v1", [0, 2]),
    "CartPole-V-v0": ("CartPole-v1", [1, 3]),
}


@pytest.mark.parametrize("env_id", sorted(KEPT))
def test_observation_is_the_sliced_base_observation(env_id: str) -> None:
    base_id, keep = KEPT[env_id]
    env, base = gym.make(env_id), gym.make(base_id)
    assert env.observation_space == gym.spaces.Box(
        base.observation_space.low[keep], base.observation_space.high[keep], dtype=base.observation_space.dtype
    )
    assert env.action_space == base.action_space
    obs, _ = env.reset(seed=3)
    base_obs, _ = base.reset(seed=3)
    np.testing.assert_array_equal(obs, base_obs[keep])
    env.action_space.seed(0)
    for _ in range(30):
        action = env.action_space.sample()
        obs, reward, terminated, _, _ = env.step(action)
        base_obs, base_reward, base_terminated, _, _ = base.step(action)
        np.testing.assert_array_equal(obs, base_obs[keep])
        assert (reward, terminated) == (base_reward, base_terminated)
        if terminated:
            break


@pytest.mark.parametrize("env_id", sorted(KEPT))
def test_check_env_and_200_step_episodes(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
        check_env(env)
    assert env.spec.max_episode_steps == 200
    limits, wrapper = [], env
    while isinstance(wrapper, gym.Wrapper):
        if isinstance(wrapper, gym.wrappers.TimeLimit):
            limits.append(wrapper._max_episode_steps)
        wrapper = wrapper.env
    assert limits and set(limits) == {200}


def test_pendulum_truncates_at_200_steps() -> None:
    env = gym.make("Pendulum-P-v0")
    env.reset(seed=0)
    for step in range(1, 201):
        _, _, terminated, truncated, _ = env.step(np.zeros(1, dtype=np.float32))
        assert not terminated
        assert truncated == (step == 200)


def test_unknown_id() -> None:
    with pytest.raises(ValueError, match="Pendulum-P-v0"):
        sb3_spiking.envs.make_pomdp("Pendulum-X-v0")


@pytest.mark.parametrize("env_id", ["Pendulum-V-v0", "CartPole-P-v0"])
def test_prev_action_reward_wrapper(env_id: str) -> None:
    venv = VecPrevActionReward(DummyVecEnv([lambda: gym.make(env_id)] * 2))
    plain = DummyVecEnv([lambda: gym.make(env_id)] * 2)
    venv.seed(5)
    plain.seed(5)
    obs, plain_obs = venv.reset(), plain.reset()
    n_obs = plain_obs.shape[1]
    assert venv.observation_space.shape == (n_obs + venv.action_dim + 1,)
    np.testing.assert_array_equal(obs[:, :n_obs], plain_obs)
    assert not obs[:, n_obs:].any()
    space = plain.action_space
    space.seed(1)
    for _ in range(60):
        actions = np.array([space.sample() for _ in range(2)])
        obs, rewards, dones, infos = venv.step(actions)
        plain_obs, _, _, plain_infos = plain.step(actions)
        if isinstance(space, gym.spaces.Discrete):
            encoded = np.eye(space.n)[actions]
        else:
            encoded = 2.0 * (actions - space.low) / (space.high - space.low) - 1.0
        expected = np.concatenate([encoded, rewards[:, None]], axis=1)
        expected[dones] = 0.0
        np.testing.assert_array_equal(obs[:, :n_obs], plain_obs)
        np.testing.assert_allclose(obs[:, n_obs:], expected, rtol=1e-6)
        for i in np.flatnonzero(dones):
            terminal = infos[i]["terminal_observation"]
            np.testing.assert_array_equal(terminal[:n_obs], plain_infos[i]["terminal_observation"])
            np.testing.assert_allclose(terminal[n_obs:], np.append(encoded[i], rewards[i]), rtol=1e-6)


@pytest.mark.parametrize("env_id, steps", [("Pendulum-P-v0", 500), ("Pendulum-V-v0", 7), ("CartPole-V-v0", 3)])
def test_gym_make_max_episode_steps_is_the_limit(env_id: str, steps: int) -> None:
    env = gym.make(env_id, max_episode_steps=steps)
    env.reset(seed=0)
    for step in range(1, steps + 1):
        action = np.zeros(1, dtype=np.float32) if env_id.startswith("Pendulum") else step % 2
        _, _, terminated, truncated, _ = env.step(action)
        assert not terminated
        assert truncated == (step == steps)


def test_make_pomdp_time_limit() -> None:
    env = sb3_spiking.envs.make_pomdp("Pendulum-V-v0")
    assert isinstance(env, gym.wrappers.TimeLimit) and env._max_episode_steps == 200
    endless = sb3_spiking.envs.make_pomdp("Pendulum-V-v0", max_episode_steps=None)
    endless.reset(seed=0)
    assert not any(any(endless.step(np.zeros(1, dtype=np.float32))[2:4]) for _ in range(300))
    with pytest.raises(ValueError, match="max_episode_steps must be >= 1"):
        sb3_spiking.envs.make_pomdp("Pendulum-V-v0", max_episode_steps=0)


def test_prev_action_reward_wraps_a_single_env() -> None:
    venv = VecPrevActionReward(gym.make("Pendulum-P-v0"))
    assert venv.num_envs == 1 and venv.observation_space.shape == (4,)
    with pytest.raises(TypeError, match=r"VecEnv or a gym\.Env"):
        VecPrevActionReward("Pendulum-P-v0")
