"""Multi-agent reinforcement learning: QMIX with spiking (GRSN, LIF) or conventional (GRU, MLP) agents."""

from sb3_spiking.marl.agents import RecurrentAgent
from sb3_spiking.marl.buffer import EpisodeReplayBuffer
from sb3_spiking.marl.mixer import QMixer
from sb3_spiking.marl.qmix import QMIX

__all__ = ["QMIX", "EpisodeReplayBuffer", "QMixer", "RecurrentAgent"]
