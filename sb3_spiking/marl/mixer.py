"""QMIX monotonic mixing network (Rashid et al. 2018), hypernetworks conditioned on the global state."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class QMixer(nn.Module):
    """
    ``Q_tot = ELU(q . |W1(s)| + b1(s)) . |W2(s)| + V(s)``: the weights on the agents' utilities are
    non-negative, so ``dQ_tot / dQ_a >= 0`` for every agent (monotonic factorisation).

    :param n_agents: number of agents
    :param state_dim: size of the global state
    :param embed_dim: mixing embedding width
    :param hypernet_hidden: hidden width of the weight hypernetworks (two layers)
    """

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32, hypernet_hidden: int = 64) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.embed_dim = embed_dim
        self.hyper_w1 = nn.Sequential(
            nn.Linear(state_dim, hypernet_hidden), nn.ReLU(), nn.Linear(hypernet_hidden, n_agents * embed_dim)
        )
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_w2 = nn.Sequential(
            nn.Linear(state_dim, hypernet_hidden), nn.ReLU(), nn.Linear(hypernet_hidden, embed_dim)
        )
        self.value = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def forward(self, agent_qs: Tensor, states: Tensor) -> Tensor:
        """
        :param agent_qs: chosen utilities (..., n_agents)
        :param states: global states (..., state_dim), same leading shape
        :return: Q_tot (..., 1)
        """
        lead = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, 1, self.n_agents)
        s = states.reshape(-1, states.shape[-1])
        w1 = torch.abs(self.hyper_w1(s)).view(-1, self.n_agents, self.embed_dim)
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)
        hidden = F.elu(torch.bmm(qs, w1) + b1)
        w2 = torch.abs(self.hyper_w2(s)).view(-1, self.embed_dim, 1)
        q_tot = torch.bmm(hidden, w2).view(-1, 1) + self.value(s)
        return q_tot.view(*lead, 1)
