"""Recurrent TD3 (sequence replay, GRSN / LIF / GRU cores)."""

from sb3_spiking.algos.recurrent_td3.policies import GRSNPolicy, RecurrentTD3Policy
from sb3_spiking.algos.recurrent_td3.recurrent_td3 import RecurrentTD3

__all__ = ["GRSNPolicy", "RecurrentTD3", "RecurrentTD3Policy"]
