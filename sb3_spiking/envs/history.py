"""Previous action and reward appended to the observation, the inputs of the recurrent off-policy agents."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn


class VecPrevActionReward(VecEnvWrapper):
    """
    Observation ``[o_t, a_{t-1}, r_{t-1}]`` (zeros for ``a_{-1}, r_{-1}`` at episode start), as in
    Ni, Eysenbach and Salakhutdinov (2022), the setting of seed 003: the input of
    :class:`~sb3_spiking.RecurrentTD3` and :class:`~sb3_spiking.RecurrentDQN` policies. Box actions are appended
    rescaled to [-1, 1], Discrete actions one-hot. Terminal observations in ``infos`` are extended the same way.

    The algorithms add it themselves to the envs they are given (constructor, ``set_env``, ``load(env=...)``,
    ``EvalCallback``); wrap the env yourself to call ``predict`` or ``evaluate_policy`` outside them::

        evaluate_policy(model, VecPrevActionReward(Monitor(gym.make("Pendulum-P-v0"))))

    In an rl_zoo3 config (``enjoy`` builds its env from it), add it as ``vec_env_wrapper``::

        Pendulum-P-v0:
          vec_env_wrapper: sb3_spiking.envs.VecPrevActionReward

    :param venv: environment with a 1-D Box observation space and a Box or Discrete action space, vectorized or a
        single ``gym.Env`` (put in a ``DummyVecEnv``)
    """

    def __init__(self, venv: VecEnv | gym.Env) -> None:
        if isinstance(venv, gym.Env):
            env = venv
            venv = DummyVecEnv([lambda: env])
        elif not isinstance(venv, VecEnv):
            raise TypeError(f"venv must be a VecEnv or a gym.Env, got {venv!r} ({type(venv).__name__})")
        obs_space, action_space = venv.observation_space, venv.action_space
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(f"VecPrevActionReward needs a 1-D Box observation space, got {obs_space}")
        if isinstance(action_space, spaces.Box):
            self.action_dim = int(np.prod(action_space.shape))
            action_low = -np.ones(self.action_dim, dtype=np.float32)
        elif isinstance(action_space, spaces.Discrete):
            self.action_dim = int(action_space.n)
            action_low = np.zeros(self.action_dim, dtype=np.float32)
        else:
            raise ValueError(f"VecPrevActionReward supports Box and Discrete actions, got {action_space}")
        self.obs_dim = obs_space.shape[0]
        low = np.concatenate([obs_space.low.astype(np.float32), action_low, [-np.inf]]).astype(np.float32)
        high = np.concatenate([obs_space.high.astype(np.float32), np.ones(self.action_dim), [np.inf]])
        super().__init__(venv, observation_space=spaces.Box(low, high.astype(np.float32), dtype=np.float32))
        self._actions = np.zeros((venv.num_envs, self.action_dim), dtype=np.float32)

    def _encode_actions(self, actions: np.ndarray) -> np.ndarray:
        space = self.venv.action_space
        if isinstance(space, spaces.Discrete):
            return np.eye(self.action_dim, dtype=np.float32)[np.asarray(actions, dtype=np.int64).reshape(-1)]
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, self.action_dim)
        low, high = space.low.reshape(-1), space.high.reshape(-1)
        return (2.0 * (actions - low) / (high - low) - 1.0).astype(np.float32)

    def _extend(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        return np.concatenate([obs.reshape(len(obs), -1), actions, rewards.reshape(-1, 1)], axis=1).astype(np.float32)

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        return self._extend(obs, np.zeros_like(self._actions), np.zeros(self.num_envs, dtype=np.float32))

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = self._encode_actions(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        for i, done in enumerate(dones):
            if done and infos[i].get("terminal_observation") is not None:
                terminal = np.asarray(infos[i]["terminal_observation"])[None]
                terminal = self._extend(terminal, self._actions[i : i + 1], rewards[i : i + 1])
                infos[i]["terminal_observation"] = terminal[0]
        keep = (~np.asarray(dones, dtype=bool)).astype(np.float32)[:, None]
        obs = self._extend(obs, self._actions * keep, rewards * keep[:, 0])
        return obs, rewards, dones, infos
