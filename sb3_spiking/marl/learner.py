"""QMIX learner (pymarl's QLearner): TD(lambda) targets, the masked mixing loss and the gradient update."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from sb3_spiking.marl.buffer import EpisodeBatch
from sb3_spiking.marl.policies import QMIXPolicy


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


class LossOutput(NamedTuple):
    loss: Tensor  # scalar, with gradient
    q_tot: Tensor  # (T, B), detached
    targets: Tensor  # (T, B)
    mask: Tensor  # (T, B)


class QLearner:
    """
    ``Q_tot(s_t, u_t)`` regressed on (double-Q, optionally TD(lambda)) targets of the target networks, over
    whole episodes. Agents out of the episode (``alive = 0``) enter the mixer with utility 0, in the chosen
    and in the bootstrapped utilities alike.

    :param policy: the QMIX policy (online and target networks, optimiser)
    :param gamma: discount
    :param td_lambda: lambda of the targets (0: one-step)
    :param double_q: choose the target actions with the online agents
    :param max_grad_norm: gradient clipping (max L2 norm over agent and mixer parameters)
    """

    def __init__(
        self, policy: QMIXPolicy, gamma: float, td_lambda: float, double_q: bool, max_grad_norm: float
    ) -> None:
        self.policy = policy
        self.gamma = gamma
        self.td_lambda = td_lambda
        self.double_q = double_q
        self.max_grad_norm = max_grad_norm

    def loss(self, batch: EpisodeBatch) -> LossOutput:
        """
        :param batch: padded episodes
        :return: the mean squared TD error over real transitions, with its parts
        """
        policy = self.policy
        q_all, target_q = policy.episode_utilities(batch.obs, batch.actions)
        chosen = q_all[:-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1) * batch.alive[:-1]
        q_tot = policy.mixer(chosen, batch.states[:-1]).squeeze(-1)
        with torch.no_grad():
            next_avail = batch.avail_actions[1:]
            if self.double_q:
                next_actions = q_all[1:].detach().masked_fill(~next_avail, -torch.inf).argmax(-1, keepdim=True)
                next_q = target_q[1:].gather(-1, next_actions).squeeze(-1)
            else:
                next_q = target_q[1:].masked_fill(~next_avail, -torch.inf).max(-1).values
            next_values = policy.target_mixer(next_q * batch.alive[1:], batch.states[1:]).squeeze(-1)
            targets = td_lambda_targets(
                batch.rewards, batch.terminated, batch.mask, next_values, self.gamma, self.td_lambda
            )
        loss = (((q_tot - targets) * batch.mask) ** 2).sum() / batch.mask.sum()
        return LossOutput(loss, q_tot.detach(), targets, batch.mask)

    def update(self, batch: EpisodeBatch) -> dict[str, float]:
        """
        One gradient step of the online agent network and mixer.

        :param batch: padded episodes
        :return: ``loss``, ``q_taken_mean``, ``target_mean`` (over real transitions) and ``grad_norm``
        """
        self.policy.set_training_mode(True)
        out = self.loss(batch)
        self.policy.optimizer.zero_grad()
        out.loss.backward()
        params = [p for group in self.policy.optimizer.param_groups for p in group["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        self.policy.optimizer.step()
        n_real = out.mask.sum()
        return {
            "loss": out.loss.item(),
            "q_taken_mean": ((out.q_tot * out.mask).sum() / n_real).item(),
            "target_mean": ((out.targets * out.mask).sum() / n_real).item(),
            "grad_norm": grad_norm.item(),
        }

    def update_targets(self) -> None:
        """Hard update: copy the online networks into the targets."""
        self.policy.target_agent_net.load_state_dict(self.policy.agent_net.state_dict())
        self.policy.target_mixer.load_state_dict(self.policy.mixer.state_dict())
