"""Agent folders in the Hub layout: package, load back, act identically; shipped agents still perform."""

import base64
import importlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard
from stable_baselines3 import DQN, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking.hub import load_local, package


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


@pytest.mark.parametrize("content", ["", "algo: td3\n", "- td3\n"])
def test_partial_or_empty_config_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "config.yml").write_text(content)
    with pytest.raises(ValueError, match=r"lacks the keys .*'env_id'"):
        load_local(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no config\.yml"):
        load_local(tmp_path / "elsewhere")


def _tiny_dqn() -> DQN:
    model = DQN(
        "CVTCPolicy",
        "CartPole-v1",
        learning_starts=10,
        batch_size=8,
        buffer_size=100,
        policy_kwargs=dict(hidden_sizes=[8], gains=[4.0, 2.0, 20.0, 2.0], n_neurons=5),
        seed=0,
    )
    return model.learn(30)


def test_model_card_and_results(tmp_path: Path) -> None:
    energy = {"network": "CVTC Q-network", "decisions": 4, "energy_pj_per_decision": 1234.0, "sops_per_decision": 10.0,
              "macs_per_decision": 2.0, "ann_energy_pj_per_decision": 0.0, "ratio": float("inf")}  # fmt: skip
    model = _tiny_dqn()
    folder = package(model, "CartPole-v1", tmp_path, n_eval_episodes=3, command="train it", energy=energy)
    results = json.loads((folder / "results.json").read_text())  # strict JSON: the infinite ratio is null
    assert results["energy"]["ratio"] is None and results["n_eval_episodes"] == 3
    card = ModelCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "stable-baselines3"
    assert {"reinforcement-learning", "stable-baselines3", "spiking-neural-networks", "sb3-spiking", "CartPole-v1",
            "dqn"} <= set(data["tags"])  # fmt: skip
    metric = data["model-index"][0]["results"][0]["metrics"][0]
    assert metric["type"] == "mean_reward"
    assert metric["value"] == f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    body = card.text
    assert "| `hidden_sizes` | `[8]` |" in body and "| `n_neurons` | `5` |" in body
    assert "1,234 pJ per decision" in body and "```bash\ntrain it\n```" in body
    assert 'load_from_hub("sb3-spiking/dqn-CVTCPolicy-CartPole-v1")' in body
    assert f"- budget: {model.num_timesteps} env steps" in body and "- seed: 0" in body
    config = yaml.safe_load((folder / "config.yml").read_text())
    assert config["algo"] == "dqn" and config["policy"] == "CVTCPolicy" and config["normalize"] is False
    with zipfile.ZipFile(folder / "train_eval_metrics.zip") as archive:
        assert archive.namelist() == []


def test_package_refuses_bad_arguments_and_replaces_only_after_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _tiny_dqn()
    with pytest.raises(ValueError, match="n_eval_episodes"):
        package(model, "CartPole-v1", tmp_path, n_eval_episodes=0)
    assert list(tmp_path.iterdir()) == []
    folder = package(model, "CartPole-v1", tmp_path, n_eval_episodes=1, estimate_energy=False)
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        package(model, "CartPole-v1", tmp_path, n_eval_episodes=1)
    model.learn(30)  # a different model, whose evaluation fails

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation failed")

    # the module (the package's attribute of that name is the function)
    monkeypatch.setattr(importlib.import_module("sb3_spiking.hub.package"), "evaluate_policy", broken)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        package(model, "CartPole-v1", tmp_path, n_eval_episodes=1, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == old  # old agent untouched
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no staging folder left
    monkeypatch.undo()
    package(model, "CartPole-v1", tmp_path, n_eval_episodes=1, overwrite=True, estimate_energy=False)
    assert (folder / "dqn-CartPole-v1.zip").read_bytes() != old["dqn-CartPole-v1.zip"]


def test_load_errors_name_the_problem(tmp_path: Path) -> None:
    folder = package(_tiny_dqn(), "CartPole-v1", tmp_path, n_eval_episodes=1, estimate_energy=False)
    config = yaml.safe_load((folder / "config.yml").read_text())
    (folder / "config.yml").write_text(yaml.safe_dump({**config, "algo": "ppo2"}))
    with pytest.raises(ValueError, match=r"unknown algorithm 'ppo2' .*allowed: .*'qmix'"):
        load_local(folder)
    (folder / "config.yml").write_text(yaml.safe_dump({**config, "normalize": True}))
    with pytest.raises(FileNotFoundError, match=r"says the observations are normalised .*vec_normalize\.pkl"):
        load_local(folder)
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    zip_file = folder / "dqn-CartPole-v1.zip"
    with zipfile.ZipFile(zip_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(members["data"])
    # the class by reference, as cloudpickle writes an importable class (protocol 2: GLOBAL "module\nname")
    pickled = b"\x80\x02csb3_spiking_gone.policies\nCVTCPolicy\nq\x00."
    data["policy_class"][":serialized:"] = base64.b64encode(pickled).decode()
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(zip_file, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    missing = r"sb3_spiking_gone\.policies\.CVTCPolicy .*not installed.*sb3-spiking 0\.1\.0"
    with pytest.raises(ValueError, match=missing):
        load_local(folder)


def test_rl_zoo3_config_files_are_read(tmp_path: Path) -> None:
    """rl_zoo3 writes config.yml and args.yml as OrderedDicts (yaml.dump); they are read without unsafe loading."""
    from collections import OrderedDict

    model = _tiny_dqn()
    folder = package(model, "CartPole-v1", tmp_path, n_eval_episodes=1, estimate_energy=False)
    config = OrderedDict([("normalize", False), ("policy", "CVTCPolicy"), ("policy_kwargs", "dict(hidden_sizes=[8])")])
    (folder / "config.yml").write_text(yaml.dump(config))
    (folder / "args.yml").write_text(yaml.dump(OrderedDict([("algo", "dqn"), ("env", "CartPole-v1"), ("seed", 0)])))
    loaded, _ = load_local(folder)
    obs = np.random.default_rng(0).uniform(-0.2, 0.2, size=(8, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
