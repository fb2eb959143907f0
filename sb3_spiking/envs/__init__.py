"""Environments of sb3-spiking: the POMDP classic control tasks of seed 003, registered with gymnasium."""

from sb3_spiking.envs.history import VecPrevActionReward
from sb3_spiking.envs.pomdp import POMDP_SPECS, ObservationSubset, make_pomdp, register_pomdp_envs

register_pomdp_envs()

__all__ = ["POMDP_SPECS", "ObservationSubset", "VecPrevActionReward", "make_pomdp", "register_pomdp_envs"]
