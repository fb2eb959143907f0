"""QMIX policy: the shared agent network, the monotonic mixer and their target copies."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import Tensor
from torch.nn import functional as F

from sb3_spiking.marl.agents import RecurrentAgent
from sb3_spiking.marl.mixer import QMixer
from sb3_spiking.snn.extra_state import ExtraStateMixin

PredictState = tuple[np.ndarray, ...]


class QMIXPolicy(ExtraStateMixin, BasePolicy):
    """
    Decentralised agents sharing one :class:`~sb3_spiking.marl.agents.RecurrentAgent` (agents are rows of
    the batch), a :class:`~sb3_spiking.marl.mixer.QMixer` on the global state, and target copies of both
    (``target_agent_net``, ``target_mixer``). The optimiser holds the online networks only.

    Per agent input: own observation, one-hot last action, one-hot agent id. Observations are the team
    dicts of :class:`~sb3_spiking.marl.vec_env.TeamVecEnv`, actions (n_agents,) MultiDiscrete.

    :param observation_space: team observation space (``"obs"``, ``"action_mask"``, ``"alive"``, ``"state"``)
    :param action_space: MultiDiscrete, one entry per agent
    :param lr_schedule: learning rate schedule
    :param core: agent core, a name of :data:`sb3_spiking.snn.cores.CORES` (``"grsn"``, ``"gru"``, ``"lif"``, ...)
    :param state_dim: size of the global state the mixer sees
    :param agent_kwargs: arguments of ``RecurrentAgent`` (``fc_dim``, ``hidden_dim``, ``num_layers``,
        ``core_kwargs``)
    :param mixer_kwargs: arguments of ``QMixer`` (``embed_dim``, ``hypernet_hidden``)
    :param obs_last_action: add the one-hot last action to the agent input
    :param obs_agent_id: add the one-hot agent id to the agent input
    :param optimizer_class: optimiser class
    :param optimizer_kwargs: extra optimiser arguments
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.MultiDiscrete,
        lr_schedule: Schedule,
        core: str = "grsn",
        state_dim: int | None = None,
        agent_kwargs: dict[str, Any] | None = None,
        mixer_kwargs: dict[str, Any] | None = None,
        obs_last_action: bool = True,
        obs_agent_id: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=False,
        )
        self.n_agents, self.obs_dim = observation_space["obs"].shape
        self.n_actions = int(action_space.nvec[0])
        self.action_start = int(np.asarray(action_space.start).reshape(-1)[0])
        self.core = core
        self.state_dim = self.n_agents * self.obs_dim if state_dim is None else state_dim
        self.agent_kwargs = dict(agent_kwargs or {})
        self.mixer_kwargs = dict(mixer_kwargs or {})
        self.obs_last_action = obs_last_action
        self.obs_agent_id = obs_agent_id
        self._build(lr_schedule)

    @property
    def input_dim(self) -> int:
        """Per-agent input size."""
        return self.obs_dim + self.n_actions * self.obs_last_action + self.n_agents * self.obs_agent_id

    def make_agent(self) -> RecurrentAgent:
        return RecurrentAgent(self.input_dim, self.n_actions, core=self.core, **self.agent_kwargs).to(self.device)

    def make_mixer(self) -> QMixer:
        return QMixer(self.n_agents, self.state_dim, **self.mixer_kwargs).to(self.device)

    def _build(self, lr_schedule: Schedule) -> None:
        self.agent_net = self.make_agent()
        self.mixer = self.make_mixer()
        self.target_agent_net = copy.deepcopy(self.agent_net).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False)
        params = [*self.agent_net.parameters(), *self.mixer.parameters()]
        self.optimizer = self.optimizer_class(params, lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            core=self.core,
            state_dim=self.state_dim,
            agent_kwargs=self.agent_kwargs,
            mixer_kwargs=self.mixer_kwargs,
            obs_last_action=self.obs_last_action,
            obs_agent_id=self.obs_agent_id,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data

    def agent_inputs(self, obs: Tensor, last_actions: Tensor) -> Tensor:
        """
        :param obs: (..., n_agents, obs_dim)
        :param last_actions: one-hot last actions (..., n_agents, n_actions)
        :return: agent inputs (..., n_agents, input_dim)
        """
        parts = [obs]
        if self.obs_last_action:
            parts.append(last_actions)
        if self.obs_agent_id:
            eye = torch.eye(self.n_agents, device=obs.device, dtype=obs.dtype)
            parts.append(eye.expand(*obs.shape[:-1], -1))
        return torch.cat(parts, dim=-1)

    def initial_state(self, n_envs: int = 1) -> PredictState:
        """
        Recurrent state at an episode start: the core state tensors (num_layers, n_envs * n_agents, hidden),
        then the one-hot last actions (n_envs, n_agents, n_actions).

        :param n_envs: number of teams
        """
        core = self.agent_net.initial_state(n_envs * self.n_agents)
        last = np.zeros((n_envs, self.n_agents, self.n_actions), dtype=np.float32)
        return (*(t.cpu().numpy() for t in core), last)

    def one_hot(self, actions: np.ndarray) -> np.ndarray:
        """:param actions: action indices (from 0), any shape; :return: their one-hot float32 encoding"""
        return np.eye(self.n_actions, dtype=np.float32)[actions]

    def forward(self, obs: Tensor, last_actions: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple]:
        """
        One decentralised step of every agent of every team.

        :param obs: (n_envs, n_agents, obs_dim)
        :param last_actions: (n_envs, n_agents, n_actions)
        :param state: core state, each tensor (num_layers, n_envs * n_agents, hidden)
        :return: utilities (n_envs, n_agents, n_actions) and the next core state
        """
        inputs = self.agent_inputs(obs, last_actions).reshape(1, -1, self.input_dim)
        q, state = self.agent_net(inputs, state)
        return q.view(*obs.shape[:2], self.n_actions), state

    def _predict(  # type: ignore[override]
        self, obs: Tensor, avail: Tensor, last_actions: Tensor, state: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """
        :param obs: (n_envs, n_agents, obs_dim)
        :param avail: available actions (n_envs, n_agents, n_actions), bool
        :param last_actions: (n_envs, n_agents, n_actions)
        :param state: core state
        :return: greedy available actions (n_envs, n_agents) and the next core state
        """
        q, state = self.forward(obs, last_actions, state)
        return q.masked_fill(~avail, -torch.inf).argmax(-1), state

    def predict(  # type: ignore[override]
        self,
        observation: dict[str, np.ndarray],
        state: PredictState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, PredictState]:
        """
        Greedy actions among the available ones.

        :param observation: team observations, each entry with a leading env dimension
        :param state: the state returned by the previous call (``None``: episode start)
        :param episode_start: (n_envs,), True where an episode starts (the state is reset)
        :param deterministic: unused (the greedy policy is deterministic; QMIX explores on top of it)
        :return: action indices from 0 (n_envs, n_agents) and the next state
        """
        n_envs = observation["obs"].shape[0]
        if state is None:
            state = self.initial_state(n_envs)
        *core, last = (np.asarray(s, dtype=np.float32) for s in state)
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(n_envs)
            keep = np.repeat(~starts, self.n_agents).astype(np.float32)
            core = [c * keep[None, :, None] for c in core]
            last = last * (~starts)[:, None, None]
        self.set_training_mode(False)
        with torch.no_grad():
            actions, next_core = self._predict(
                torch.as_tensor(observation["obs"], dtype=torch.float32, device=self.device),
                torch.as_tensor(np.asarray(observation["action_mask"], dtype=bool), device=self.device),
                torch.as_tensor(last, device=self.device),
                tuple(torch.as_tensor(c, device=self.device) for c in core),
            )
        actions_np = actions.cpu().numpy()
        return actions_np, (*(c.cpu().numpy() for c in next_core), self.one_hot(actions_np))

    def episode_utilities(self, batch_obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """
        Utilities over a batch of episodes, online and target, one core update per step from a zero state.

        :param batch_obs: observations (T + 1, B, n_agents, obs_dim)
        :param actions: action indices (T, B, n_agents)
        :return: online utilities (T + 1, B, n_agents, n_actions) and target utilities (same shape, no grad)
        """
        horizon, batch_size, n_agents = actions.shape
        one_hot = F.one_hot(actions, self.n_actions).to(batch_obs.dtype)
        last_actions = torch.cat([torch.zeros_like(one_hot[:1]), one_hot])  # no last action at t = 0
        inputs = self.agent_inputs(batch_obs, last_actions).reshape(horizon + 1, -1, self.input_dim)
        q = self.agent_net(inputs)[0].view(horizon + 1, batch_size, n_agents, -1)
        with torch.no_grad():
            target_q = self.target_agent_net(inputs)[0].view(horizon + 1, batch_size, n_agents, -1)
        return q, target_q

    def set_training_mode(self, mode: bool) -> None:
        """:param mode: train the online networks (the targets stay in eval mode)"""
        self.agent_net.train(mode)
        self.mixer.train(mode)
        self.target_agent_net.train(False)
        self.target_mixer.train(False)
        self.training = mode
