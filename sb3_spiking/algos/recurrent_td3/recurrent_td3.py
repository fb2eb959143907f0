"""TD3 on sequences with a recurrent (GRSN, LIF or GRU) actor and critics, the POMDP setting of seed 003."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from sb3_spiking.algos.guided import GuideLike
from sb3_spiking.algos.recurrent_off_policy import (
    RecurrentOffPolicyAlgorithm,
    SequenceNetwork,
    forward_cores,
    polyak,
)
from sb3_spiking.algos.recurrent_td3.policies import GRSNPolicy, RecurrentContinuousCritic, RecurrentTD3Policy
from sb3_spiking.algos.sequence_buffer import BurnIn, SequenceSamples
from sb3_spiking.validation import check_float, check_int

SelfRecurrentTD3 = TypeVar("SelfRecurrentTD3", bound="RecurrentTD3")


class RecurrentTD3(RecurrentOffPolicyAlgorithm):
    """
    Recurrent TD3 (Fujimoto et al. 2018 on sequences, as in Ni, Eysenbach and Salakhutdinov 2022 and seed 003):
    sequences of ``seq_len`` transitions from the episode replay buffer, zero core state at each sequence start,
    TD targets from target networks run over the same sequence, losses averaged over the valid (masked) steps.

    :param policy: ``"GRSNPolicy"`` (any core through ``policy_kwargs=dict(core="grsn" | "lif" | "gru")``) or a class
    :param env: environment (wrapped in :class:`~sb3_spiking.envs.VecPrevActionReward` automatically)
    :param learning_rate: Adam learning rate (constant or schedule)
    :param buffer_size: maximum number of stored transitions
    :param learning_starts: random-action steps before learning (1000 = 5 Pendulum episodes)
    :param batch_size: number of sequences per gradient step
    :param tau: soft update coefficient
    :param gamma: discount factor
    :param train_freq: update the model every ``train_freq`` steps
    :param gradient_steps: gradient steps per rollout (-1: as many as env steps)
    :param action_noise: exploration noise on the [-1, 1] actions; ``None`` means Gaussian with std 0.1
    :param seq_len: trained transitions per sampled sequence
    :param burn_in: state-warming transitions before them (excluded from the losses)
    :param policy_delay: actor and target updates every ``policy_delay`` critic updates
    :param target_policy_noise: std of the target policy smoothing noise
    :param target_noise_clip: clip of the target policy smoothing noise
    :param stats_window_size: window size of the rollout logging
    :param tensorboard_log: tensorboard log folder
    :param policy_kwargs: policy arguments (``core``, ``hidden_size``, ``net_arch``, ``core_kwargs``, ...)
    :param verbose: verbosity level
    :param seed: random seed
    :param device: torch device
    :param guide: guided training (seed 002): a privileged guide (SB3 model fed ``info["privileged_obs"]``, callable
        ``(obs, info) -> action`` or path of a model zip / agent folder) acts for the first ``H`` steps of each
        episode, and the actor loss becomes TD3+BC on its steps; see :class:`~sb3_spiking.algos.guided.Guidance`
    :param guide_kwargs: settings of guided training (``horizon_start``, ``horizon_end``, ``horizon_fraction``,
        ``threshold``, ``info_key``, ``bc_lambda``, ``bc_decay``, ``bc_epoch``, ``bc_alpha``)
    :param _init_setup_model: build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "GRSNPolicy": GRSNPolicy,
        "RecurrentPolicy": RecurrentTD3Policy,
    }
    policy_base = RecurrentTD3Policy
    policy: RecurrentTD3Policy
    actor: SequenceNetwork
    actor_target: SequenceNetwork
    critic: RecurrentContinuousCritic
    critic_target: RecurrentContinuousCritic

    def __init__(
        self,
        policy: str | type[RecurrentTD3Policy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 32,
        tau: float = 0.005,
        gamma: float = 0.9,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        seq_len: int = 64,
        burn_in: int = 0,
        policy_delay: int = 2,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
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
        self.policy_delay = check_int("policy_delay", policy_delay, minimum=1)
        self.target_policy_noise = check_float("target_policy_noise", target_policy_noise, minimum=0.0)
        self.target_noise_clip = check_float("target_noise_clip", target_noise_clip, minimum=0.0)
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
            action_noise=action_noise,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            seed=seed,
            device=device,
            supported_action_spaces=(spaces.Box,),
            guide=guide,
            guide_kwargs=guide_kwargs,
        )
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # Mirrors stable-baselines3 2.9 ``TD3._setup_model``.
        super()._setup_model()
        if self.action_noise is None:
            action_dim = int(np.prod(self.action_space.shape))
            self.action_noise = NormalActionNoise(np.zeros(action_dim), 0.1 * np.ones(action_dim))
        self.actor = self.policy.network("actor")
        self.actor_target = self.policy.network("actor_target")
        self.critic = self.policy.network("critic")
        self.critic_target = self.policy.network("critic_target")

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        # Mirrors stable-baselines3 2.9 ``TD3.train``, on sequences of a recurrent core.
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        actor_losses, critic_losses = [], []
        for _ in range(gradient_steps):
            self._n_updates += 1
            samples: SequenceSamples = self.replay_buffer.sample(batch_size)
            # burn-in steps only warm the core states (no gradient); data holds the trained steps
            burn_in, data = samples.split_burn_in(self.burn_in)
            # observations: o_0 .. o_L (L + 1 steps); transition t goes from o_t to o_{t+1}
            obs, mask = data.observations, data.mask
            n_valid = mask.sum().clamp(min=1.0)

            with torch.no_grad():
                # the target networks' cores as one batch over o_0 .. o_L; the heads where o_(t+1) is read
                targets = [self.actor_target, *self.critic_target.q_networks]
                (actor_features, _), *critic_outputs = forward_cores(targets, obs, self._warm_states(targets, burn_in))
                noise = torch.randn((*obs.shape[:2], self.actor.prev_action_dim), device=obs.device)[1:]
                noise = (noise * self.target_policy_noise).clamp(-self.target_noise_clip, self.target_noise_clip)
                next_actions = (self.actor_target.forward_head(actor_features[1:]) + noise).clamp(-1.0, 1.0)
                next_outputs = [(features[1:], state) for features, state in critic_outputs]
                next_q = torch.stack(self.critic_target.forward_heads(next_outputs, next_actions)).min(dim=0).values
                target_q = data.rewards + (1.0 - data.terminated) * self.gamma * next_q

            states = self._warm_states(self.critic.q_networks, burn_in)
            current_q = self.critic(obs[:-1], data.actions, states)
            critic_loss = sum((((q - target_q) ** 2) * mask).sum() / n_valid for q in current_q)
            critic_losses.append(critic_loss.item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            if self._n_updates % self.policy_delay == 0:
                actor_loss = self._actor_loss(burn_in, data)
                actor_losses.append(actor_loss.item())
                self.actor.optimizer.zero_grad()
                actor_loss.backward()
                self.actor.optimizer.step()
                polyak(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak(self.actor.parameters(), self.actor_target.parameters(), self.tau)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if actor_losses:
            self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        if self.guidance is not None:
            self.logger.record("train/bc_lambda", self.guidance.bc_weight(self._n_updates))

    def _actor_loss(self, burn_in: BurnIn | None, data: SequenceSamples) -> torch.Tensor:
        """
        :param burn_in: the burn-in steps of the batch (they only warm the core states, without gradient)
        :param data: the trained steps
        :return: ``-Q1(h_t, pi(h_t))`` averaged over the valid steps, with the critic just updated; with a guide the
            TD3+BC loss (:func:`~sb3_spiking.algos.guided.td3_bc_actor_loss`) on the guide's steps
        """
        obs, mask = data.observations, data.mask
        actor_state, q1_state = self._warm_states([self.actor, self.critic.q_networks[0]], burn_in)
        actions = self.actor(obs[:-1], actor_state)[0]
        actor_q = self.critic.q1_forward(obs[:-1], actions, q1_state)
        if self.guidance is not None:
            return self.guidance.actor_loss(actor_q, actions, data.actions, mask, data.guided, self._n_updates)
        return -(actor_q * mask).sum() / mask.sum().clamp(min=1.0)

    def learn(
        self: SelfRecurrentTD3,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "RecurrentTD3",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRecurrentTD3:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "actor_target", "critic_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "actor.optimizer", "critic.optimizer"], []
