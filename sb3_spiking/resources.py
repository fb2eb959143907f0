"""Where the zoo configs and the pretrained agents are. The repository keeps them at its top level
(``zoo_configs/``, ``trained_agents/``); the symbolic links ``sb3_spiking/zoo_configs`` and
``sb3_spiking/trained_agents`` make them package data, so that a normal (non-editable) install has them too."""

from __future__ import annotations

from pathlib import Path

DATA_DIRS = ("trained_agents", "zoo_configs")


def data_dir(name: str) -> Path:
    """
    :param name: ``"zoo_configs"`` or ``"trained_agents"``
    :return: the folder
    """
    if name not in DATA_DIRS:
        raise ValueError(f"unknown data folder {name!r}; allowed: {list(DATA_DIRS)}")
    folder = Path(__file__).resolve().parent / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}/ is missing from this installation of sb3-spiking ({folder})")
    return folder
