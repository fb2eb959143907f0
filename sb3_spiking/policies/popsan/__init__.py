"""
Population-coded spiking actors for SB3's off-policy algorithms: Pop-SAN (current-based LIF neurons) and
MDC-SAN (2nd-order dynamic neurons), seed 000 section II.

- :mod:`.config`: :class:`PopSANConfig`, the spiking settings, validated once;
- :mod:`.network`: :class:`PopSpikingNetwork`, encoder -> spiking layers -> decoder;
- :mod:`.td3`: ``TD3("SpikingPopPolicy", env)`` / ``DDPG(...)``, deterministic spiking actor, SB3's MLP critics;
- :mod:`.sac`: ``SAC("SpikingPopPolicy", env)``, spiking mean, log-std from a small non-spiking MLP;
- :mod:`.checkpoint`: :func:`load_popsan_checkpoint`, actors trained with the original Pop-SAN code.

The names stay importable from here (models saved before the split refer to ``sb3_spiking.policies.popsan.*``).
"""

from sb3_spiking.policies.popsan.checkpoint import load_popsan_checkpoint
from sb3_spiking.policies.popsan.config import DEFAULT_ENCODER, DYNAMIC_PARAMS, PopSANConfig
from sb3_spiking.policies.popsan.network import NEURONS, PopSpikingNetwork
from sb3_spiking.policies.popsan.sac import PopSpikingSACActor, SpikingPopSACPolicy
from sb3_spiking.policies.popsan.td3 import PopSpikingActor, SpikingPopPolicy

__all__ = [
    "DEFAULT_ENCODER",
    "DYNAMIC_PARAMS",
    "NEURONS",
    "PopSANConfig",
    "PopSpikingActor",
    "PopSpikingNetwork",
    "PopSpikingSACActor",
    "SpikingPopPolicy",
    "SpikingPopSACPolicy",
    "load_popsan_checkpoint",
]
