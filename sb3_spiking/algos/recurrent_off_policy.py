"""
Shared parts of the recurrent off-policy algorithms (:class:`~sb3_spiking.RecurrentTD3`,
:class:`~sb3_spiking.RecurrentDQN`), in the setting of Ni, Eysenbach and Salakhutdinov (2022) used by seed 003:
per-step inputs ``[o_t, a_{t-1}, r_{t-1}]`` (appended by :class:`~sb3_spiking.envs.VecPrevActionReward`),
embedded and fed to a recurrent core (GRSN, LIF or GRU), whose output and the observation embedding feed an MLP head.
"""

from __future__ import annotations

import inspect
import io
import pathlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib import ARS, QRDQN, TQC, TRPO, CrossQ, MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback, EventCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import VecEnv, is_vecenv_wrapped, unwrap_vec_normalize
from torch import nn

from sb3_spiking.algos.double_dqn import DoubleDQN
from sb3_spiking.algos.guided import Guidance, GuideLike
from sb3_spiking.algos.sequence_buffer import BurnIn, SequenceReplayBuffer
from sb3_spiking.envs.history import VecPrevActionReward
from sb3_spiking.snn.cores import CORES, make_core, run_cores
from sb3_spiking.validation import check_choice, check_finite_observation, check_float, check_int, check_sizes

CoreState = tuple[torch.Tensor, ...]

_SB3_TARGET_NAMES = ("actor_target", "critic_target", "q_net_target")
_SB3_NETWORK_NAMES = ("actor", "critic", "q_net", *_SB3_TARGET_NAMES)
"""Policy attributes that SB3's TD3 / DDPG / SAC / DQN read (``_create_aliases``)."""


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

    def embed(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        The three embeddings as one block-diagonal layer (one matmul over all steps).

        :param obs: ``[o_t, a_{t-1}, r_{t-1}]`` (seq_len, batch, obs_dim + prev_action_dim + 1)
        :return: the core input ``[emb(o_t), emb(a_{t-1}), emb(r_{t-1})]`` and ``emb(o_t)``
        """
        layers = [self.obs_embedding[0], self.action_embedding[0], self.reward_embedding[0]]
        weight = torch.block_diag(*(layer.weight for layer in layers))
        embedded = torch.relu(nn.functional.linear(obs, weight, torch.cat([layer.bias for layer in layers])))
        return embedded, embedded[..., : layers[0].out_features]

    def forward_core(
        self, obs: torch.Tensor, state: CoreState | None = None, episode_starts: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, CoreState]:
        """
        :param obs: ``[o_t, a_{t-1}, r_{t-1}]`` (seq_len, batch, obs_dim + prev_action_dim + 1)
        :param state: core state, ``None`` for zeros
        :param episode_starts: (seq_len, batch), 1 where the core state is reset
        :return: head features ``[core output, observation embedding]`` (seq_len, batch, ...) and the core state
        """
        ((features, state),) = forward_cores([self], obs, [state], episode_starts)
        return features, state

    def forward_head(self, features: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        """
        :param features: output of :meth:`forward_core`
        :param action: current action (critics with ``head_action_dim > 0``)
        :return: head output (seq_len, batch, out_dim)
        """
        return self.head(features if action is None else torch.cat([features, action], dim=-1))

    def forward(
        self,
        obs: torch.Tensor,
        state: CoreState | None = None,
        episode_starts: torch.Tensor | None = None,
        action: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, CoreState]:
        """:meth:`forward_core` then :meth:`forward_head`."""
        features, state = self.forward_core(obs, state, episode_starts)
        return self.forward_head(features, action), state


def forward_cores(
    networks: Sequence[SequenceNetwork],
    obs: torch.Tensor,
    states: Sequence[CoreState | None] | None = None,
    episode_starts: torch.Tensor | None = None,
) -> list[tuple[torch.Tensor, CoreState]]:
    """
    :meth:`SequenceNetwork.forward_core` of several networks on the same inputs, their cores run together
    (:func:`~sb3_spiking.snn.cores.run_cores`: spiking cores as one batch).

    :param networks: sequence networks
    :param obs: ``[o_t, a_{t-1}, r_{t-1}]`` (seq_len, batch, obs features)
    :param states: initial core state of each network (``None`` for zeros), ``None`` for zeros everywhere
    :param episode_starts: (seq_len, batch), 1 where the core states are reset
    :return: head features and final core state of each network
    """
    embedded = [network.embed(obs) for network in networks]
    outputs = run_cores([network.core for network in networks], [x for x, _ in embedded], states, episode_starts)
    return [
        (torch.cat([out, obs_emb], dim=-1), state) for (out, state), (_, obs_emb) in zip(outputs, embedded, strict=True)
    ]


def polyak(params: Iterable[torch.Tensor], target_params: Iterable[torch.Tensor], tau: float) -> None:
    """
    SB3's ``polyak_update`` (``target = (1 - tau) target + tau param``, the same operations) in two multi-tensor calls.

    :param params: parameters of the online network
    :param target_params: the corresponding parameters of its target network (updated in place)
    :param tau: soft update coefficient
    """
    with torch.no_grad():
        targets = list(target_params)
        torch._foreach_mul_(targets, 1.0 - tau)
        torch._foreach_add_(targets, list(params), alpha=tau)


def target_copy(source: nn.Module, target: nn.Module) -> nn.Module:
    """
    :param source: an online network
    :param target: a new network of the same architecture
    :return: ``target`` holding the weights of ``source``, in eval mode (a target network)
    """
    target.load_state_dict(source.state_dict())
    return target.train(False)


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

    algorithm_name: ClassVar[str]
    """The sb3_spiking algorithm that trains this policy (``"RecurrentTD3"``, ``"RecurrentDQN"``)."""

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
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        squash_output: bool = False,
    ) -> None:
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(
                f"observation_space must be a 1-D Box [o_t, a_(t-1), r_(t-1)], got {observation_space}: "
                "wrap a 1-D Box env in sb3_spiking.envs.VecPrevActionReward"
            )
        if optimizer_kwargs is not None and not isinstance(optimizer_kwargs, dict):
            raise TypeError(f"optimizer_kwargs must be a dict or None, got {optimizer_kwargs!r}")
        super().__init__(
            observation_space,
            action_space,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=squash_output,
        )
        check_choice("core", core, sorted(CORES))
        if core_kwargs is not None and not isinstance(core_kwargs, dict):
            raise TypeError(f"core_kwargs must be a dict or None, got {core_kwargs!r} ({type(core_kwargs).__name__})")
        embed_dims = check_sizes("embed_dims", embed_dims)
        if len(embed_dims) != 3:
            raise ValueError(
                f"embed_dims must hold 3 sizes (observation, previous action, previous reward), got {embed_dims}"
            )
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
        self.hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.net_arch = [128, 128] if net_arch is None else check_sizes("net_arch", net_arch)
        self.embed_dims = tuple(embed_dims)
        self.core_kwargs = dict(core_kwargs or {})

    def __getattr__(self, name: str) -> Any:
        """
        Submodules as attributes, except the names under which SB3's TD3 / DDPG / SAC / DQN read their networks
        (``_create_aliases``, also when they load a file): the target networks, and the networks this policy lacks.
        Those raise a ``TypeError`` naming the algorithm to use; our algorithms use :meth:`network`.

        :param name: attribute name
        """
        if name in _SB3_TARGET_NAMES or (name in _SB3_NETWORK_NAMES and name not in self.__dict__.get("_modules", {})):
            raise TypeError(
                f"{type(self).__name__} is the recurrent policy of sb3_spiking.{self.algorithm_name} (networks run on "
                f"sequences of [o_t, a_(t-1), r_(t-1)]); another algorithm asked it for {name!r}, as SB3's TD3, "
                f"DDPG, SAC and DQN do when built with it or loading its file. Use sb3_spiking.{self.algorithm_name}: "
                f"load a model saved by {self.algorithm_name} with sb3_spiking.{self.algorithm_name}.load"
            )
        return super().__getattr__(name)

    def network(self, name: str) -> nn.Module:
        """
        :param name: name of one of the policy's networks (``"actor_target"``, ``"q_net_target"``, ...)
        :return: that network; target networks are reached only this way (see :meth:`__getattr__`)
        """
        return self._modules[name]

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        """
        :param params: parameters to optimize
        :param lr: initial learning rate
        :return: ``optimizer_class(params, lr=lr, **optimizer_kwargs)``, with the multi-tensor implementation
            (``foreach=True``) where the optimizer has one and ``optimizer_kwargs`` leave it unset: the same updates
            in a few operations over all parameters instead of about ten per parameter (PyTorch picks it by default
            on CUDA only)
        """
        kwargs = dict(self.optimizer_kwargs)
        if "foreach" in inspect.signature(self.optimizer_class).parameters:
            kwargs.setdefault("foreach", True)
        return self.optimizer_class(params, lr=lr, **kwargs)

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
        self,
        observation: torch.Tensor,
        state: CoreState | None,
        episode_starts: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, CoreState]:
        """
        One step of the acting network.

        :param observation: (n_envs, obs features)
        :param state: core state, ``None`` for zeros
        :param episode_starts: (n_envs,), 1 where the state is reset first
        :param deterministic: unused (the acting networks are deterministic)
        :return: actions (n_envs, ...) and the new core state
        """
        raise NotImplementedError

    def check_observation(self, observation: Any) -> None:
        """
        Refuse non-finite observations, and plain ``o_t`` observations of an env that lacks
        :class:`~sb3_spiking.envs.VecPrevActionReward`, naming the wrapper.

        :param observation: observation of one or ``n_envs`` environments
        """
        check_finite_observation(observation)
        shape = np.shape(observation)
        if shape and shape[-1] == self.obs_dim:
            raise ValueError(
                f"{type(self).__name__} reads [o_t, a_(t-1), r_(t-1)] ({self.observation_space.shape[0]} values: "
                f"{self.obs_dim} + {self.prev_action_dim} + 1), got observations of shape {shape}, o_t alone: the env "
                "lacks sb3_spiking.envs.VecPrevActionReward. The algorithms add it to the envs they are given "
                "(constructor, set_env, load(env=...), EvalCallback); elsewhere wrap the env yourself, e.g. "
                "evaluate_policy(model, VecPrevActionReward(env)), or in an rl_zoo3 config "
                "vec_env_wrapper: sb3_spiking.envs.VecPrevActionReward"
            )

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """
        Mirrors sb3-contrib 2.9 ``RecurrentActorCriticPolicy.predict``.
        :param observation: ``[o_t, a_{t-1}, r_{t-1}]`` of one or ``n_envs`` environments
        :param state: core state returned by the previous call, ``None`` for zeros
        :param episode_start: (n_envs,) booleans, the state is reset to zero where True; ``None`` for no reset
        :param deterministic: unused (exploration noise is added by the algorithm during training)
        :return: actions and the new core state (tuple of arrays, each (num_layers, n_envs, hidden))
        """
        self.check_observation(observation)
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = obs_tensor.shape[0]
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=bool)
        with torch.no_grad():
            states = None if state is None else tuple(torch.as_tensor(s, device=self.device).float() for s in state)
            starts = torch.as_tensor(np.asarray(episode_start), device=self.device).float().reshape(n_envs)
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
    environment is wrapped in :class:`~sb3_spiking.envs.VecPrevActionReward` (also the ``eval_env`` of an
    ``EvalCallback``), the policy state is carried from step to step (reset at episode start) while collecting
    experience, and the replay buffer stores whole episodes
    (:class:`~sb3_spiking.algos.sequence_buffer.SequenceReplayBuffer`, sequences of ``burn_in + seq_len`` steps).
    With a ``guide``, the guide acts for the first steps of each episode (:class:`~sb3_spiking.algos.guided.Guidance`,
    ``self.guidance``, saved with the model without the guide object).
    Arguments as in SB3, checked here; see :class:`~sb3_spiking.RecurrentTD3` for their meaning.
    """

    policy: RecurrentOffPolicyPolicy
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {}
    policy_base: ClassVar[type[RecurrentOffPolicyPolicy]] = RecurrentOffPolicyPolicy
    """The policies this algorithm can train (subclasses of it)."""
    replay_buffer: SequenceReplayBuffer

    def __init__(
        self,
        policy: str | type[RecurrentOffPolicyPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule,
        buffer_size: int,
        learning_starts: int,
        batch_size: int,
        tau: float,
        gamma: float,
        train_freq: int | tuple[int, str],
        gradient_steps: int,
        seq_len: int,
        burn_in: int,
        action_noise: ActionNoise | None,
        policy_kwargs: dict[str, Any] | None,
        stats_window_size: int,
        tensorboard_log: str | None,
        verbose: int,
        seed: int | None,
        device: torch.device | str,
        supported_action_spaces: tuple[type[spaces.Space], ...],
        guide: GuideLike | None = None,
        guide_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if guide_kwargs is not None and not isinstance(guide_kwargs, dict):
            raise TypeError(f"guide_kwargs must be a dict or None, got {guide_kwargs!r}")
        unknown = sorted(set(guide_kwargs or {}) - set(inspect.signature(Guidance).parameters) - {"guide"})
        if unknown:
            allowed = sorted(set(inspect.signature(Guidance).parameters) - {"guide"})
            raise ValueError(f"unknown guide_kwargs {unknown}, allowed: {allowed}")
        # guide_kwargs are checked even without a guide (a config may switch the guide off with guide: None)
        guidance = Guidance(**(guide_kwargs or {}))
        self.guidance: Guidance | None = None
        if not callable(learning_rate):
            check_float("learning_rate", learning_rate, minimum=0.0, strict=True)
        check_int("buffer_size", buffer_size, minimum=1)
        check_int("learning_starts", learning_starts, minimum=0)
        check_int("batch_size", batch_size, minimum=1)
        check_float("tau", tau, minimum=0.0, maximum=1.0)
        check_float("gamma", gamma, minimum=0.0, maximum=1.0)
        _check_train_freq(train_freq)
        check_int("gradient_steps", gradient_steps, minimum=-1)
        self.seq_len = check_int("seq_len", seq_len, minimum=1)
        self.burn_in = check_int("burn_in", burn_in, minimum=0)
        if action_noise is not None and not isinstance(action_noise, ActionNoise):
            raise TypeError(f"action_noise must be an ActionNoise or None, got {action_noise!r}")
        if policy_kwargs is not None and not isinstance(policy_kwargs, dict):
            raise TypeError(f"policy_kwargs must be a dict or None, got {policy_kwargs!r}")
        check_int("stats_window_size", stats_window_size, minimum=1)
        check_int("verbose", verbose, minimum=0)
        if seed is not None:
            check_int("seed", seed)
        self._last_policy_state: tuple[np.ndarray, ...] | None = None
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]  # None when loading
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=SequenceReplayBuffer,
            replay_buffer_kwargs={"seq_len": seq_len, "burn_in": burn_in},
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=supported_action_spaces,
            support_multi_env=True,
        )
        if not (isinstance(self.policy_class, type) and issubclass(self.policy_class, self.policy_base)):
            made_by = _algorithms_using(self.policy_class)
            origin = (
                f", the policy of {' / '.join(made_by)}: load a model saved by "
                f"{' / '.join(made_by)} with {' / '.join(name + '.load' for name in made_by)}"
                if made_by
                else ""
            )
            raise TypeError(
                f"{type(self).__name__} needs a {_class_name(self.policy_base)} (e.g. 'GRSNPolicy'), "
                f"got {_class_name(self.policy_class)}{origin}"
            )
        if guide is not None:
            guidance.set_guide(guide)
            self.guidance = guidance
            guidance.bind(self.action_space, self.env, self.burn_in)

    def _setup_model(self) -> None:
        super()._setup_model()
        if "guide" in self.__dict__:  # Algo.load(path, guide=...): SB3 sets load()'s extra arguments as attributes
            self.set_guide(self.__dict__.pop("guide"))

    def set_guide(self, guide: GuideLike) -> None:
        """
        Give the guide of guided training (again, after loading a model trained with a guide object), or start guided
        training with the default settings.

        :param guide: an SB3 model, a callable ``(obs, info) -> action`` or a path, see
            :class:`~sb3_spiking.algos.guided.Guidance`
        """
        guidance = self.guidance if self.guidance is not None else Guidance()
        guidance.set_guide(guide)
        guidance.bind(self.action_space, self.env, self.burn_in)
        self.guidance = guidance

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
    ) -> tuple[int, BaseCallback]:
        # Mirrors stable-baselines3 2.9 ``OffPolicyAlgorithm._setup_learn``.
        reset = reset_num_timesteps or self._last_obs is None
        if reset:  # SB3 resets the env: the running episodes end here
            self._last_policy_state = None
            self.replay_buffer.end_running_episodes(self.n_envs)
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if self.guidance is not None:
            self.guidance.bind(self.action_space, self.env, self.burn_in)
            if reset:
                self.guidance.start_episodes(self.env)  # type: ignore[arg-type]
        return result

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        for eval_callback in _eval_callbacks(callback):
            if not is_vecenv_wrapped(eval_callback.eval_env, VecPrevActionReward):
                eval_callback.eval_env = VecPrevActionReward(eval_callback.eval_env)
        if self.guidance is not None:
            self.guidance.watch(list(_eval_callbacks(callback)))
        return super()._init_callback(callback, progress_bar)

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        # Mirrors stable-baselines3 2.9 ``OffPolicyAlgorithm._sample_action``, carrying the core state.
        assert self._last_obs is not None, "self._last_obs was not set"
        # The acting network runs during warm-up too, so that its state is right when it takes over.
        unscaled_action, self._last_policy_state = self.policy.predict(
            self._last_obs, self._last_policy_state, self._last_episode_starts
        )
        if self.num_timesteps < learning_starts:
            unscaled_action = np.array([self.action_space.sample() for _ in range(n_envs)])
        action, buffer_action = unscaled_action, unscaled_action
        if isinstance(self.action_space, spaces.Box):
            buffer_action = self.policy.scale_action(unscaled_action)
            if action_noise is not None:
                buffer_action = np.clip(buffer_action + action_noise(), -1, 1)
            action = self.policy.unscale_action(buffer_action)
        if self.guidance is not None:  # the guide acts for the first H steps of each episode
            action, buffer_action = self.guidance.act(self, action, buffer_action)
        return action, buffer_action

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        # Mirrors stable-baselines3 2.9 ``OffPolicyAlgorithm._store_transition``.
        if self.guidance is not None:
            self.guidance.label(infos)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._last_episode_starts = np.asarray(dones, dtype=bool)
        if self.guidance is not None:
            self.guidance.advance(self.env, dones, infos)  # type: ignore[arg-type]

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """
        Mirrors stable-baselines3 2.9 ``OffPolicyAlgorithm.load_replay_buffer``.
        Load a :class:`~sb3_spiking.algos.sequence_buffer.SequenceReplayBuffer` written by ``save_replay_buffer``.
        It is sampled with this model's ``seq_len`` and ``burn_in``.

        :param path: the pickle file
        :param truncate_last_traj: close its running episodes as truncated (the env that produced them does not
            continue them); ``False`` keeps them open for an env that continues where it was saved (the same live env,
            ``load(..., env=env, force_reset=False)``). Closed anyway when the number of envs changed.
        """
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, SequenceReplayBuffer):
            raise TypeError(
                f"{type(self).__name__} needs a SequenceReplayBuffer, {path!r} holds a {type(buffer).__name__}"
            )
        if buffer.observation_space != self.observation_space or buffer.action_space != self.action_space:
            raise ValueError(
                f"the replay buffer in {path!r} holds observations {buffer.observation_space} and actions "
                f"{buffer.action_space}, the model has {self.observation_space} and {self.action_space}"
            )
        if truncate_last_traj or buffer.n_envs != self.n_envs:
            buffer.end_running_episodes(self.n_envs)
        buffer.seq_len, buffer.burn_in = self.seq_len, self.burn_in
        buffer.device = self.device
        self.replay_buffer = buffer

    @staticmethod
    def _warm_states(networks: Sequence[SequenceNetwork], burn_in: BurnIn | None) -> list[CoreState | None]:
        """
        :param networks: sequence networks of the policy
        :param burn_in: burn-in steps of a batch, see :meth:`SequenceSamples.split_burn_in`
        :return: the core state of each network after the burn-in steps (their cores run together), computed without
            gradient (burn-in steps only warm the state and carry no gradient, as in R2D2); ``None`` (zeros) without
            burn-in
        """
        if burn_in is None:
            return [None] * len(networks)
        with torch.no_grad():
            results = forward_cores(networks, burn_in.observations, None, burn_in.episode_starts)
        return [tuple(s * burn_in.warm[None, :, None] for s in state) for _, state in results]


def _check_train_freq(train_freq: Any) -> None:
    """``train_freq``: an int >= 1 or a tuple ``(int >= 1, "step" | "episode")``."""
    if isinstance(train_freq, tuple):
        if len(train_freq) != 2:
            raise ValueError(f"train_freq must be an int or a tuple (frequency, unit), got {train_freq!r}")
        check_int("train_freq[0]", train_freq[0], minimum=1)
        check_choice("train_freq unit", train_freq[1], ["step", "episode"])
    else:
        check_int("train_freq", train_freq, minimum=1)


def _eval_callbacks(callback: MaybeCallback) -> Iterator[EvalCallback]:
    """Every ``EvalCallback`` in a callback, a list or ``CallbackList`` of them, or their child callbacks."""
    if isinstance(callback, list):
        for child in callback:
            yield from _eval_callbacks(child)
    elif isinstance(callback, CallbackList):
        yield from _eval_callbacks(callback.callbacks)
    if isinstance(callback, EvalCallback):
        yield callback
    if isinstance(callback, EventCallback) and callback.callback is not None:
        yield from _eval_callbacks(callback.callback)


_KNOWN_ALGORITHMS: tuple[type[BaseAlgorithm], ...] = (
    A2C,
    DDPG,
    DQN,
    PPO,
    SAC,
    TD3,
    DoubleDQN,
    ARS,
    CrossQ,
    MaskablePPO,
    QRDQN,
    RecurrentPPO,
    TQC,
    TRPO,
)


def _class_name(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else repr(cls)


def _algorithms_using(policy_class: Any) -> list[str]:
    """
    :param policy_class: a policy class (e.g. from a saved model)
    :return: the algorithms it belongs to, e.g. ``["DDPG", "TD3"]``, none when unknown
    """
    if not isinstance(policy_class, type):
        return []
    if issubclass(policy_class, RecurrentOffPolicyPolicy):
        return [f"sb3_spiking.{policy_class.algorithm_name}"]
    names = [algo.__name__ for algo in _KNOWN_ALGORITHMS if policy_class in algo.policy_aliases.values()]
    if not names:
        names = [
            algo.__name__ for algo in _KNOWN_ALGORITHMS if issubclass(policy_class, tuple(algo.policy_aliases.values()))
        ]
    return names
