"""Shared-parameter agent networks of QMIX: fc + ReLU -> recurrent core -> fc to per-action utilities."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sb3_spiking.snn.cores import make_core

AgentState = tuple[Tensor, ...]


class RecurrentAgent(nn.Module):
    """
    One network shared by all agents (parameter sharing); agents are rows of the batch.

    The core, from :func:`~sb3_spiking.snn.cores.make_core`, runs one update per environment step (temporal
    alignment paradigm, seed 003 section 4.1): ``"grsn"`` and ``"lif"`` are spiking (state ``(u, c)``), ``"gru"``
    a GRU (state ``(h,)``), ``"mlp"`` a feed-forward layer (no state), or any registered core.

    :param input_dim: per-agent input features (observation, one-hot last action, one-hot agent id)
    :param n_actions: number of discrete actions
    :param core: a name in :data:`~sb3_spiking.snn.cores.CORES` (``"grsn"``, ``"gru"``, ``"lif"``, ``"mlp"``, ...)
    :param fc_dim: width of the input layer
    :param hidden_dim: width of the core
    :param num_layers: stacked core layers
    :param core_kwargs: extra arguments of the core (spiking cells: ``surrogate``, ``threshold``, ``beta_init``, ...)
    """

    def __init__(
        self,
        input_dim: int,
        n_actions: int,
        core: str = "grsn",
        fc_dim: int = 64,
        hidden_dim: int = 64,
        num_layers: int = 1,
        core_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.core_type = core
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.fc_in = nn.Linear(input_dim, fc_dim)
        self.core = make_core(core, fc_dim, hidden_dim, num_layers=num_layers, **(core_kwargs or {}))
        self.fc_out = nn.Linear(hidden_dim, n_actions)
        self.n_state_tensors = len(self.core.initial_state(1))

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> AgentState:
        """Zero core state, each tensor (num_layers, batch, hidden_dim)."""
        return self.core.initial_state(batch_size, device)

    def forward(
        self, x: Tensor, state: AgentState | None = None, episode_starts: Tensor | None = None
    ) -> tuple[Tensor, AgentState]:
        """
        :param x: inputs (seq_len, batch, input_dim); batch = episodes x agents
        :param state: core state (see :meth:`initial_state`), ``None`` for zeros
        :param episode_starts: (seq_len, batch), 1 where the state is reset to zero before that step
        :return: utilities (seq_len, batch, n_actions) and the final core state
        """
        out, state = self.core(torch.relu(self.fc_in(x)), state, episode_starts)
        return self.fc_out(out), state
