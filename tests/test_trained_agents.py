"""Every agent in trained_agents/ loads through load_from_hub from an offline cache (seeded by pushing the folder to a
loopback Hub) and, on the fast envs, still reaches its recorded return over a few episodes."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import yaml
from loopback_hub import LoopbackHub
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_spiking.hub import load_from_hub, push_to_hub
from sb3_spiking.marl import QMIX

TRAINED_AGENTS = Path(__file__).resolve().parents[1] / "trained_agents"
AGENTS = sorted(p for p in TRAINED_AGENTS.iterdir() if (p / "config.yml").is_file())
MUJOCO = ("HalfCheetah", "Hopper", "Walker2d", "Ant", "Swimmer", "Humanoid")
EPISODES = 3
MB = 1024 * 1024


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_collection_stays_small() -> None:
    assert AGENTS
    for folder in AGENTS:
        assert _size(folder) < 5 * MB, folder.name  # no replay buffers
    assert sum(_size(folder) for folder in AGENTS) < 50 * MB


@pytest.mark.parametrize("folder", AGENTS, ids=[p.name for p in AGENTS])
def test_agent_loads_from_an_offline_cache_and_reaches_its_return(
    folder: Path, hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo_id = f"sb3-spiking/{folder.name}"
    push_to_hub(folder, repo_id, endpoint=hub.url)
    load_from_hub(repo_id, endpoint=hub.url)  # seeds the cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    seen = len(hub.requests)
    model, env = load_from_hub(repo_id, endpoint=hub.url, seed=123)
    assert len(hub.requests) == seen  # served from the cache
    results = json.loads((folder / "results.json").read_text())
    env_id = yaml.safe_load((folder / "config.yml").read_text())["env_id"]
    if any(name in env_id for name in MUJOCO):  # slow envs: one short deterministic rollout
        obs = env.reset()
        for _ in range(50):
            action, _ = model.predict(obs, deterministic=True)
            obs, _, _, _ = env.step(action)
        assert np.isfinite(obs).all()
        return
    if isinstance(model, QMIX):
        returns, _ = evaluate_policy(model, env, n_eval_episodes=EPISODES, return_episode_rewards=True)
    else:
        returns, _ = evaluate_policy(
            model, env, n_eval_episodes=EPISODES, deterministic=True, return_episode_rewards=True
        )
    # a few episodes against the recorded mean over many: allow 3 recorded standard deviations of the mean of
    # EPISODES episodes, and at least 10 % of the return's scale
    tolerance = max(3 * results["std_reward"] / np.sqrt(EPISODES), 0.1 * abs(results["mean_reward"]))
    assert np.mean(returns) >= results["mean_reward"] - tolerance
