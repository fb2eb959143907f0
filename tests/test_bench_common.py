"""bench/common.py (sweep runner, override flattening) and bench/evaluation.py (the evaluation path)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from common import flatten, read_jsonl, run_grid
from evaluation import EvalCurve, evaluate, spike_rates

from sb3_spiking.snn.cores import make_core
from sb3_spiking.zoo import load_entry


def test_run_grid_reports_failures_and_keeps_going(tmp_path: Path) -> None:
    # stdlib functions as runs keep the spawned processes cheap: json.loads gives a dict or raises, os._exit kills
    out = tmp_path / "runs.jsonl"
    jobs = [{"s": '{"square": 9}'}, {"s": "not json"}, {"s": '{"square": 4}'}]
    records = run_grid(jobs, json.loads, n_jobs=2, out=out, threads=None)
    by_text = {r["job"]["s"]: r for r in records}
    assert by_text['{"square": 9}'] == {"job": jobs[0], "square": 9}
    assert by_text['{"square": 4}'] == {"job": jobs[2], "square": 4}
    assert by_text["not json"]["error"].startswith("JSONDecodeError: Expecting value")
    assert "json.decoder.JSONDecodeError" in by_text["not json"]["traceback"]
    [died] = run_grid([{"status": 3}], os._exit, out=out, threads=None)
    assert died == {"job": {"status": 3}, "error": "run process exited with code 3", "traceback": ""}
    assert sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(out)) == sorted(
        json.dumps(r, sort_keys=True) for r in [*records, died]
    )
    # with skip_finished, only the jobs without a successful record run again
    again = run_grid(jobs, json.loads, out=out, threads=None, skip_finished=True)
    assert [r["job"] for r in again] == [{"s": "not json"}]
    assert len(read_jsonl(out)) == 5
    with pytest.raises(ValueError, match="n_jobs"):
        run_grid(jobs, json.loads, n_jobs=0)


def test_flatten_merges_nested_overrides_into_the_zoo_entry() -> None:
    override = {"batch_size": 256, "policy_kwargs": {"hidden_sizes": [64], "a": {"b": 2}}, "empty": {}}
    assert flatten(override) == {
        "batch_size": 256,
        "policy_kwargs.hidden_sizes": [64],
        "policy_kwargs.a.b": 2,
        "empty": {},
    }
    override = {"batch_size": 256, "policy_kwargs": {"hidden_sizes": [64]}}
    entry = load_entry("dqn", "CartPole-v1", hyperparams=flatten(override))
    assert entry.kwargs["batch_size"] == 256
    assert entry.kwargs["policy_kwargs"]["hidden_sizes"] == [64]
    assert entry.kwargs["policy_kwargs"]["q_sign"] == 1  # the rest of the entry's policy_kwargs is kept


class ScaledReward(gym.RewardWrapper):
    def reward(self, reward: float) -> float:
        return 10.0 * reward - 1.0


def reference_returns(model: DQN, seed: int, n_episodes: int) -> list[float]:
    """Per-step loop on the raw env: the first episode reset with ``seed``, the next ones continue its RNG."""
    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return returns


def test_evaluate_reads_the_unwrapped_return() -> None:
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=10_000, seed=0)
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=7, wrapper_class=ScaledReward)
    result = evaluate(model, eval_env, 3)
    expected = reference_returns(model, 7, 3)
    assert result["mean_return"] == pytest.approx(np.mean(expected))
    assert result["std_return"] == pytest.approx(np.std(expected))
    assert result["mean_length"] == pytest.approx(np.mean(expected))  # CartPole: one reward per step
    assert result["spike_rate"] is None


def test_eval_curve_evaluates_at_each_multiple_passed() -> None:
    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = DQN("MlpPolicy", env, learning_starts=10_000, seed=0)
    curve = EvalCurve(make_vec_env("CartPole-v1", n_envs=1, seed=5), eval_every=30, n_eval_episodes=1)
    model.learn(100, callback=curve)
    # num_timesteps goes 4, 8, ...: the first values >= 30, 60, 90 are 32, 60, 92
    assert [point[0] for point in curve.curve] == [32, 60, 92]
    assert [point[1] for point in curve.curve] == [reference_returns(model, 5, 1)[0]] * 3  # no training happened
    assert set(curve.throughput()) == {"steps_per_s", "steps_per_cpu_s"}
    with pytest.raises(ValueError, match="eval_every"):
        EvalCurve(env, eval_every=-1)


class _HasPolicy:
    def __init__(self, policy: torch.nn.Module) -> None:
        self.policy = policy


def test_spike_rates_record_the_cores_output_while_inside() -> None:
    torch.manual_seed(0)
    core = make_core("grsn", 3, 16, input_bias=1.0)
    model = _HasPolicy(torch.nn.ModuleDict({"core": core, "head": torch.nn.Linear(16, 2)}))
    x = torch.randn(5, 2, 3)
    with spike_rates(model) as rates:
        spikes, _ = core(x)
        spikes_again, _ = core(2 * x)
    assert rates == pytest.approx([spikes.mean().item(), spikes_again.mean().item()])
    assert 0.0 < rates[0] < 1.0
    core(x)
    assert len(rates) == 2  # the hooks are gone
