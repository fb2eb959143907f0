"""QMIX (Rashid et al. 2018) with spiking or conventional recurrent agents on PettingZoo parallel envs."""

from __future__ import annotations

import io
import pathlib
import sys
import time
import zipfile
from collections.abc import Collection
from functools import partial
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.save_util import json_to_data, load_from_pkl, open_path, save_to_pkl
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import safe_mean
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.marl.buffer import EpisodeReplayBuffer
from sb3_spiking.marl.env_utils import GLOBAL_STATE_SOURCES, EnvSpec, read_observations
from sb3_spiking.marl.learner import QLearner
from sb3_spiking.marl.policies import PredictState, QMIXPolicy
from sb3_spiking.marl.runner import EpisodeRunner
from sb3_spiking.marl.vec_env import team_spec, wrap_parallel_env
from sb3_spiking.snn.cores import CORES
from sb3_spiking.validation import check_bool, check_choice, check_finite_observation, check_float, check_int

SelfQMIX = TypeVar("SelfQMIX", bound="QMIX")
TeamObs = dict[str, np.ndarray]


class QMIX(BaseAlgorithm):
    """
    QMIX: decentralised agents with shared parameters, trained through a monotonic mixing network
    conditioned on the global state (centralised training, decentralised execution).

    The PettingZoo ``ParallelEnv`` is seen as one SB3 environment through
    :func:`~sb3_spiking.marl.vec_env.wrap_parallel_env` (team observations, team reward = sum of the agents'
    rewards); pass an env wrapped the same way as ``eval_env`` of SB3's ``EvalCallback``. Per agent input:
    own observation, one-hot last action, one-hot agent id; agent network fc 64 + ReLU -> core 64 -> fc to
    utilities. An agent that terminates leaves the episode (masked out of the mixer); the episode goes on until
    no agent is left, and is terminal only when every agent of its last step terminated. ``learn(n)`` collects
    exactly ``n`` env steps: an episode running at the budget is stored cut (not terminal).

    :param agent: agent core, a name of :data:`sb3_spiking.snn.cores.CORES` (``"grsn"``, ``"gru"``, ``"lif"``,
        ``"mlp"``)
    :param env: a PettingZoo ``ParallelEnv`` with equal Discrete action spaces and Box observations (or one
        wrapped by ``wrap_parallel_env``)
    :param learning_rate: optimiser learning rate, constant or a schedule of the remaining progress
    :param buffer_size: replay capacity in episodes
    :param batch_size: episodes per gradient step; training starts once that many are stored
    :param gamma: discount factor
    :param exploration_initial_eps: initial epsilon of epsilon-greedy (per agent)
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
    :param stats_window_size: episodes averaged in the rollout logs
    :param tensorboard_log: TensorBoard log folder (None: none)
    :param verbose: 0 silent, 1 log to stdout
    :param seed: random seed (python, numpy, torch, env reset)
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``
    :param policy: the policy class (:class:`~sb3_spiking.marl.policies.QMIXPolicy` or a subclass)
    :param _init_setup_model: build the networks now (False only when loading)
    """

    policy_aliases: ClassVar[dict[str, type[QMIXPolicy]]] = {"QMIXPolicy": QMIXPolicy}
    optimizers: ClassVar[dict[str, type[torch.optim.Optimizer]]] = {
        "adam": torch.optim.Adam,
        "rmsprop": torch.optim.RMSprop,
    }
    policy: QMIXPolicy
    env_spec: EnvSpec

    def __init__(
        self,
        agent: str = "grsn",
        env: Any = None,
        learning_rate: float | Schedule = 5e-4,
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
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        policy: str | type[QMIXPolicy] = QMIXPolicy,
        _init_setup_model: bool = True,
    ) -> None:
        self.agent = check_choice("agent", agent, sorted(CORES))
        if not callable(learning_rate):
            check_float("learning_rate", learning_rate, minimum=0.0, strict=True)
        self.buffer_size = check_int("buffer_size", buffer_size, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        if batch_size > buffer_size:
            raise ValueError(f"batch_size ({batch_size}) must not exceed buffer_size ({buffer_size})")
        self.gamma = check_float("gamma", gamma, 0.0, 1.0)
        self.exploration_initial_eps = check_float("exploration_initial_eps", exploration_initial_eps, 0.0, 1.0)
        self.exploration_final_eps = check_float("exploration_final_eps", exploration_final_eps, 0.0, 1.0)
        self.exploration_steps = check_int("exploration_steps", exploration_steps, minimum=0)
        self.target_update_interval = check_int("target_update_interval", target_update_interval, minimum=1)
        self.train_freq = check_int("train_freq", train_freq, minimum=1)
        self.gradient_steps = check_int("gradient_steps", gradient_steps, minimum=1)
        self.max_grad_norm = check_float("max_grad_norm", max_grad_norm, minimum=0.0, strict=True)
        self.td_lambda = check_float("td_lambda", td_lambda, 0.0, 1.0)
        self.double_q = check_bool("double_q", double_q)
        self.optimizer = check_choice("optimizer", optimizer, sorted(self.optimizers))
        self.obs_last_action = check_bool("obs_last_action", obs_last_action)
        self.obs_agent_id = check_bool("obs_agent_id", obs_agent_id)
        self.global_state = check_choice("global_state", global_state, GLOBAL_STATE_SOURCES)
        self.optimizer_kwargs = _check_kwargs("optimizer_kwargs", optimizer_kwargs)
        self.agent_kwargs = _check_kwargs("agent_kwargs", agent_kwargs)
        self.mixer_kwargs = _check_kwargs("mixer_kwargs", mixer_kwargs)
        check_int("stats_window_size", stats_window_size, minimum=1)
        check_int("verbose", verbose, minimum=0)
        if seed is not None:
            check_int("seed", seed)
        if tensorboard_log is not None and not isinstance(tensorboard_log, (str, pathlib.Path)):
            raise TypeError(f"tensorboard_log must be a folder path or None, got {tensorboard_log!r}")
        if isinstance(policy, type) and not issubclass(policy, QMIXPolicy):
            raise TypeError(f"policy must be QMIXPolicy or a subclass, got {policy.__name__}")
        if env is None and _init_setup_model:
            raise ValueError("QMIX needs an environment (env=None is only allowed through QMIX.load)")
        super().__init__(
            policy,
            env,
            learning_rate,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=False,
            seed=seed,
            supported_action_spaces=(spaces.MultiDiscrete,),
        )
        if self.env is not None:
            self.env_spec = team_spec(self.env, global_state)
        self.exploration_rate = exploration_initial_eps
        self._last_target_update = 0
        if _init_setup_model:
            self._setup_model()

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        return wrap_parallel_env(env)

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(
            self.observation_space,
            self.action_space,
            self.lr_schedule,
            core=self.agent,
            state_dim=self.env_spec.state_dim,
            agent_kwargs=self.agent_kwargs,
            mixer_kwargs=self.mixer_kwargs,
            obs_last_action=self.obs_last_action,
            obs_agent_id=self.obs_agent_id,
            optimizer_class=self.optimizers[self.optimizer],
            optimizer_kwargs=self.optimizer_kwargs,
        ).to(self.device)
        self.replay_buffer = EpisodeReplayBuffer(self.buffer_size, self.device)
        self.learner = QLearner(self.policy, self.gamma, self.td_lambda, self.double_q, self.max_grad_norm)
        self._create_aliases()

    def _create_aliases(self) -> None:
        self.agent_net = self.policy.agent_net
        self.mixer = self.policy.mixer
        self.target_agent_net = self.policy.target_agent_net
        self.target_mixer = self.policy.target_mixer

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """
        :param env: a parallel environment with the same agents and spaces as the model's
        :param force_reset: reset the env before training
        """
        self._check_spec(team_spec(env, self.global_state), self.env_spec)
        super().set_env(env, force_reset)

    @staticmethod
    def _check_spec(spec: EnvSpec, expected: EnvSpec) -> None:
        if spec != expected:
            raise ValueError(f"the environment does not match the model: {spec} != {expected}")

    def _update_exploration(self) -> None:
        progress = 1.0 if self.exploration_steps == 0 else min(1.0, self.num_timesteps / self.exploration_steps)
        self.exploration_rate = self.exploration_initial_eps + progress * (
            self.exploration_final_eps - self.exploration_initial_eps
        )

    def _act(
        self, team_obs: TeamObs, state: PredictState | None, episode_start: Any, epsilon: float
    ) -> tuple[np.ndarray, PredictState]:
        """Greedy actions of the policy, each agent exploring with probability ``epsilon`` (action indices)."""
        actions, state = self.policy.predict(team_obs, state, episode_start)
        if epsilon > 0:
            avail = np.asarray(team_obs["action_mask"], dtype=bool)
            random_actions = np.where(avail, np.random.random(avail.shape), -1.0).argmax(-1)
            explore = np.random.random(actions.shape) < epsilon
            actions = np.where(explore, random_actions, actions)
            state = (*state[:-1], self.policy.one_hot(actions))
        return actions, state

    def _explore(self, team_obs: TeamObs, state: PredictState | None, episode_start: bool) -> tuple:
        return self._act(team_obs, state, np.array([episode_start]), self.exploration_rate)

    def _on_env_step(
        self,
        callback: BaseCallback,
        new_obs: TeamObs,
        rewards: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
        actions: np.ndarray,
    ) -> bool:
        self.num_timesteps += 1
        self._update_exploration()
        self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
        callback.update_locals(
            {"new_obs": new_obs, "rewards": rewards, "dones": dones, "infos": infos, "actions": actions}
        )
        keep_going = callback.on_step()
        self._update_info_buffer(infos, dones)
        return keep_going

    def train(self, gradient_steps: int, batch_size: int | None = None) -> None:
        """
        Gradient steps on batches of whole episodes (:class:`~sb3_spiking.marl.learner.QLearner`).

        :param gradient_steps: number of gradient steps
        :param batch_size: episodes per batch (default: ``self.batch_size``)
        """
        self._update_learning_rate(self.policy.optimizer)
        stats = [
            self.learner.update(self.replay_buffer.sample(batch_size or self.batch_size)) for _ in range(gradient_steps)
        ]
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key in stats[0]:
            self.logger.record(f"train/{key}", float(np.mean([s[key] for s in stats])))

    def learn(
        self: SelfQMIX,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = 100,
        tb_log_name: str = "QMIX",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfQMIX:
        """
        Collect episodes with epsilon-greedy agents and train after each ``train_freq`` episodes.

        :param total_timesteps: env steps to collect; an episode running when they are spent is stored cut
        :param callback: SB3 callback(s), called after every env step
        :param log_interval: episodes between log dumps (None: never)
        :param tb_log_name: TensorBoard run name
        :param reset_num_timesteps: restart the step counter (False continues a previous ``learn``)
        :param progress_bar: show a tqdm/rich progress bar
        :return: this model
        """
        if self.env is None:
            raise ValueError("no environment: pass env to QMIX.load or call set_env first")
        check_int("total_timesteps", total_timesteps, minimum=0)
        if reset_num_timesteps:
            self._last_target_update = 0
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        self._update_exploration()
        callback.on_training_start(locals(), globals())
        runner = EpisodeRunner(self.env, self.env_spec)
        continue_training = True
        while continue_training and self.num_timesteps < total_timesteps:
            callback.on_rollout_start()
            assert self._last_obs is not None
            result = runner.run(
                self._last_obs,  # type: ignore[arg-type]
                self._explore,
                partial(self._on_env_step, callback),
                total_timesteps - self.num_timesteps,
            )
            callback.on_rollout_end()
            self._last_obs = result.next_obs  # type: ignore[assignment]
            continue_training = result.continue_training
            self.replay_buffer.add(result.episode)
            self._episode_num += 1
            if len(self.replay_buffer) >= self.batch_size and self._episode_num % self.train_freq == 0:
                self.train(self.gradient_steps)
            if self._episode_num - self._last_target_update >= self.target_update_interval:
                self.learner.update_targets()
                self._last_target_update = self._episode_num
            if log_interval is not None and self._episode_num % log_interval == 0:
                self.dump_logs()
        callback.on_training_end()
        return self

    def dump_logs(self) -> None:
        """Write the rollout, exploration and time statistics to the logger."""
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        if self.ep_info_buffer:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep["r"] for ep in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep["l"] for ep in self.ep_info_buffer]))
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        self.logger.record("time/fps", int((self.num_timesteps - self._num_timesteps_at_start) / elapsed))
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    def predict(  # type: ignore[override]
        self,
        observation: dict[str, Any],
        state: PredictState | None = None,
        episode_start: bool | np.ndarray | None = None,
        deterministic: bool = True,
        action_masks: dict[str, np.ndarray] | None = None,
        agents: Collection[str] | None = None,
    ) -> tuple[dict[str, int] | np.ndarray, PredictState]:
        """
        Actions of all agents for one env step (decentralised: each agent sees only its own observation).

        ``observation`` is either the PettingZoo dict ``{agent: observation}`` (the answer is ``{agent: action}``)
        or a batch of team observations of ``wrap_parallel_env`` (as ``EvalCallback`` passes them; the answer is
        an array (n_envs, n_agents)).

        :param observation: ``{agent: observation}`` for every agent in the episode, or team observations
        :param state: the state returned by the previous call (None: episode start)
        :param episode_start: True at the first step of an episode (resets the state)
        :param deterministic: greedy actions; otherwise epsilon-greedy with the current exploration rate
        :param action_masks: ``{agent: mask}`` when the env gives masks in ``infos`` rather than observations
        :param agents: the agents still in the episode (``env.agents``); None: all of them
        :return: the actions and the next state
        """
        if not isinstance(observation, dict):
            raise TypeError(f"observation must be a dict {{agent: observation}}, got {type(observation).__name__}")
        spec = self.env_spec
        epsilon = 0.0 if deterministic else self.exploration_rate
        team_keys = set(self.observation_space.spaces)
        if set(observation) <= team_keys and "obs" in observation and not set(observation) & set(spec.agents):
            obs = np.asarray(observation["obs"])
            for i, agent in enumerate(spec.agents):
                check_finite_observation(obs[:, i], f"observation of agent {agent!r}")
            actions, state = self._act(observation, state, episode_start, epsilon)
            return actions + spec.action_start, state
        infos = None
        if action_masks is not None:
            unknown = sorted(set(action_masks) - set(spec.agents), key=str)
            if unknown:
                raise ValueError(f"action_masks for unknown agents {unknown}; the agents are {list(spec.agents)}")
            infos = {a: {"action_mask": m} for a, m in action_masks.items()}
        obs, avail, alive = read_observations(spec, observation, infos, agents)
        start = None if episode_start is None else np.array([bool(np.any(episode_start))])
        team = {"obs": obs[None], "action_mask": avail[None], "alive": alive[None]}
        actions, state = self._act(team, state, start, epsilon)
        return {a: int(actions[0, i]) + spec.action_start for i, a in enumerate(spec.agents) if alive[i]}, state

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "agent_net", "mixer", "target_agent_net", "target_mixer", "learner"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """:param path: pickle file of the episode replay buffer (``.pkl`` is appended to paths without it)"""
        save_to_pkl(path, self.replay_buffer, self.verbose)

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Mirrors stable-baselines3 2.9 ``OffPolicyAlgorithm.load_replay_buffer``.

        :param path: a file written by :meth:`save_replay_buffer`
        """
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, EpisodeReplayBuffer):
            raise TypeError(f"{path} holds a {type(buffer).__name__}, not the EpisodeReplayBuffer of QMIX")
        buffer.device = self.device
        self.replay_buffer = buffer

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfQMIX],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: Any = None,
        device: torch.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfQMIX:
        """
        Mirrors stable-baselines3 2.9 ``BaseAlgorithm.load``.
        SB3's ``load``, after checking that QMIX wrote the file and that ``env`` matches the saved one.

        :param path: zip written by :meth:`save`
        :param env: environment to continue training on (None: predict only); must match the saved one
        :param device: where to put the networks
        :param custom_objects: saved objects to replace (see SB3's ``load``)
        :param print_system_info: print the saving and the current system
        :param force_reset: reset the env before the next ``learn``
        :param kwargs: attributes to change on the loaded model
        :return: the model
        """
        data = _read_data(path)
        policy_class = data.get("policy_class")
        if not (isinstance(policy_class, type) and issubclass(policy_class, QMIXPolicy)):
            raise ValueError(f"{path} was not saved by QMIX: {_describe_origin(data)}")
        if env is not None:
            cls._check_spec(team_spec(env, data["global_state"]), data["env_spec"])
        return super().load(
            path,
            env=env,
            device=device,
            custom_objects=custom_objects,
            print_system_info=print_system_info,
            force_reset=force_reset,
            **kwargs,
        )


def _check_kwargs(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, got {value!r} ({type(value).__name__})")
    return dict(value)


def _read_data(path: str | pathlib.Path | io.BufferedIOBase) -> dict[str, Any]:
    """:return: the ``data`` entry of an SB3 zip file (empty when there is none)"""
    file = open_path(path, "r", suffix="zip")
    try:
        with zipfile.ZipFile(file) as archive:
            if "data" not in archive.namelist():
                return {}
            return json_to_data(archive.read("data").decode())
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path} is not a zip file written by QMIX.save") from error
    finally:
        if isinstance(path, io.BufferedIOBase):
            file.seek(0)
        else:
            file.close()


def _describe_origin(data: dict[str, Any]) -> str:
    """:return: which algorithm wrote ``data``, as far as its policy class tells"""
    policy_class = data.get("policy_class")
    if isinstance(policy_class, type):
        module = policy_class.__module__
        parts = module.split(".")
        where = f"its policy is {module}.{policy_class.__qualname__}"
        if len(parts) >= 2 and parts[-1] == "policies" and parts[-2] != "common":
            return f"it holds a {parts[-2].upper()} model ({where}); load it with that algorithm's load()"
        return f"it holds a model of another algorithm ({where}); load it with that algorithm's load()"
    if "env_spec" in data and "agent" in data:
        return "it was written by the QMIX of sb3_spiking before QMIX became an SB3 algorithm; retrain the model"
    return "it holds no SB3 model (no policy_class in its data)"
