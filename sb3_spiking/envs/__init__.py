"""Environments of sb3-spiking: the POMDP classic control tasks of seed 003, registered with gymnasium, and their
privileged variants (``Pendulum-P-Privileged-v0``, ...: the full state in ``info``, for guided training)."""

from sb3_spiking.envs.history import VecPrevActionReward
from sb3_spiking.envs.pomdp import POMDP_SPECS, ObservationSubset, make_pomdp, register_pomdp_envs
from sb3_spiking.envs.privileged import PRIVILEGED_KEY, PrivilegedObservation, register_privileged_envs

register_pomdp_envs()
register_privileged_envs()

__all__ = [
    "POMDP_SPECS",
    "PRIVILEGED_KEY",
    "ObservationSubset",
    "PrivilegedObservation",
    "VecPrevActionReward",
    "make_pomdp",
    "register_pomdp_envs",
    "register_privileged_envs",
]
