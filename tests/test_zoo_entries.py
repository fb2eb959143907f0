"""Every zoo_configs entry trained for a few hundred env steps through ``sb3-spiking train``, and the entries of the
SB3 / sb3-contrib algorithms also through plain ``python -m rl_zoo3.train``: the run folder holds the model with the
requested ``num_timesteps`` and the hand-counted number of gradient updates, the loaded model has the entry's policy,
spiking settings and other values, and ``config.yml`` holds the overrides. Entries are read from the YAML files, so
a new entry is tested without a change here."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from sb3_spiking.cli import main
from sb3_spiking.cli.common import OUR_ALGOS, find_run, format_literal, register_algorithms, zoo_name
from sb3_spiking.resources import data_dir
from sb3_spiking.zoo import LITERAL_KEYS, parse_literal

pytestmark = pytest.mark.slow  # ~50 short trainings

ZOO = data_dir("zoo_configs")
ENTRIES = [(path.stem, key) for path in sorted(ZOO.glob("*.yml")) for key in yaml.safe_load(path.read_text())]
PLAIN_ZOO = [(algo, key) for algo, key in ENTRIES if algo not in (*OUR_ALGOS, "qmix")]
"""The entries of the algorithms rl_zoo3 knows itself (SB3's, and sb3-contrib's RecurrentPPO as ``ppo_lstm``)."""

STEPS = 200
"""Env steps of an off-policy run; the last ``UPDATE_STEPS`` of them train."""
UPDATE_STEPS = 40


def zoo_entry(algo: str, key: str) -> dict[str, Any]:
    """The entry as the YAML file holds it (anchors merged), its literal strings parsed: the reference."""
    entry = dict(yaml.safe_load((ZOO / f"{algo}.yml").read_text())[key])
    return {k: parse_literal(v) if k in LITERAL_KEYS and isinstance(v, str) else v for k, v in entry.items()}


def tiny_budget(algo: str, entry: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
    """
    Overrides of the budget-heavy keys (warm-up, buffer, batch, rollout sizes), none of the spiking settings except
    ``compile_network`` (minutes of compilation), and the gradient updates they give, counted by hand.

    :return: env steps, overrides (dotted keys inside ``policy_kwargs``), gradient updates
    """
    if algo == "qmix":
        # one training phase after every episode once the buffer holds batch_size episodes (train_freq 1)
        episode, batch = entry["env_kwargs"]["max_cycles"], 2
        episodes = 4
        return episodes * episode, {"batch_size": batch, "buffer_size": 10}, episodes - batch + 1
    if algo == "recurrentppo":
        # one rollout of n_envs x n_steps = 32 steps, then n_epochs = 2 epochs (one update each)
        return 64, {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 2}, 2 * 2
    overrides: dict[str, Any] = {"learning_starts": STEPS - UPDATE_STEPS, "buffer_size": STEPS, "batch_size": 8}
    if (entry.get("policy_kwargs") or {}).get("compile_network"):
        overrides["policy_kwargs.compile_network"] = False
    if algo in ("dqn", "ddqn"):
        overrides.update(train_freq=4, gradient_steps=2)
    if "seq_len" in entry:
        overrides.update(seq_len=8, batch_size=4)
    # SB3 trains after every train_freq env steps once num_timesteps > learning_starts, gradient_steps each time
    train_freq, gradient_steps = overrides.get("train_freq", entry.get("train_freq", 1)), overrides.get(
        "gradient_steps", entry.get("gradient_steps", 1))  # fmt: skip
    calls = sum(1 for k in range(train_freq, STEPS + 1, train_freq) if k > overrides["learning_starts"])
    return STEPS, overrides, calls * gradient_steps


def expected_settings(entry: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The entry with the overrides applied (dotted keys inside dicts)."""
    settings = {k: dict(v) if isinstance(v, dict) else v for k, v in entry.items()}
    for key, value in overrides.items():
        top, _, sub = key.partition(".")
        if sub:
            settings[top][sub] = value
        else:
            settings[top] = value
    return settings


def saved_data(model_zip: Path) -> dict[str, Any]:
    """The JSON ``data`` of an SB3 model zip (read without loading the model)."""
    with zipfile.ZipFile(model_zip) as archive:
        return json.loads(archive.read("data"))


def as_lists(value: Any) -> Any:
    """:return: the value with its tuples as lists, at any depth"""
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    return [as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_run(folder: Path, algo: str, key: str, n: int, overrides: dict[str, Any], updates: int) -> None:
    """What a finished tiny run must hold, against the YAML entry and the hand count of updates."""
    run = find_run(folder)
    data = saved_data(run.final_model)
    assert data["num_timesteps"] == n
    assert data["_n_updates"] == updates
    # config.yml holds the overrides (rl_zoo3 writes a dict-valued override as a dict, we as a literal string)
    for name, value in overrides.items():
        saved: Any = run.config
        for part in name.split("."):
            saved = saved[part]
            saved = parse_literal(saved) if isinstance(saved, str) and part in LITERAL_KEYS else saved
        assert saved == value, name
    settings = expected_settings(zoo_entry(algo, key), overrides)
    if algo == "qmix":
        from sb3_spiking.marl import QMIX

        model = QMIX.load(run.final_model, device="cpu")
        assert (model.agent, model.agent_kwargs, model.mixer_kwargs) == (
            settings["agent"], settings["agent_kwargs"], settings["mixer_kwargs"])  # fmt: skip
    else:
        model = register_algorithms()[zoo_name(algo)].load(run.final_model, device="cpu")
        assert type(model.policy) is type(model).policy_aliases[settings["policy"]]
        # the spiking settings of the entry reached the policy (SB3 may add keys such as use_sde; its save turns
        # tuples into lists)
        saved = {k: as_lists(model.policy_kwargs.get(k)) for k in settings["policy_kwargs"]}
        assert saved == as_lists(settings["policy_kwargs"])
    # every other plain value of the entry is the model's (a schedule string becomes a function: not compared)
    compared = [name for name in settings if isinstance(getattr(model, name, None), (bool, int, float, str))]
    assert {name: getattr(model, name) for name in compared} == {name: settings[name] for name in compared}
    assert "batch_size" in compared and "gamma" in compared


@pytest.mark.parametrize("algo, key", ENTRIES, ids=[f"{a}-{k}" for a, k in ENTRIES])
def test_entry_trains_through_sb3_spiking(tmp_path: Path, algo: str, key: str) -> None:
    n, overrides, updates = tiny_budget(algo, zoo_entry(algo, key))
    argv = ["train", "--algo", algo, "--env", key, "-n", str(n), "-f", str(tmp_path), "--seed", "0",
            "--eval-freq", "0", "--verbose", "0", "--device", "cpu",
            "--hyperparams", *(f"{k}:{format_literal(v)}" for k, v in overrides.items())]  # fmt: skip
    assert main(argv) == 0
    (folder,) = (tmp_path / zoo_name(algo)).glob("*_1")
    check_run(folder, algo, key, n, overrides, updates)


@pytest.mark.parametrize("algo, key", PLAIN_ZOO, ids=[f"{a}-{k}" for a, k in PLAIN_ZOO])
def test_entry_trains_through_plain_rl_zoo3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algo: str,
                                            key: str) -> None:  # fmt: skip
    import rl_zoo3.train

    entry = zoo_entry(algo, key)
    n, overrides, updates = tiny_budget(algo, entry)
    policy_kwargs = {k: v for k, v in overrides.items() if k.startswith("policy_kwargs.")}
    if policy_kwargs:  # rl_zoo3's --hyperparams replace a whole value: the entry's policy_kwargs, changed
        overrides = {k: v for k, v in overrides.items() if k not in policy_kwargs}
        overrides["policy_kwargs"] = {**entry["policy_kwargs"], **{k.partition(".")[2]: v
                                                                    for k, v in policy_kwargs.items()}}  # fmt: skip
    argv = ["rl_zoo3.train", "--algo", zoo_name(algo), "--env", key, "--gym-packages", "sb3_spiking",
            "--conf-file", str(ZOO / f"{algo}.yml"), "-n", str(n), "-f", str(tmp_path), "--seed", "0",
            "--eval-freq", "-1", "--device", "cpu", "--verbose", "0",
            "--hyperparams", *(f"{k}:{format_literal(v)}" for k, v in overrides.items())]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    rl_zoo3.train.train()
    (folder,) = (tmp_path / zoo_name(algo)).glob("*_1")
    check_run(folder, algo, key, n, overrides, updates)
