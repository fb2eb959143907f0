"""Recurrent double DQN (sequence replay, GRSN / LIF / GRU cores)."""

from sb3_spiking.algos.recurrent_dqn.policies import GRSNPolicy, RecurrentDQNPolicy
from sb3_spiking.algos.recurrent_dqn.recurrent_dqn import RecurrentDQN

__all__ = ["GRSNPolicy", "RecurrentDQN", "RecurrentDQNPolicy"]
