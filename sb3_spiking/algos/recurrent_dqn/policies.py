"""Recurrent Q-network policy of :class:`~sb3_spiking.RecurrentDQN` (GRSN, LIF or GRU core)."""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from sb3_spiking.algos.recurrent_off_policy import CoreState, RecurrentOffPolicyPolicy, SequenceNetwork, target_copy
from sb3_spiking.snn.extra_state import ExtraStateMixin


class RecurrentDQNPolicy(ExtraStateMixin, RecurrentOffPolicyPolicy):
    """
    Recurrent Q network ``head([core(o, a_prev, r_prev), emb(o)])`` with one output per action, and its target.

    :param observation_space: ``[o_t, a_{t-1}, r_{t-1}]`` Box
    :param action_space: Discrete action space
    :param lr_schedule: learning rate schedule
    :param core: ``"grsn"``, ``"lif"`` or ``"gru"``
    :param hidden_size: recurrent units
    :param net_arch: hidden layer sizes of the head
    :param embed_dims: sizes of the observation, previous action and previous reward embeddings
    :param core_kwargs: extra arguments of the core (plain values)
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer arguments, excluding the learning rate
    """

    algorithm_name = "RecurrentDQN"

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        core: str = "grsn",
        hidden_size: int = 128,
        net_arch: list[int] | None = None,
        embed_dims: tuple[int, int, int] = (32, 8, 8),
        core_kwargs: dict[str, Any] | None = None,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"RecurrentDQNPolicy needs a Discrete action space, got {action_space}")
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            core=core,
            hidden_size=hidden_size,
            net_arch=net_arch,
            embed_dims=embed_dims,
            core_kwargs=core_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        self.q_net = self.make_q_net()
        self.q_net_target = target_copy(self.q_net, self.make_q_net())
        self.optimizer = self.make_optimizer(self.q_net.parameters(), lr_schedule(1))

    def make_q_net(self) -> SequenceNetwork:
        """A new recurrent Q network."""
        return SequenceNetwork(out_dim=self.prev_action_dim, **self._network_kwargs()).to(self.device)

    def forward(self, observation: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions for a batch of observations, each from a zero state (use :meth:`predict` to carry it)."""
        return self.q_net(observation.unsqueeze(0))[0].squeeze(0).argmax(dim=-1)

    def _predict(  # type: ignore[override]
        self,
        observation: torch.Tensor,
        state: CoreState | None,
        episode_starts: torch.Tensor,
        deterministic: bool = True,
    ) -> tuple[torch.Tensor, CoreState]:
        q_values, state = self.q_net(observation.unsqueeze(0), state, episode_starts.unsqueeze(0))
        return q_values.squeeze(0).argmax(dim=-1), state

    def set_training_mode(self, mode: bool) -> None:
        self.q_net.train(mode)
        self.training = mode


GRSNPolicy = RecurrentDQNPolicy
