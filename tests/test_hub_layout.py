"""Agent folders in the Hub layout: package, load back, act identically; shipped agents still perform."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from stable_baselines3 import TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking.hub import load_local, package

TRAINED_AGENTS = Path(__file__).resolve().parents[1] / "trained_agents"


def test_package_and_load_round_trip(tmp_path: Path) -> None:
    env = VecNormalize(make_vec_env("Pendulum-v1", seed=0), norm_reward=False, clip_obs=3.0)
    model = TD3("MlpPolicy", env, learning_starts=50, policy_kwargs=dict(net_arch=[16]), seed=0)
    model.learn(120)
    folder = package(model, "Pendulum-v1", tmp_path, vec_normalize=env, n_eval_episodes=2, command="pytest")
    assert folder.name == "td3-TD3Policy-Pendulum-v1"
    expected = {"td3-Pendulum-v1.zip", "config.yml", "env_kwargs.yml", "vec_normalize.pkl", "results.json", "README.md"}
    assert expected <= {p.name for p in folder.iterdir()}
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "stable-baselines3" and "spiking-neural-networks" in front["tags"]
    assert json.loads((folder / "results.json").read_text())["n_eval_episodes"] == 2

    loaded, eval_env = load_local(folder, seed=1)
    assert not eval_env.training
    np.testing.assert_allclose(eval_env.obs_rms.mean, env.obs_rms.mean)
    raw = np.random.default_rng(0).uniform(-1, 1, size=(5, 3)).astype(np.float32)
    obs = env.normalize_obs(raw)
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


AGENTS = sorted(p for p in TRAINED_AGENTS.iterdir() if (p / "config.yml").exists()) if TRAINED_AGENTS.exists() else []


@pytest.mark.parametrize("folder", AGENTS, ids=[p.name for p in AGENTS])
def test_shipped_agent_reaches_recorded_return(folder: Path) -> None:
    results = json.loads((folder / "results.json").read_text())
    model, env = load_local(folder, seed=123)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=3, deterministic=True)
    tolerance = max(3 * results["std_reward"], 0.25 * abs(results["mean_reward"]))
    assert mean >= results["mean_reward"] - tolerance


@pytest.mark.parametrize("content", ["", "algo: td3\n", "- td3\n"])
def test_partial_or_empty_config_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "config.yml").write_text(content)
    with pytest.raises(ValueError, match=r"lacks the keys .*'env_id'"):
        load_local(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no config\.yml"):
        load_local(tmp_path / "elsewhere")
