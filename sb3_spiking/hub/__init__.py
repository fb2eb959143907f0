"""
Pretrained spiking agents on the Hugging Face Hub, in rl_zoo3's repository layout: ``<algo>-<env>.zip``,
``config.yml``, ``args.yml``, ``env_kwargs.yml``, ``vec_normalize.pkl`` (when the observations are normalised),
``train_eval_metrics.zip``, ``results.json`` and a ``README.md`` model card, for every algorithm of sb3-spiking
(TD3, DDPG, SAC, DQN, DoubleDQN, RecurrentPPO, RecurrentTD3, RecurrentDQN, QMIX) and rl_zoo3's.

Loading an agent unpickles its files, as SB3's ``load`` does: load agents you trust.
"""

from sb3_spiking.hub.card import model_card
from sb3_spiking.hub.folder import env_name, load_local, make_env, read_agent
from sb3_spiking.hub.package import package
from sb3_spiking.hub.remote import load_from_hub, pull, push_collection, push_to_hub

__all__ = [
    "env_name",
    "load_from_hub",
    "load_local",
    "make_env",
    "model_card",
    "package",
    "pull",
    "push_collection",
    "push_to_hub",
    "read_agent",
]
