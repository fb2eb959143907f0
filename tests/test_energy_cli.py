"""``sb3-spiking energy`` on the packaged Pendulum agent: the printed table and the JSON file are the estimate of the
agent loaded with its saved normalisation."""

from __future__ import annotations

import json

import pytest
import torch

from sb3_spiking.cli import main
from sb3_spiking.energy import estimate
from sb3_spiking.hub import load_local
from sb3_spiking.resources import data_dir

AGENT = "td3-SpikingPopPolicy-Pendulum-v1"


def test_energy_command(tmp_path, capsys) -> None:
    folder = data_dir("trained_agents") / AGENT
    assert main(["energy", str(folder), "-n", "16", "--mac-pj", "3.0", "--json", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr().out
    data = json.loads((tmp_path / "e.json").read_text())
    model, env = load_local(folder, seed=0, device="cpu")
    report = estimate(model, env, n_decisions=16, mac_pj=3.0)
    assert data["energy_pj_per_decision"] == pytest.approx(report.energy_pj)
    assert data["sops_per_decision"] > 0 and data["mac_pj"] == 3.0
    assert f"{report.energy_pj:,.1f} pJ per decision" in printed


def test_energy_command_needs_one_source(capsys) -> None:
    assert main(["energy"]) == 2
    assert "give either a FOLDER or --repo-id" in capsys.readouterr().err


def test_energy_command_counts_the_critics_when_asked(tmp_path) -> None:
    folder = data_dir("trained_agents") / AGENT
    assert main(["energy", str(folder), "-n", "8", "--networks", "all", "--json", str(tmp_path / "e.json")]) == 0
    data = json.loads((tmp_path / "e.json").read_text())
    model, env = load_local(folder, seed=0, device="cpu")
    actor = estimate(model, env, n_decisions=8)
    critic_macs = sum(m.in_features * m.out_features for m in model.policy.critic.modules()
                      if isinstance(m, torch.nn.Linear))  # fmt: skip
    assert data["networks"] == "all"
    assert data["macs_per_decision"] == pytest.approx(actor.macs + critic_macs)
    assert data["sops_per_decision"] == pytest.approx(actor.sops)
    assert any(layer["name"] == "critic.qf1.0" for layer in data["layers"])
