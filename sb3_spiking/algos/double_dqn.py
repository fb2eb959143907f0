"""Double DQN: SB3's DQN with the Double-DQN target (van Hasselt et al. 2016), the algorithm of seed 001."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.policies import BasePolicy
from torch.nn import functional as F


class DoubleDQN(DQN):
    """
    Double DQN: the online network picks the greedy next action, the target network evaluates it.

    Same constructor, save/load and hyperparameters as :class:`stable_baselines3.DQN`; only ``train()`` differs.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = dict(DQN.policy_aliases)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        # Mirrors stable-baselines3 2.9 ``DQN.train``; only the target differs (online argmax, target value).
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        losses = []
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma

            with torch.no_grad():
                next_actions = self.q_net(replay_data.next_observations).argmax(dim=1, keepdim=True)
                next_q_values = torch.gather(
                    self.q_net_target(replay_data.next_observations), dim=1, index=next_actions
                )
                target_q_values = replay_data.rewards + (1 - replay_data.dones) * discounts * next_q_values

            current_q_values = torch.gather(
                self.q_net(replay_data.observations), dim=1, index=replay_data.actions.long()
            )
            loss = F.smooth_l1_loss(current_q_values, target_q_values)
            losses.append(loss.item())

            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))
