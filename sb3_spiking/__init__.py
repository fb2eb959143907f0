"""sb3-spiking: spiking neural network policies for Stable-Baselines3.

Importing the package registers the spiking policy names on SB3 / sb3-contrib algorithms and the POMDP
environment ids with gymnasium.
"""

__version__ = "0.1.0"

from sb3_contrib import RecurrentPPO
from stable_baselines3 import DQN, SAC, TD3

import sb3_spiking.envs  # noqa: F401  (registers Pendulum-P/V-v0, CartPole-P/V-v0 with gymnasium)
from sb3_spiking import marl  # noqa: F401  (sb3_spiking.marl.QMIX after `import sb3_spiking`)
from sb3_spiking.algos.double_dqn import DoubleDQN
from sb3_spiking.algos.recurrent_dqn import RecurrentDQN as RecurrentDQN
from sb3_spiking.algos.recurrent_td3 import RecurrentTD3 as RecurrentTD3
from sb3_spiking.policies.cvtc import CVTCPolicy
from sb3_spiking.policies.grsn import GRSNPolicy, LIFRecurrentPolicy
from sb3_spiking.policies.popsan import SpikingPopPolicy, SpikingPopSACPolicy

DQN.policy_aliases["CVTCPolicy"] = CVTCPolicy
DoubleDQN.policy_aliases["CVTCPolicy"] = CVTCPolicy

TD3.policy_aliases["SpikingPopPolicy"] = SpikingPopPolicy  # DDPG shares TD3's table
SAC.policy_aliases["SpikingPopPolicy"] = SpikingPopSACPolicy

RecurrentPPO.policy_aliases["GRSNPolicy"] = GRSNPolicy
RecurrentPPO.policy_aliases["LIFRecurrentPolicy"] = LIFRecurrentPolicy
