"""QMIX (Rashid et al. 2018) with spiking or conventional recurrent agents on PettingZoo parallel envs."""

from __future__ import annotations

import copy
import io
import pathlib
import sys
import time
from collections import deque
from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.save_util import load_from_zip_file, save_to_zip_file
from stable_baselines3.common.type_aliases import MaybeCallback
from stable_baselines3.common.utils import configure_logger, get_device, set_random_seed
from torch import Tensor
from torch.nn import functional as F

from sb3_spiking.marl.agents import RecurrentAgent
from sb3_spiking.marl.buffer import Episode, EpisodeBatch, EpisodeReplayBuffer
from sb3_spiking.marl.env_utils import EnvSpec, SingleEnvView, inspect_env, read_observations, read_state
from sb3_spiking.marl.mixer import QMixer
from sb3_spiking.snn.cores import CORES

PredictState = tuple[np.ndarray, ...]


def td_lambda_targets(
    rewards: Tensor, terminated: Tensor, mask: Tensor, next_values: Tensor, gamma: float, td_lambda: float
) -> Tensor:
    """
    TD(lambda) returns ``G_t = r_t + gamma (1 - d_t) [(1 - lambda) Q'(s_{t+1}) + lambda G_{t+1}]``, where
    ``G_{t+1}`` is replaced by ``Q'(s_{t+1})`` after the last real transition; ``lambda = 0`` is the
    one-step target.

    :param rewards: team rewards (T, B)
    :param terminated: 1 at true terminal transitions (T, B)
    :param mask: 1 on real transitions (T, B)
    :param next_values: target ``Q_tot(s_{t+1})`` (T, B)
    :param gamma: discount
    :param td_lambda: lambda in [0, 1]
    :return: targets (T, B)
    """
    targets = [torch.empty(0)] * rewards.shape[0]
    for t in reversed(range(rewards.shape[0])):
        blended = next_values[t]
        if t + 1 < rewards.shape[0] and td_lambda > 0:
            blended = blended + td_lambda * mask[t + 1] * (targets[t + 1] - next_values[t])
        targets[t] = rewards[t] + gamma * (1.0 - terminated[t]) * blended
    return torch.stack(targets)


class QMIX:
    """
    QMIX: decentralised agents with shared parameters, trained through a monotonic mixing network
    conditioned on the global state (centralised training, decentralised execution).

    Per agent input: own observation, one-hot last action, one-hot agent id; agent network
    fc 64 + ReLU -> core 64 -> fc to utilities. The team reward is the sum of the agents' rewards.
    An episode ends when any agent terminates or is truncated; only a termination stops bootstrapping.

    :param agent: agent core, ``"grsn"``, ``"gru"``, ``"lif"`` or ``"mlp"``
    :param env: a PettingZoo ``ParallelEnv`` with equal Discrete action spaces and Box observations
    :param learning_rate: optimiser learning rate
    :param buffer_size: replay capacity in episodes
    :param batch_size: episodes per gradient step; training starts once that many are stored
    :param gamma: discount factor
    :param exploration_initial_eps: initial epsilon of epsilon-greedy
    :param exploration_final_eps: final epsilon
    :param exploration_steps: env steps over which epsilon decays linearly
    :param target_update_interval: episodes between hard target network updates
    :param train_freq: episodes between training phases
    :param gradient_steps: gradient steps per training phase
    :param max_grad_norm: gradient clipping (max L2 norm over agent and mixer parameters)
    :param td_lambda: lambda of TD(lambda) targets (0: one-step targets)
    :param double_q: choose target actions with the online agent (double Q-learning)
    :param optimizer: ``"adam"`` or ``"rmsprop"``
    :param optimizer_kwargs: extra optimiser arguments
    :param obs_last_action: add the one-hot last action to the agent input
    :param obs_agent_id: add the one-hot agent id to the agent input
    :param global_state: ``"auto"``, ``"env"`` (``env.state()``) or ``"concat"`` (concatenated observations)
    :param agent_kwargs: arguments of :class:`~sb3_spiking.marl.agents.RecurrentAgent` (``fc_dim``,
        ``hidden_dim``, ``num_layers``, ``core_kwargs``)
    :param mixer_kwargs: arguments of :class:`~sb3_spiking.marl.mixer.QMixer` (``embed_dim``, ``hypernet_hidden``)
    :param tensorboard_log: TensorBoard log folder (None: none)
    :param verbose: 0 silent, 1 log to stdout
    :param seed: random seed (python, numpy, torch, exploration, replay sampling, env reset)
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``
    :param _init_setup_model: build the networks now (False only when loading)
    """

    optimizers: ClassVar[dict[str, type[torch.optim.Optimizer]]] = {
        "adam": torch.optim.Adam,
        "rmsprop": torch.optim.RMSprop,
    }

    def __init__(
        self,
        agent: str,
        env: Any,
        learning_rate: float = 5e-4,
        buffer_size: int = 5000,
        batch_size: int = 32,
        gamma: float = 0.99,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        exploration_steps: int = 50_000,
        target_update_interval: int = 200,
        train_freq: int = 1,
        gradient_steps: int = 1,
        max_grad_norm: float = 10.0,
        td_lambda: float = 0.0,
        double_q: bool = True,
        optimizer: str = "adam",
        optimizer_kwargs: dict[str, Any] | None = None,
        obs_last_action: bool = True,
        obs_agent_id: bool = True,
        global_state: str = "auto",
        agent_kwargs: dict[str, Any] | None = None,
        mixer_kwargs: dict[str, Any] | None = None,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if agent not in CORES:
            raise ValueError(f"unknown agent {agent!r}; allowed: {sorted(CORES)}")
        if optimizer not in self.optimizers:
            raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {sorted(self.optimizers)}")
        for name, value in (
            ("gamma", gamma),
            ("td_lambda", td_lambda),
            ("exploration_initial_eps", exploration_initial_eps),
            ("exploration_final_eps", exploration_final_eps),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name, value in (
            ("batch_size", batch_size),
            ("target_update_interval", target_update_interval),
            ("train_freq", train_freq),
            ("gradient_steps", gradient_steps),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if batch_size > buffer_size:
            raise ValueError(f"batch_size ({batch_size}) must not exceed buffer_size ({buffer_size})")
        if exploration_steps < 0 or not max_grad_norm > 0 or not learning_rate > 0:
            raise ValueError("exploration_steps must be >= 0, max_grad_norm and learning_rate > 0")
        self.agent = agent
        self.learning_rate = learning_rate
        self.buffer_size = buffer_size
        self.batch_size = batch_size
        self.gamma = gamma
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_steps = exploration_steps
        self.target_update_interval = target_update_interval
        self.train_freq = train_freq
        self.gradient_steps = gradient_steps
        self.max_grad_norm = max_grad_norm
        self.td_lambda = td_lambda
        self.double_q = double_q
        self.optimizer_class = optimizer
        self.optimizer_kwargs = dict(optimizer_kwargs or {})
        self.obs_last_action = obs_last_action
        self.obs_agent_id = obs_agent_id
        self.global_state = global_state
        self.agent_kwargs = dict(agent_kwargs or {})
        self.mixer_kwargs = dict(mixer_kwargs or {})
        self.tensorboard_log = tensorboard_log
        self.verbose = verbose
        self.seed = seed
        self.device = get_device(device)

        self.env = env
        self.env_spec: EnvSpec | None = None if env is None else inspect_env(env, global_state)
        self.n_envs = 1
        self.num_timesteps = 0
        self._episode_num = 0
        self._n_updates = 0
        self._last_target_update = 0
        self._env_seeded = False
        self.exploration_rate = exploration_initial_eps
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=100)
        self._logger: Logger | None = None
        if _init_setup_model:
            if self.env_spec is None:
                raise ValueError("QMIX needs an environment (env=None is only allowed through QMIX.load)")
            self._setup_model()

    @property
    def input_dim(self) -> int:
        spec = self._spec
        return spec.obs_dim + spec.n_actions * self.obs_last_action + spec.n_agents * self.obs_agent_id

    @property
    def _spec(self) -> EnvSpec:
        assert self.env_spec is not None
        return self.env_spec

    def _setup_model(self) -> None:
        if self.seed is not None:
            set_random_seed(self.seed, using_cuda=self.device.type == "cuda")
        self._rng = np.random.default_rng(self.seed)
        spec = self._spec
        self.agent_net = RecurrentAgent(self.input_dim, spec.n_actions, self.agent, **self.agent_kwargs).to(self.device)
        self.mixer = QMixer(spec.n_agents, spec.state_dim, **self.mixer_kwargs).to(self.device)
        self.target_agent_net = copy.deepcopy(self.agent_net)
        self.target_mixer = copy.deepcopy(self.mixer)
        self.target_agent_net.requires_grad_(False)
        self.target_mixer.requires_grad_(False)
        self.params = [*self.agent_net.parameters(), *self.mixer.parameters()]
        self.optimizer = self.optimizers[self.optimizer_class](
            self.params, lr=self.learning_rate, **self.optimizer_kwargs
        )
        self.replay_buffer = EpisodeReplayBuffer(self.buffer_size, self.device)

    def _agent_inputs(self, obs: Tensor, last_actions: Tensor) -> Tensor:
        """
        :param obs: (..., n_agents, obs_dim)
        :param last_actions: one-hot last actions (..., n_agents, n_actions)
        :return: agent inputs (..., n_agents, input_dim)
        """
        parts = [obs]
        if self.obs_last_action:
            parts.append(last_actions)
        if self.obs_agent_id:
            eye = torch.eye(self._spec.n_agents, device=obs.device, dtype=obs.dtype)
            parts.append(eye.expand(*obs.shape[:-1], -1))
        return torch.cat(parts, dim=-1)

    @property
    def logger(self) -> Logger:
        """The SB3 logger (configured at the first ``learn`` unless set with :meth:`set_logger`)."""
        if self._logger is None:
            self._logger = configure_logger(self.verbose, self.tensorboard_log, "QMIX")
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """:param logger: an SB3 logger, e.g. from ``stable_baselines3.common.logger.configure``"""
        self._logger = logger

    def get_env(self) -> SingleEnvView | None:
        """The training environment (a view of the ``ParallelEnv`` with ``num_envs = 1``, for SB3 callbacks)."""
        return None if self.env is None else SingleEnvView(self.env)

    def set_env(self, env: Any) -> None:
        """:param env: a parallel environment with the same agents and spaces as the current one"""
        spec = inspect_env(env, self.global_state)
        if self.env_spec is not None and spec != self.env_spec:
            raise ValueError(f"the environment does not match the model: {spec} != {self.env_spec}")
        self.env = env
        self.env_spec = spec

    def _update_exploration(self) -> None:
        progress = 1.0 if self.exploration_steps == 0 else min(1.0, self.num_timesteps / self.exploration_steps)
        self.exploration_rate = self.exploration_initial_eps + progress * (
            self.exploration_final_eps - self.exploration_initial_eps
        )

    def _act(
        self, obs: np.ndarray, avail: np.ndarray, last_actions: Tensor, core_state: tuple[Tensor, ...], epsilon: float
    ) -> tuple[np.ndarray, tuple[Tensor, ...]]:
        obs_t = torch.as_tensor(obs, device=self.device)
        with torch.no_grad():
            inputs = self._agent_inputs(obs_t, last_actions).unsqueeze(0)
            q, core_state = self.agent_net(inputs, core_state)
        q = q[0].cpu().numpy()
        q[~avail] = -np.inf
        actions = q.argmax(axis=-1)
        if epsilon > 0:
            random_actions = np.where(avail, self._rng.random(avail.shape), -1.0).argmax(axis=-1)
            explore = self._rng.random(len(actions)) < epsilon
            actions = np.where(explore, random_actions, actions)
        return actions, core_state

    def _one_hot(self, actions: np.ndarray | Tensor) -> Tensor:
        return F.one_hot(torch.as_tensor(actions, device=self.device), self._spec.n_actions).float()

    def _collect_episode(self, callback: BaseCallback) -> bool:
        spec = self._spec
        seed = None if self._env_seeded else self.seed
        self._env_seeded = True
        observations, infos = self.env.reset(seed=seed)
        obs, avail = read_observations(spec, observations, infos)
        obs_list, state_list, avail_list = [obs], [read_state(spec, self.env, obs)], [avail]
        action_list, reward_list = [], []
        core_state = self.agent_net.initial_state(spec.n_agents, self.device)
        last_actions = torch.zeros(spec.n_agents, spec.n_actions, device=self.device)
        episode_return, terminated, continue_training = 0.0, False, True
        callback.on_rollout_start()
        while True:
            actions, core_state = self._act(obs, avail, last_actions, core_state, self.exploration_rate)
            step_actions = {a: int(actions[i]) + spec.action_start for i, a in enumerate(spec.agents)}
            observations, rewards, terminations, truncations, infos = self.env.step(step_actions)
            reward = float(sum(rewards.values()))
            terminated = any(terminations.values())
            done = terminated or any(truncations.values()) or not self.env.agents
            obs, avail = read_observations(spec, observations, infos)
            obs_list.append(obs)
            state_list.append(read_state(spec, self.env, obs))
            avail_list.append(avail)
            action_list.append(actions)
            reward_list.append(reward)
            last_actions = self._one_hot(actions)
            episode_return += reward
            self.num_timesteps += 1
            self._update_exploration()
            dones = np.array([done])
            callback.update_locals({"actions": step_actions, "rewards": rewards, "dones": dones, "infos": [infos]})
            if not callback.on_step():
                continue_training = False
            if done or not continue_training:
                break
        callback.on_rollout_end()
        episode_terminated = np.zeros(len(action_list), dtype=np.float32)
        episode_terminated[-1] = float(terminated)
        self.replay_buffer.add(
            Episode(
                obs=np.stack(obs_list),
                states=np.stack(state_list),
                avail_actions=np.stack(avail_list),
                actions=np.stack(action_list).astype(np.int64),
                rewards=np.asarray(reward_list, dtype=np.float32),
                terminated=episode_terminated,
            )
        )
        self.ep_info_buffer.append({"r": episode_return, "l": len(action_list)})
        self._episode_num += 1
        return continue_training

    def train(self, gradient_steps: int) -> None:
        """
        Gradient steps on batches of whole episodes (double-Q, optionally TD(lambda) targets).

        :param gradient_steps: number of gradient steps
        """
        losses, q_means, target_means, grad_norms = [], [], [], []
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(self.batch_size, self._rng)
            loss, q_tot, targets, mask = self._loss(batch)
            self.optimizer.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
            self.optimizer.step()
            self._n_updates += 1
            n_real = mask.sum()
            losses.append(loss.item())
            q_means.append(((q_tot * mask).sum() / n_real).item())
            target_means.append(((targets * mask).sum() / n_real).item())
            grad_norms.append(grad_norm.item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/q_taken_mean", float(np.mean(q_means)))
        self.logger.record("train/target_mean", float(np.mean(target_means)))
        self.logger.record("train/grad_norm", float(np.mean(grad_norms)))

    def _loss(self, batch: EpisodeBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        horizon, batch_size, n_agents = batch.actions.shape
        actions = self._one_hot(batch.actions)
        last_actions = torch.cat([torch.zeros_like(actions[:1]), actions])  # no last action at t = 0
        inputs = self._agent_inputs(batch.obs, last_actions).reshape(horizon + 1, -1, self.input_dim)
        q_all = self.agent_net(inputs)[0].view(horizon + 1, batch_size, n_agents, -1)
        chosen = q_all[:-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        q_tot = self.mixer(chosen, batch.states[:-1]).squeeze(-1)
        with torch.no_grad():
            next_avail = batch.avail_actions[1:]
            target_q = self.target_agent_net(inputs)[0].view(horizon + 1, batch_size, n_agents, -1)[1:]
            if self.double_q:
                next_actions = q_all[1:].detach().masked_fill(~next_avail, -torch.inf).argmax(-1, keepdim=True)
                next_q = target_q.gather(-1, next_actions).squeeze(-1)
            else:
                next_q = target_q.masked_fill(~next_avail, -torch.inf).max(-1).values
            next_values = self.target_mixer(next_q, batch.states[1:]).squeeze(-1)
            targets = td_lambda_targets(
                batch.rewards, batch.terminated, batch.mask, next_values, self.gamma, self.td_lambda
            )
        loss = (((q_tot - targets) * batch.mask) ** 2).sum() / batch.mask.sum()
        return loss, q_tot.detach(), targets, batch.mask

    def _update_target(self) -> None:
        self.target_agent_net.load_state_dict(self.agent_net.state_dict())
        self.target_mixer.load_state_dict(self.mixer.state_dict())
        self._last_target_update = self._episode_num

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = 100,
        tb_log_name: str = "QMIX",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> QMIX:
        """
        Collect episodes with epsilon-greedy agents and train after each ``train_freq`` episodes.

        :param total_timesteps: env steps to collect (whole episodes: the last one may overshoot)
        :param callback: SB3 callback(s), called after every env step
        :param log_interval: episodes between log dumps (None: never)
        :param tb_log_name: TensorBoard run name
        :param reset_num_timesteps: restart the step counter (False continues a previous ``learn``)
        :param progress_bar: show a tqdm/rich progress bar
        :return: this model
        """
        if self.env is None:
            raise ValueError("no environment: pass env to QMIX.load or call set_env first")
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
            self._last_target_update = 0
            self.ep_info_buffer.clear()
            self._update_exploration()
        else:
            total_timesteps += self.num_timesteps
        if self._logger is None:
            self._logger = configure_logger(self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps)
        callback = self._init_callback(callback, progress_bar)
        start_time, start_steps = time.time_ns(), self.num_timesteps
        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_timesteps:
            if not self._collect_episode(callback):
                break
            if len(self.replay_buffer) >= self.batch_size and self._episode_num % self.train_freq == 0:
                self.train(self.gradient_steps)
            if self._episode_num - self._last_target_update >= self.target_update_interval:
                self._update_target()
            if log_interval is not None and self._episode_num % log_interval == 0:
                self._dump_logs(start_time, start_steps)
        callback.on_training_end()
        return self

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool) -> BaseCallback:
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return callback

    def _dump_logs(self, start_time: int, start_steps: int) -> None:
        elapsed = max((time.time_ns() - start_time) / 1e9, sys.float_info.epsilon)
        if self.ep_info_buffer:
            self.logger.record("rollout/ep_rew_mean", float(np.mean([ep["r"] for ep in self.ep_info_buffer])))
            self.logger.record("rollout/ep_len_mean", float(np.mean([ep["l"] for ep in self.ep_info_buffer])))
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        self.logger.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    def initial_state(self) -> PredictState:
        """Recurrent state at an episode start: the core state tensors, then the one-hot last actions."""
        spec = self._spec
        core = self.agent_net.initial_state(spec.n_agents)
        return (*(t.numpy() for t in core), np.zeros((spec.n_agents, spec.n_actions), dtype=np.float32))

    def predict(
        self,
        observation: dict[str, Any],
        state: PredictState | None = None,
        episode_start: bool | np.ndarray | None = None,
        deterministic: bool = True,
        action_masks: dict[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, int], PredictState]:
        """
        Actions of all agents for one env step (decentralised: each agent sees only its own observation).

        :param observation: ``{agent: observation}`` as returned by the env
        :param state: the state returned by the previous call (None: episode start)
        :param episode_start: True at the first step of an episode (resets the state)
        :param deterministic: greedy actions; otherwise epsilon-greedy with the current exploration rate
        :param action_masks: ``{agent: mask}`` when the env gives masks in ``infos`` rather than observations
        :return: ``{agent: action}`` and the next state
        """
        spec = self._spec
        if state is None or (episode_start is not None and bool(np.any(episode_start))):
            state = self.initial_state()
        infos = None if action_masks is None else {a: {"action_mask": m} for a, m in action_masks.items()}
        obs, avail = read_observations(spec, observation, infos)
        *core, last_actions = (torch.as_tensor(np.asarray(s), device=self.device) for s in state)
        self.agent_net.eval()
        actions, core_state = self._act(
            obs, avail, last_actions.float(), tuple(core), 0.0 if deterministic else self.exploration_rate
        )
        self.agent_net.train()
        next_state = (*(t.cpu().numpy() for t in core_state), self._one_hot(actions).cpu().numpy())
        return {a: int(actions[i]) + spec.action_start for i, a in enumerate(spec.agents)}, next_state

    init_kwarg_names: ClassVar[tuple[str, ...]] = (
        "learning_rate",
        "buffer_size",
        "batch_size",
        "gamma",
        "exploration_initial_eps",
        "exploration_final_eps",
        "exploration_steps",
        "target_update_interval",
        "train_freq",
        "gradient_steps",
        "max_grad_norm",
        "td_lambda",
        "double_q",
        "obs_last_action",
        "obs_agent_id",
        "global_state",
        "agent_kwargs",
        "mixer_kwargs",
        "optimizer_kwargs",
        "tensorboard_log",
        "verbose",
        "seed",
    )

    def save(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save to a zip file in SB3's format (``data`` JSON with plain values, one ``.pth`` per network).

        :param path: file path or buffer (``.zip`` is appended to paths without it)
        """
        data = {name: getattr(self, name) for name in self.init_kwarg_names}
        data.update(
            agent=self.agent,
            optimizer=self.optimizer_class,
            env_spec=self._spec.to_dict(),
            num_timesteps=self.num_timesteps,
            episode_num=self._episode_num,
            n_updates=self._n_updates,
            exploration_rate=self.exploration_rate,
        )
        params = {
            "agent_net": self.agent_net.state_dict(),
            "mixer": self.mixer.state_dict(),
            "target_agent_net": self.target_agent_net.state_dict(),
            "target_mixer": self.target_mixer.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        save_to_zip_file(path, data=data, params=params)

    @classmethod
    def load(
        cls, path: str | pathlib.Path | io.BufferedIOBase, env: Any = None, device: torch.device | str = "auto"
    ) -> QMIX:
        """
        :param path: zip written by :meth:`save`
        :param env: environment to continue training on (None: predict only); must match the saved one
        :param device: where to put the networks
        :return: the model
        """
        data, params, _ = load_from_zip_file(path, device=device)
        if data is None or params is None:
            raise ValueError(f"{path} holds no QMIX model")
        kwargs = {name: data[name] for name in cls.init_kwarg_names}
        model = cls(data["agent"], None, optimizer=data["optimizer"], device=device, _init_setup_model=False, **kwargs)
        model.env_spec = EnvSpec.from_dict(data["env_spec"])
        if env is not None:
            model.set_env(env)
        model._setup_model()
        for name in ("agent_net", "mixer", "target_agent_net", "target_mixer", "optimizer"):
            getattr(model, name).load_state_dict(params[name])
        model.num_timesteps = data["num_timesteps"]
        model._episode_num = data["episode_num"]
        model._last_target_update = data["episode_num"]
        model._n_updates = data["n_updates"]
        model.exploration_rate = data["exploration_rate"]
        return model
