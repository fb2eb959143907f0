"""sb3-spiking: spiking neural network policies for Stable-Baselines3.

Importing the package registers the spiking policy names on SB3 / sb3-contrib algorithms
(``TD3/DDPG/SAC("SpikingPopPolicy")``, ``DQN/DoubleDQN("CVTCPolicy")``, ``RecurrentPPO("GRSNPolicy")``,
``RecurrentPPO("LIFRecurrentPolicy")``) and the POMDP environment ids with gymnasium.
"""

from sb3_contrib import RecurrentPPO
from stable_baselines3 import DQN, SAC, TD3

import sb3_spiking.envs  # noqa: F401  (registers Pendulum-P/V-v0, CartPole-P/V-v0 with gymnasium)
from sb3_spiking import marl
from sb3_spiking.algos.double_dqn import DoubleDQN
from sb3_spiking.algos.recurrent_dqn import RecurrentDQN
from sb3_spiking.algos.recurrent_td3 import RecurrentTD3
from sb3_spiking.policies.cvtc import CVTCPolicy
from sb3_spiking.policies.grsn import GRSNPolicy, LIFRecurrentPolicy
from sb3_spiking.policies.popsan import SpikingPopPolicy, SpikingPopSACPolicy

__version__ = "0.1.0"

TD3.policy_aliases["SpikingPopPolicy"] = SpikingPopPolicy  # DDPG shares TD3's table
SAC.policy_aliases["SpikingPopPolicy"] = SpikingPopSACPolicy
DQN.policy_aliases["CVTCPolicy"] = CVTCPolicy
DoubleDQN.policy_aliases["CVTCPolicy"] = CVTCPolicy
RecurrentPPO.policy_aliases["GRSNPolicy"] = GRSNPolicy
RecurrentPPO.policy_aliases["LIFRecurrentPolicy"] = LIFRecurrentPolicy

__all__ = [
    "CVTCPolicy",
    "DoubleDQN",
    "GRSNPolicy",
    "LIFRecurrentPolicy",
    "RecurrentDQN",
    "RecurrentTD3",
    "SpikingPopPolicy",
    "SpikingPopSACPolicy",
    "marl",
]
