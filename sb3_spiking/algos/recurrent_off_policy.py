"""
Shared parts of the recurrent off-policy algorithms (:class:`~sb3_spiking.RecurrentTD3`,
:class:`~sb3_spiking.RecurrentDQN`), in the setting of Ni, Eysenbach and Salakhutdinov (2022) used by seed 003:
per-step inputs ``[o_t, a_{t-1}, r_{t-1}]`` (appended by :class:`~sb3_spiking.envs.VecPrevActionReward`),
embedded and fed to a recurrent core (GRSN, LIF or GRU), whose output and the observation embedding feed an MLP head.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.vec_env import VecEnv, is_vecenv_wrapped, unwrap_vec_normalize
from torch import nn

from sb3_spiking.envs.history import VecPrevActionReward
from sb3_spiking.snn.cores import CORES, make_core

CoreState = tuple[th.Tensor, ...]


class SequenceNetwork(nn.Module):
    """
    Embeddings of ``o_t`` (ReLU), ``a_{t-1}``, ``r_{t-1}`` -> recurrent core -> MLP head on
    ``[core output, observation embedding (, head action)]``.

    :param obs_dim: size of ``o_t``
    :param prev_action_dim: size of the encoded ``a_{t-1}``
    :param out_dim: size of the head output
    :param core: ``"grsn"``, ``"lif"`` or ``"gru"``
    :param hidden_size: recurrent units
    :param net_arch: hidden layer sizes of the head
    :param embed_dims: sizes of the observation, previous action and previous reward embeddings
    :param head_action_dim: size of an extra head input (the current action of a Q(h, a) critic), 0 for none
    :param squash: tanh on the head output (actors)
    :param core_kwargs: extra arguments of the core
    """

    def __init__(
        self,
        obs_dim: int,
        prev_action_dim: int,
        out_dim: int,
        core: str = "grsn",
        hidden_size: int = 128,
        net_arch: list[int] | None = None,
        embed_dims: tuple[int, int, int] = (32, 8, 8),
        head_action_dim: int = 0,
        squash: bool = False,
        core_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        net_arch = [128, 128] if net_arch is None else list(net_arch)
        obs_embed, action_embed, reward_embed = embed_dims
        self.obs_dim, self.prev_action_dim = obs_dim, prev_action_dim
        self.obs_embedding = nn.Sequential(nn.Linear(obs_dim, obs_embed), nn.ReLU())
        self.action_embedding = nn.Sequential(nn.Linear(prev_action_dim, action_embed), nn.ReLU())
        self.reward_embedding = nn.Sequential(nn.Linear(1, reward_embed), nn.ReLU())
        self.core = make_core(core, obs_embed + action_embed + reward_embed, hidden_size, **(core_kwargs or {}))
        layers: list[nn.Module] = []
        last = hidden_size + obs_embed + head_action_dim
        for size in net_arch:
            layers += [nn.Linear(last, size), nn.ReLU()]
            last = size
        layers.append(nn.Linear(last, out_dim))
        if squash:
            layers.append(nn.Tanh())
        self.head = nn.Sequential(*layers)

    def forward_core(
        self, obs: th.Tensor, state: CoreState | None = None, episode_starts: th.Tensor | None = None
    ) -> tuple[th.Tensor, CoreState]:
        """
        :param obs: ``[o_t, a_{t-1}, r_{t-1}]`` (seq_len, batch, obs_dim + prev_action_dim + 1)
        :param state: core state, ``None`` for zeros
        :param episode_starts: (seq_len, batch), 1 where the core state is reset
        :return: head features ``[core output, observation embedding]`` (seq_len, batch, ...) and the core state
        """
        obs_emb = self.obs_embedding(obs[..., : self.obs_dim])
        action_emb = self.action_embedding(obs[..., self.obs_dim : self.obs_dim + self.prev_action_dim])
        reward_emb = self.reward_embedding(obs[..., -1:])
        out, state = self.core(th.cat([obs_emb, action_emb, reward_emb], dim=-1), state, episode_starts)
        return th.cat([out, obs_emb], dim=-1), state

    def forward_head(self, features: th.Tensor, action: th.Tensor | None = None) -> th.Tensor:
        """
        :param features: output of :meth:`forward_core`
        :param action: current action (critics with ``head_action_dim > 0``)
        :return: head output (seq_len, batch, out_dim)
        """
        return self.head(features if action is None else th.cat([features, action], dim=-1))

    def forward(
        self,
        obs: th.Tensor,
        state: CoreState | None = None,
        episode_starts: th.Tensor | None = None,
        action: th.Tensor | None = None,
    ) -> tuple[th.Tensor, CoreState]:
        """:meth:`forward_core` then :meth:`forward_head`."""
        features, state = self.forward_core(obs, state, episode_starts)
        return self.forward_head(features, action), state


class RecurrentOffPolicyPolicy(BasePolicy):
    """
    Base policy of the recurrent off-policy algorithms: ``predict(obs, state, episode_start)`` steps the acting network
    (``self.actor`` for TD3, ``self.q_net`` for DQN) once and returns its new state, like sb3-contrib's recurrent
    policies.

    :param observation_space: ``[o_t, a_{t-1}, r_{t-1}]`` Box (see :class:`~sb3_spiking.envs.VecPrevActionReward`)
    :param action_space: action space
    :param lr_schedule: learning rate schedule
    :param core: recurrent core, ``"grsn"``, ``"lif"`` or ``"gru"``
    :param hidden_size: recurrent units
    :param net_arch: hidden layer sizes of the heads
    :param embed_dims: sizes of the observation, previous action and previous reward embeddings
    :param core_kwargs: extra arguments of the core (plain values, e.g. ``{"surrogate": "arctan"}``)
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer arguments, excluding the learning rate
    :param squash_output: whether actions come out of a tanh (Box actions)
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Space,
        lr_schedule: Any,
        core: str = "grsn",
        hidden_size: int = 128,
        net_arch: list[int] | None = None,
        embed_dims: tuple[int, int, int] = (32, 8, 8),
        core_kwargs: dict[str, Any] | None = None,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        squash_output: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=squash_output,
        )
        if core not in CORES:
            raise ValueError(f"unknown recurrent core {core!r}; allowed: {list(CORES)}")
        if isinstance(action_space, spaces.Box):
            self.prev_action_dim = int(np.prod(action_space.shape))
        elif isinstance(action_space, spaces.Discrete):
            self.prev_action_dim = int(action_space.n)
        else:
            raise ValueError(f"recurrent off-policy policies support Box and Discrete actions, got {action_space}")
        self.obs_dim = int(observation_space.shape[0]) - self.prev_action_dim - 1
        if self.obs_dim < 1:
            raise ValueError(
                f"observation space {observation_space} is too small for [o_t, a_(t-1), r_(t-1)]: "
                "wrap the env in sb3_spiking.envs.VecPrevActionReward (the algorithms do it automatically)"
            )
        self.core = core
        self.hidden_size = hidden_size
        self.net_arch = [128, 128] if net_arch is None else list(net_arch)
        self.embed_dims = tuple(embed_dims)
        self.core_kwargs = dict(core_kwargs or {})

    def _network_kwargs(self) -> dict[str, Any]:
        return {
            "obs_dim": self.obs_dim,
            "prev_action_dim": self.prev_action_dim,
            "core": self.core,
            "hidden_size": self.hidden_size,
            "net_arch": self.net_arch,
            "embed_dims": self.embed_dims,
            "core_kwargs": self.core_kwargs,
        }

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        del data["normalize_images"]  # observations are plain vectors
        data.update(
            core=self.core,
            hidden_size=self.hidden_size,
            net_arch=self.net_arch,
            embed_dims=self.embed_dims,
            core_kwargs=self.core_kwargs,
            lr_schedule=self._dummy_schedule,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data

    def _predict(  # type: ignore[override]
        self, observation: th.Tensor, state: CoreState | None, episode_starts: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, CoreState]:
        """
        One step of the acting network.

        :param observation: (n_envs, obs features)
        :param state: core state, ``None`` for zeros
        :param episode_starts: (n_envs,), 1 where the state is reset first
        :param deterministic: unused (the acting networks are deterministic)
        :return: actions (n_envs, ...) and the new core state
        """
        raise NotImplementedError

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """
        :param observation: ``[o_t, a_{t-1}, r_{t-1}]`` of one or ``n_envs`` environments
        :param state: core state returned by the previous call, ``None`` for zeros
        :param episode_start: (n_envs,) booleans, the state is reset to zero where True; ``None`` for no reset
        :param deterministic: unused (exploration noise is added by the algorithm during training)
        :return: actions and the new core state (tuple of arrays, each (num_layers, n_envs, hidden))
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = obs_tensor.shape[0]
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=bool)
        with th.no_grad():
            states = None if state is None else tuple(th.as_tensor(s, device=self.device).float() for s in state)
            starts = th.as_tensor(np.asarray(episode_start), device=self.device).float().reshape(n_envs)
            actions, new_state = self._predict(obs_tensor, states, starts, deterministic=deterministic)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = self.unscale_action(actions) if self.squash_output else actions
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, tuple(s.cpu().numpy() for s in new_state)


class RecurrentOffPolicyAlgorithm(OffPolicyAlgorithm):
    """
    :class:`~stable_baselines3.common.off_policy_algorithm.OffPolicyAlgorithm` with a recurrent acting policy: the
    environment is wrapped in :class:`~sb3_spiking.envs.VecPrevActionReward`, the policy state is carried from step to
    step (reset at episode start) while collecting experience, and the replay buffer stores whole episodes
    (:class:`~sb3_spiking.algos.sequence_buffer.SequenceReplayBuffer`). Constructor arguments as in SB3.
    """

    policy: RecurrentOffPolicyPolicy
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._last_policy_state: tuple[np.ndarray, ...] | None = None
        super().__init__(*args, **kwargs)

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        env = OffPolicyAlgorithm._wrap_env(env, verbose, monitor_wrapper)
        if unwrap_vec_normalize(env) is not None:
            raise ValueError("recurrent off-policy algorithms do not support VecNormalize")
        if not is_vecenv_wrapped(env, VecPrevActionReward):
            env = VecPrevActionReward(env)
        return env

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, Any]:
        if reset_num_timesteps or self._last_obs is None:
            self._last_policy_state = None
        return super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._last_obs is not None, "self._last_obs was not set"
        # The acting network runs during warm-up too, so that its state is right when it takes over.
        unscaled_action, self._last_policy_state = self.policy.predict(
            self._last_obs, self._last_policy_state, self._last_episode_starts
        )
        if self.num_timesteps < learning_starts:
            unscaled_action = np.array([self.action_space.sample() for _ in range(n_envs)])
        if isinstance(self.action_space, spaces.Box):
            scaled_action = self.policy.scale_action(unscaled_action)
            if action_noise is not None:
                scaled_action = np.clip(scaled_action + action_noise(), -1, 1)
            return self.policy.unscale_action(scaled_action), scaled_action
        return unscaled_action, unscaled_action

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._last_episode_starts = np.asarray(dones, dtype=bool)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_last_policy_state"]
