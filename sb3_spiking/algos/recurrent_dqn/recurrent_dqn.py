"""Recurrent double DQN (DRQN) on sequences with a GRSN, LIF or GRU core."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import LinearSchedule
from torch.nn import functional as F

from sb3_spiking.algos.guided import GuideLike
from sb3_spiking.algos.recurrent_dqn.policies import GRSNPolicy, RecurrentDQNPolicy
from sb3_spiking.algos.recurrent_off_policy import RecurrentOffPolicyAlgorithm, SequenceNetwork, polyak
from sb3_spiking.algos.sequence_buffer import SequenceSamples
from sb3_spiking.validation import check_float

SelfRecurrentDQN = TypeVar("SelfRecurrentDQN", bound="RecurrentDQN")


class RecurrentDQN(RecurrentOffPolicyAlgorithm):
    """
    Recurrent DQN with double-Q targets (Hausknecht and Stone 2015; van Hasselt et al. 2016) on sequences from the
    episode replay buffer (zero core state at each sequence start, losses averaged over the valid steps),
    epsilon-greedy exploration, soft target updates.

    :param policy: ``"GRSNPolicy"`` (any core through ``policy_kwargs=dict(core="grsn" | "lif" | "gru")``) or a class
    :param env: environment with Discrete actions (wrapped in :class:`~sb3_spiking.envs.VecPrevActionReward`)
    :param learning_rate: Adam learning rate (constant or schedule)
    :param buffer_size: maximum number of stored transitions
    :param learning_starts: random-action steps before learning
    :param batch_size: number of sequences per gradient step
    :param tau: soft update coefficient of the target network (every gradient step)
    :param gamma: discount factor
    :param train_freq: update the model every ``train_freq`` steps
    :param gradient_steps: gradient steps per rollout (-1: as many as env steps)
    :param seq_len: trained transitions per sampled sequence
    :param burn_in: state-warming transitions before them (excluded from the loss)
    :param exploration_fraction: fraction of the training over which epsilon decays
    :param exploration_initial_eps: initial epsilon
    :param exploration_final_eps: final epsilon
    :param max_grad_norm: gradient clipping norm
    :param stats_window_size: window size of the rollout logging
    :param tensorboard_log: tensorboard log folder
    :param policy_kwargs: policy arguments (``core``, ``hidden_size``, ``net_arch``, ``core_kwargs``, ...)
    :param verbose: verbosity level
    :param seed: random seed
    :param device: torch device
    :param guide: jump-start of guided training (seed 002): a privileged guide (SB3 model fed
        ``info["privileged_obs"]``, callable ``(obs, info) -> action`` or path) acts for the first ``H`` steps of each
        episode, its steps labelled in the replay buffer; the loss is unchanged (the TD3+BC term is RecurrentTD3's);
        see :class:`~sb3_spiking.algos.guided.Guidance`
    :param guide_kwargs: settings of guided training (``horizon_start``, ``horizon_end``, ``horizon_fraction``,
        ``threshold``, ``info_key``)
    :param _init_setup_model: build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "GRSNPolicy": GRSNPolicy,
        "RecurrentPolicy": RecurrentDQNPolicy,
    }
    policy_base = RecurrentDQNPolicy
    policy: RecurrentDQNPolicy
    q_net: SequenceNetwork
    q_net_target: SequenceNetwork

    def __init__(
        self,
        policy: str | type[RecurrentDQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 32,
        tau: float = 0.005,
        gamma: float = 0.9,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        seq_len: int = 64,
        burn_in: int = 0,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float = 10.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        guide: GuideLike | None = None,
        guide_kwargs: dict[str, Any] | None = None,
        _init_setup_model: bool = True,
    ) -> None:
        self.exploration_fraction = check_float("exploration_fraction", exploration_fraction, minimum=0.0, maximum=1.0)
        self.exploration_initial_eps = check_float(
            "exploration_initial_eps", exploration_initial_eps, minimum=0.0, maximum=1.0
        )
        self.exploration_final_eps = check_float(
            "exploration_final_eps", exploration_final_eps, minimum=0.0, maximum=1.0
        )
        self.max_grad_norm = check_float("max_grad_norm", max_grad_norm, minimum=0.0, strict=True)
        self.exploration_rate = self.exploration_initial_eps
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            seq_len=seq_len,
            burn_in=burn_in,
            action_noise=None,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            seed=seed,
            device=device,
            supported_action_spaces=(spaces.Discrete,),
            guide=guide,
            guide_kwargs=guide_kwargs,
        )
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # Mirrors stable-baselines3 2.9 ``DQN._setup_model``.
        super()._setup_model()
        self.q_net = self.policy.network("q_net")
        self.q_net_target = self.policy.network("q_net_target")
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )

    def _on_step(self) -> None:
        # Mirrors stable-baselines3 2.9 ``DQN._on_step`` (target copy, exploration rate).
        self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        # Mirrors stable-baselines3 2.9 ``DQN._sample_action``, carrying the core state.
        action, _ = super()._sample_action(learning_starts, action_noise, n_envs)
        explore = np.random.rand(n_envs) < self.exploration_rate
        if self.guidance is not None:
            explore &= ~self.guidance.active  # the guide's actions are kept
        action = np.where(explore, np.array([self.action_space.sample() for _ in range(n_envs)]), action)
        return action, action

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        # Mirrors stable-baselines3 2.9 ``DQN.train``, on sequences, with the double-DQN target.
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            self._n_updates += 1
            samples: SequenceSamples = self.replay_buffer.sample(batch_size)
            # burn-in steps only warm the core states (no gradient); data holds the trained steps
            burn_in, data = samples.split_burn_in(self.burn_in)
            # observations: o_0 .. o_L (L + 1 steps); transition t goes from o_t to o_{t+1}
            obs, mask = data.observations, data.mask
            n_valid = mask.sum().clamp(min=1.0)

            warm_state, target_warm_state = self._warm_states([self.q_net, self.q_net_target], burn_in)
            q_values = self.q_net(obs, warm_state)[0]
            with torch.no_grad():
                # double Q: the online network picks a_{t+1}, the target network evaluates it
                next_actions = q_values[1:].argmax(dim=-1, keepdim=True)
                target_q_values = self.q_net_target(obs, target_warm_state)[0]
                next_q = target_q_values[1:].gather(-1, next_actions).squeeze(-1)
                target_q = data.rewards + (1.0 - data.terminated) * self.gamma * next_q

            current_q = q_values[:-1].gather(-1, data.actions.long()).squeeze(-1)
            loss = (F.smooth_l1_loss(current_q, target_q, reduction="none") * mask).sum() / n_valid
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.q_net.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            polyak(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))

    def learn(
        self: SelfRecurrentDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "RecurrentDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRecurrentDQN:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []
