"""Recurrent actor and twin critics of :class:`~sb3_spiking.RecurrentTD3` (GRSN, LIF or GRU cores)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule
from torch import nn
from torch.nn import functional as F

from sb3_spiking.algos.recurrent_off_policy import (
    CoreState,
    RecurrentOffPolicyPolicy,
    SequenceNetwork,
    forward_cores,
    target_copy,
)
from sb3_spiking.snn.extra_state import ExtraStateMixin
from sb3_spiking.validation import check_int


class RecurrentContinuousCritic(nn.Module):
    """
    Twin Q(h_t, o_t, a_t) networks, each with its own recurrent core.

    :param n_critics: number of Q networks
    :param network_kwargs: arguments of each :class:`~sb3_spiking.algos.recurrent_off_policy.SequenceNetwork`
    """

    def __init__(self, n_critics: int, **network_kwargs: Any) -> None:
        super().__init__()
        check_int("n_critics", n_critics, minimum=1)
        self.q_networks = nn.ModuleList(SequenceNetwork(out_dim=1, **network_kwargs) for _ in range(n_critics))

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, states: list[CoreState | None] | None = None
    ) -> tuple[torch.Tensor, ...]:
        """
        :param obs: (seq_len, batch, obs features)
        :param actions: (seq_len, batch, action_dim), the action taken at each step
        :param states: initial core state of each critic, ``None`` for zeros
        :return: one (seq_len, batch) Q sequence per critic
        """
        return self.forward_heads(forward_cores(self.q_networks, obs, states), actions)

    def forward_heads(
        self, core_outputs: list[tuple[torch.Tensor, CoreState]], actions: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """
        :param core_outputs: :func:`~sb3_spiking.algos.recurrent_off_policy.forward_cores` of the critics
        :param actions: (seq_len, batch, action_dim)
        :return: one (seq_len, batch) Q sequence per critic
        """
        return tuple(
            q_net.forward_head(features, actions).squeeze(-1)
            for q_net, (features, _) in zip(self.q_networks, core_outputs, strict=True)
        )

    def q1_forward(self, obs: torch.Tensor, actions: torch.Tensor, state: CoreState | None = None) -> torch.Tensor:
        """
        First critic only, for the actor loss: differentiable with respect to ``actions`` only. Its core input holds
        no current action, so the core, and the first head layer's part that reads the core features, run without
        gradient; the head's weights get no gradient (SB3's TD3 gives them one that the critic step discards).

        :param obs: (seq_len, batch, obs features)
        :param actions: (seq_len, batch, action_dim)
        :param state: initial core state, ``None`` for zeros
        :return: (seq_len, batch)
        """
        q_net = self.q_networks[0]
        first, *rest = q_net.head
        n_features = first.in_features - actions.shape[-1]
        with torch.no_grad():
            features, _ = q_net.forward_core(obs, state)
            hidden = F.linear(features, first.weight[:, :n_features], first.bias)
        hidden = hidden + F.linear(actions, first.weight[:, n_features:].detach())
        for layer in rest:
            if isinstance(layer, nn.Linear):
                hidden = F.linear(hidden, layer.weight.detach(), layer.bias.detach())
            else:
                hidden = layer(hidden)
        return hidden.squeeze(-1)


class RecurrentTD3Policy(ExtraStateMixin, RecurrentOffPolicyPolicy):
    """
    Recurrent TD3 policy: actor ``tanh(head([core(o, a_prev, r_prev), emb(o)]))`` and ``n_critics`` critics
    ``head([core(...), emb(o), a])``, every network with its own recurrent core.

    :param observation_space: ``[o_t, a_{t-1}, r_{t-1}]`` Box
    :param action_space: Box action space
    :param lr_schedule: learning rate schedule
    :param core: ``"grsn"``, ``"lif"`` or ``"gru"``
    :param hidden_size: recurrent units
    :param net_arch: hidden layer sizes of the actor and critic heads
    :param embed_dims: sizes of the observation, previous action and previous reward embeddings
    :param core_kwargs: extra arguments of the cores (plain values)
    :param n_critics: number of critics
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer arguments, excluding the learning rate
    """

    algorithm_name = "RecurrentTD3"

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        core: str = "grsn",
        hidden_size: int = 128,
        net_arch: list[int] | None = None,
        embed_dims: tuple[int, int, int] = (32, 8, 8),
        core_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Box):
            raise ValueError(f"RecurrentTD3Policy needs a Box action space, got {action_space}")
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
            squash_output=True,
        )
        self.n_critics = check_int("n_critics", n_critics, minimum=1)
        action_dim = int(np.prod(action_space.shape))
        self.actor = self.make_actor()
        self.actor_target = target_copy(self.actor, self.make_actor())
        self.actor.optimizer = self.make_optimizer(self.actor.parameters(), lr_schedule(1))
        self.critic = self.make_critic(action_dim)
        self.critic_target = target_copy(self.critic, self.make_critic(action_dim))
        self.critic.optimizer = self.make_optimizer(self.critic.parameters(), lr_schedule(1))

    def make_actor(self) -> SequenceNetwork:
        """A new recurrent actor with tanh output."""
        return SequenceNetwork(out_dim=self.prev_action_dim, squash=True, **self._network_kwargs()).to(self.device)

    def make_critic(self, action_dim: int) -> RecurrentContinuousCritic:
        """
        :param action_dim: size of the action fed to the critic heads
        :return: new twin critics
        """
        return RecurrentContinuousCritic(self.n_critics, head_action_dim=action_dim, **self._network_kwargs()).to(
            self.device
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(n_critics=self.n_critics)
        return data

    def forward(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Actions for a batch of observations, each from a zero state (use :meth:`predict` to carry the state)."""
        return self.actor(observation.unsqueeze(0))[0].squeeze(0)

    def _predict(  # type: ignore[override]
        self,
        observation: torch.Tensor,
        state: CoreState | None,
        episode_starts: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, CoreState]:
        actions, state = self.actor(observation.unsqueeze(0), state, episode_starts.unsqueeze(0))
        return actions.squeeze(0), state

    def set_training_mode(self, mode: bool) -> None:
        self.actor.train(mode)
        self.critic.train(mode)
        self.training = mode


GRSNPolicy = RecurrentTD3Policy
