"""Multi-agent reinforcement learning: QMIX with spiking (GRSN, LIF) or conventional (GRU, MLP) agents."""

from sb3_spiking.marl.agents import RecurrentAgent
from sb3_spiking.marl.buffer import EpisodeReplayBuffer
from sb3_spiking.marl.learner import QLearner
from sb3_spiking.marl.mixer import QMixer
from sb3_spiking.marl.policies import QMIXPolicy
from sb3_spiking.marl.qmix import QMIX
from sb3_spiking.marl.runner import EpisodeRunner
from sb3_spiking.marl.vec_env import TeamVecEnv, wrap_parallel_env

__all__ = [
    "QMIX",
    "EpisodeReplayBuffer",
    "EpisodeRunner",
    "QLearner",
    "QMIXPolicy",
    "QMixer",
    "RecurrentAgent",
    "TeamVecEnv",
    "wrap_parallel_env",
]
