"""
GRSN and LIF recurrent actor-critic policies for sb3-contrib's ``RecurrentPPO`` (seed 003, temporal alignment
paradigm: one spiking-neuron update per env step, state carried between steps and reset at episode start).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_spiking.snn.cores import make_core
from sb3_spiking.snn.extra_state import ExtraStateMixin
from sb3_spiking.snn.recurrent import SequenceState
from sb3_spiking.validation import check_finite_observation


class SpikingRecurrentActorCriticPolicy(ExtraStateMixin, RecurrentActorCriticPolicy):
    """
    ``RecurrentActorCriticPolicy`` whose actor and critic LSTMs are spiking cores from
    :func:`~sb3_spiking.snn.cores.make_core` (state ``(u, c)`` in place of the LSTM's ``(h, c)``). Mirrors
    sb3-contrib 2.x ``RecurrentActorCriticPolicy._process_sequence``.
    Arguments as in ``RecurrentActorCriticPolicy`` (``lstm_hidden_size`` and ``n_lstm_layers`` size the spiking
    layers), except that ``lstm_kwargs`` is replaced by ``cell_kwargs``.

    :param observation_space: observation space
    :param action_space: action space (Box or Discrete)
    :param lr_schedule: learning rate schedule
    :param args: further positional arguments of ``RecurrentActorCriticPolicy``
    :param cell_kwargs: arguments of the spiking cells (``surrogate``, ``threshold``, ``beta_init`` / ``beta``)
    :param kwargs: further keyword arguments of ``RecurrentActorCriticPolicy``
    """

    cell: ClassVar[str]  # a name in sb3_spiking.snn.cores.CORES

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        cell_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("lstm_kwargs"):
            raise ValueError("spiking recurrent policies take cell_kwargs, not lstm_kwargs")
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
        self.cell_kwargs = dict(cell_kwargs or {})
        self.lstm_actor = self._make_spiking(self.lstm_actor)
        if self.lstm_critic is not None:
            self.lstm_critic = self._make_spiking(self.lstm_critic)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def forward(
        self, obs: torch.Tensor, lstm_states: RNNStates, episode_starts: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, RNNStates]:
        """``RecurrentActorCriticPolicy.forward`` (the rollouts' step), refusing NaN / inf observations."""
        check_finite_observation(obs)
        return super().forward(obs, lstm_states, episode_starts, deterministic)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        ``RecurrentActorCriticPolicy.predict``, refusing NaN / inf observations.
        Mirrors sb3-contrib 2.9 ``RecurrentActorCriticPolicy.predict``.
        """
        check_finite_observation(observation)
        return super().predict(observation, state, episode_start, deterministic)

    def _make_spiking(self, lstm: nn.LSTM) -> nn.Module:
        return make_core(self.cell, lstm.input_size, lstm.hidden_size, num_layers=lstm.num_layers, **self.cell_kwargs)

    @staticmethod
    def _process_sequence(
        features: torch.Tensor, lstm_states: SequenceState, episode_starts: torch.Tensor, lstm: nn.Module
    ) -> tuple[torch.Tensor, SequenceState]:
        """
        Same contract as ``RecurrentActorCriticPolicy._process_sequence``; the spiking module resets its state at
        episode starts itself, so the whole padded batch of sequences runs in one call.

        :param features: (n_seq * seq_len, features_dim), sequence-major
        :param lstm_states: ``(u, c)`` each (num_layers, n_seq, hidden)
        :param episode_starts: (n_seq * seq_len,)
        :param lstm: the spiking core
        :return: spikes (n_seq * seq_len, hidden) and the final state
        """
        n_seq = lstm_states[0].shape[1]
        features_sequence = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        episode_starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)
        output, lstm_states = lstm(features_sequence, lstm_states, episode_starts)
        return torch.flatten(output.transpose(0, 1), start_dim=0, end_dim=1), lstm_states

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            lstm_hidden_size=self.lstm_output_dim,
            n_lstm_layers=self.lstm_hidden_state_shape[0],
            shared_lstm=self.shared_lstm,
            enable_critic_lstm=self.enable_critic_lstm,
            cell_kwargs=self.cell_kwargs,
        )
        return data


class GRSNPolicy(SpikingRecurrentActorCriticPolicy):
    """Recurrent actor-critic policy with gated recurrent spiking neurons (seed 003, Eq. 1, 4, 12-14)."""

    cell = "grsn"


class LIFRecurrentPolicy(SpikingRecurrentActorCriticPolicy):
    """Recurrent actor-critic policy with plain LIF neurons (seed 003 baseline, Eq. 1-5)."""

    cell = "lif"
