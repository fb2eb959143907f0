"""
Push, pull and load agents of every algorithm family through the real huggingface_hub client, against a loopback
Hub started by the test (http.server on 127.0.0.1, in-memory repositories); offline loading from the cache; errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import HfApi
from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError
from loopback_hub import LoopbackHub
from sb3_contrib import RecurrentPPO
from stable_baselines3 import DDPG, DQN, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking import DoubleDQN, RecurrentDQN, RecurrentTD3
from sb3_spiking.hub import load_from_hub, load_local, package, pull, push_to_hub
from sb3_spiking.marl import QMIX

# -- one tiny agent per algorithm family -----------------------------------------------------------------------------

POP = dict(hidden_sizes=[8], net_arch=[8], spike_ts=2, encoder_pop_dim=3, decoder_pop_dim=3)
GRSN = dict(core="grsn", hidden_size=8, net_arch=[8], embed_dims=(4, 2, 2))
CVTC = dict(hidden_sizes=[8], gains=[4.0, 2.0, 20.0, 2.0], n_neurons=5)
OFF_POLICY = dict(learning_starts=10, batch_size=8, buffer_size=500, seed=0)
QMIX_ENV = {"N": 2, "max_cycles": 5}


def _normalized_td3() -> tuple[BaseAlgorithm, str, dict[str, Any]]:
    env = VecNormalize(make_vec_env("Pendulum-v1", seed=0), norm_reward=False, clip_obs=3.0)
    return TD3("SpikingPopPolicy", env, policy_kwargs=dict(POP), **OFF_POLICY), "Pendulum-v1", {}


def _qmix() -> tuple[BaseAlgorithm, str, dict[str, Any]]:
    from mpe2 import simple_spread_v3

    model = QMIX(
        "grsn",
        simple_spread_v3.parallel_env(**QMIX_ENV),
        buffer_size=8,
        batch_size=2,
        agent_kwargs=dict(fc_dim=8, hidden_dim=8),
        mixer_kwargs=dict(embed_dim=4, hypernet_hidden=8),
        seed=0,
    )
    return model, "mpe2:simple_spread_v3", QMIX_ENV


FAMILIES: dict[str, Callable[[], tuple[BaseAlgorithm, str, dict[str, Any]]]] = {
    "td3": _normalized_td3,
    "ddpg": lambda: (DDPG("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=dict(POP), **OFF_POLICY), "Pendulum-v1", {}),
    "sac": lambda: (SAC("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=dict(POP), **OFF_POLICY), "Pendulum-v1", {}),
    "dqn": lambda: (DQN("CVTCPolicy", "CartPole-v1", policy_kwargs=dict(CVTC), **OFF_POLICY), "CartPole-v1", {}),
    "ddqn": lambda: (DoubleDQN("CVTCPolicy", "CartPole-v1", policy_kwargs=dict(CVTC), **OFF_POLICY), "CartPole-v1", {}),
    "recurrentppo": lambda: (
        RecurrentPPO(
            "GRSNPolicy",
            "CartPole-P-v0",
            n_steps=16,
            batch_size=16,
            policy_kwargs=dict(lstm_hidden_size=8, net_arch=[8]),
            seed=0,
        ),
        "CartPole-P-v0",
        {},
    ),
    "recurrent_td3": lambda: (
        RecurrentTD3("GRSNPolicy", "Pendulum-P-v0", policy_kwargs=dict(GRSN), seq_len=4, **OFF_POLICY),
        "Pendulum-P-v0",
        {},
    ),
    "recurrent_dqn": lambda: (
        RecurrentDQN("GRSNPolicy", "CartPole-P-v0", policy_kwargs=dict(GRSN), seq_len=4, **OFF_POLICY),
        "CartPole-P-v0",
        {},
    ),
    "qmix": _qmix,
}


def trained(family: str) -> tuple[BaseAlgorithm, str, dict[str, Any]]:
    torch.manual_seed(0)
    model, env_id, env_kwargs = FAMILIES[family]()
    model.learn(40)
    return model, env_id, env_kwargs


def assert_same_actions(
    original: BaseAlgorithm, loaded: BaseAlgorithm, env_a: Any, env_b: Any, steps: int = 30
) -> None:
    """Step two identically seeded envs in lockstep, one driven by each model; actions and observations equal."""
    obs_a, obs_b = env_a.reset(), env_b.reset()
    state_a = state_b = None
    starts = np.ones(1, dtype=bool)
    for _ in range(steps):
        action_a, state_a = original.predict(obs_a, state=state_a, episode_start=starts, deterministic=True)
        action_b, state_b = loaded.predict(obs_b, state=state_b, episode_start=starts, deterministic=True)
        np.testing.assert_array_equal(action_a, action_b)
        obs_a, _, done_a, _ = env_a.step(action_a)
        obs_b, _, done_b, _ = env_b.step(action_b)
        for key in obs_a if isinstance(obs_a, dict) else [None]:
            a, b = (obs_a, obs_b) if key is None else (obs_a[key], obs_b[key])
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(done_a, done_b)
        starts = done_a


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_push_then_load_acts_identically(family: str, hub: LoopbackHub, tmp_path: Path) -> None:
    model, env_id, env_kwargs = trained(family)
    repo_id = f"loopback/{family}-round-trip"
    url = push_to_hub(
        model, repo_id, env_id=env_id, env_kwargs=env_kwargs, endpoint=hub.url, n_eval_episodes=1, estimate_energy=False
    )
    assert url.startswith(f"{hub.url}/{repo_id}/commit/")
    files = hub.repos[repo_id]["commits"][hub.repos[repo_id]["branches"]["main"]]
    algo = family
    zip_name = f"{algo}-{env_id.split(':')[-1]}.zip"
    assert {zip_name, "config.yml", "args.yml", "env_kwargs.yml", "results.json", "README.md"} <= set(files)
    assert ("vec_normalize.pkl" in files) == (family == "td3")
    assert f'load_from_hub("{repo_id}")' in files["README.md"].decode()

    loaded, env_b = load_from_hub(repo_id, endpoint=hub.url, seed=7, device="cpu")
    assert type(loaded) is type(model) and type(loaded.policy) is type(model.policy)
    _, env_a = load_local(pull(repo_id, endpoint=hub.url), seed=7, device="cpu")
    if family == "td3":
        assert not env_b.training and not env_b.norm_reward
        np.testing.assert_array_equal(env_b.obs_rms.mean, model.get_env().obs_rms.mean)
        np.testing.assert_array_equal(env_b.obs_rms.var, model.get_env().obs_rms.var)
    assert_same_actions(model, loaded, env_a, env_b)


def _pushed_dqn(hub: LoopbackHub, repo_id: str, **kwargs: Any) -> BaseAlgorithm:
    model, env_id, _ = trained("dqn")
    push_to_hub(model, repo_id, env_id=env_id, endpoint=hub.url, n_eval_episodes=1, estimate_energy=False, **kwargs)
    return model


def test_offline_loading_from_the_cache(hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _pushed_dqn(hub, "loopback/offline")
    load_from_hub("loopback/offline", endpoint=hub.url)  # seeds the cache
    seen = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    loaded, env = load_from_hub("loopback/offline", endpoint=hub.url, seed=3)
    assert len(hub.requests) == seen  # nothing asked of the Hub
    _, env_ref = load_local(pull("loopback/offline", endpoint=hub.url), seed=3)
    assert_same_actions(model, loaded, env_ref, env)
    with pytest.raises(LocalEntryNotFoundError, match="loopback/never-downloaded"):
        load_from_hub("loopback/never-downloaded", endpoint=hub.url)


def test_revision_branch_round_trip(hub: LoopbackHub) -> None:
    first = _pushed_dqn(hub, "loopback/revisions")
    torch.manual_seed(1)
    second, _, _ = FAMILIES["dqn"]()
    second.learn(60)
    push_to_hub(second, "loopback/revisions", env_id="CartPole-v1", endpoint=hub.url, revision="v2", n_eval_episodes=1)
    assert hub.commit_messages[-1] == "Upload sb3-spiking agent"
    main, _ = load_from_hub("loopback/revisions", endpoint=hub.url)
    v2, _ = load_from_hub("loopback/revisions", revision="v2", endpoint=hub.url)
    assert not torch.equal(first.q_net.state_dict()["layers.0.weight"], second.q_net.state_dict()["layers.0.weight"])
    for loaded, original in ((main, first), (v2, second)):
        expected = {k: v for k, v in original.policy.state_dict().items() if isinstance(v, torch.Tensor)}
        got = loaded.policy.state_dict()
        for key, value in expected.items():
            assert torch.equal(got[key].cpu(), value.cpu()), key


def test_repository_without_agent_files(hub: LoopbackHub, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\nnot an agent\n")
    api = HfApi(endpoint=hub.url)
    api.create_repo("loopback/not-an-agent", exist_ok=True)
    api.upload_folder(repo_id="loopback/not-an-agent", folder_path=tmp_path)
    with pytest.raises(ValueError, match=r"'loopback/not-an-agent' is not an sb3-spiking agent: no config\.yml"):
        load_from_hub("loopback/not-an-agent", endpoint=hub.url)


def test_unknown_repository_and_network_failure(hub: LoopbackHub) -> None:
    with pytest.raises(RepositoryNotFoundError, match="loopback/missing"):
        load_from_hub("loopback/missing", endpoint=hub.url)
    hub_down = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(LocalEntryNotFoundError, match="loopback/missing"):
        load_from_hub("loopback/missing", endpoint=hub_down)
    model, _, _ = trained("dqn")
    with pytest.raises(ConnectionError, match="pushing to 'loopback/down'"):
        push_to_hub(model, "loopback/down", env_id="CartPole-v1", endpoint=hub_down, n_eval_episodes=1)
    with pytest.raises(ValueError, match="repo_id must be '<org>/<name>'"):
        push_to_hub(model, "no-org", env_id="CartPole-v1", endpoint=hub.url)


def test_cli_push_then_pull(hub: LoopbackHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sb3_spiking.cli import main

    model, _, _ = trained("dqn")
    folder = package(model, "CartPole-v1", tmp_path / "agents", n_eval_episodes=1, estimate_energy=False)
    assert main(["push", str(folder), "--repo-id", "loopback/cli", "--endpoint", hub.url]) == 0
    assert capsys.readouterr().out.strip().startswith(f"{hub.url}/loopback/cli/commit/")
    out = tmp_path / "pulled"
    assert main(["pull", "loopback/cli", "-o", str(out), "--endpoint", hub.url]) == 0
    for file in folder.iterdir():
        if file.name != "README.md":  # the pushed card names the repository
            assert (out / file.name).read_bytes() == file.read_bytes(), file.name
    assert 'load_from_hub("loopback/cli")' in (out / "README.md").read_text()
    loaded, env = load_local(out, seed=5)
    _, env_ref = load_local(folder, seed=5)
    assert_same_actions(model, loaded, env_ref, env)


def test_rl_zoo3_reads_a_pushed_agent(hub: LoopbackHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    rl_zoo3's download (huggingface_sb3.load_from_hub, file by file, laid out as rl_zoo3.load_from_hub lays them out)
    and its enjoy path (get_model_path, get_saved_hyperparams, create_test_env, ALGOS[algo].load) run a pushed agent
    as load_from_hub does. (rl_zoo3.enjoy itself imports ``requests``, which huggingface_hub 1.x no longer installs.)
    """
    import shutil

    from huggingface_sb3 import EnvironmentName
    from huggingface_sb3 import load_from_hub as sb3_load_from_hub
    from rl_zoo3.utils import ALGOS, create_test_env, get_model_path, get_saved_hyperparams
    from stable_baselines3.common.evaluation import evaluate_policy

    model, env_id, _ = trained("td3")
    repo_id = "loopback/td3-SpikingPopPolicy-Pendulum-v1"
    push_to_hub(model, repo_id, env_id=env_id, endpoint=hub.url, n_eval_episodes=1)
    monkeypatch.setenv("TRUST_REMOTE_CODE", "True")  # huggingface_sb3's consent to unpickling downloads
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
    template = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    env_name = EnvironmentName(env_id)
    run, params = tmp_path / "logs" / "td3" / f"{env_name}_1", tmp_path / "logs" / "td3" / f"{env_name}_1" / env_name
    params.mkdir(parents=True)
    shutil.copy(sb3_load_from_hub(repo_id, f"td3-{env_name}.zip"), run / f"{env_name}.zip")
    for name in ("args.yml", "config.yml", "env_kwargs.yml"):
        shutil.copy(sb3_load_from_hub(repo_id, name), params / name)
    shutil.copy(sb3_load_from_hub(repo_id, "vec_normalize.pkl"), params / "vecnormalize.pkl")
    sb3_load_from_hub(repo_id, "train_eval_metrics.zip")

    _, model_path, log_path = get_model_path(0, str(tmp_path / "logs"), "td3", env_name)
    hyperparams, stats_path = get_saved_hyperparams(str(Path(log_path) / env_name), test_mode=True)
    zoo_env = create_test_env(env_id, stats_path=stats_path, seed=0, should_render=False, hyperparams=hyperparams)
    zoo_model = ALGOS["td3"].load(model_path, device="cpu", buffer_size=1)
    zoo_returns, _ = evaluate_policy(zoo_model, zoo_env, n_eval_episodes=1, return_episode_rewards=True)
    loaded, env = load_from_hub(repo_id, endpoint=hub.url, seed=0, device="cpu")
    returns, _ = evaluate_policy(loaded, env, n_eval_episodes=1, return_episode_rewards=True)
    assert zoo_returns == returns
    # and load_from_hub reads the run folder rl_zoo3 made from the download
    from_run, run_env = load_local(run, seed=0, device="cpu")
    assert evaluate_policy(from_run, run_env, n_eval_episodes=1, return_episode_rewards=True)[0] == returns


def test_push_a_collection_to_an_organisation(
    hub: LoopbackHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sb3-spiking push trained_agents --org ORG`: one repository per agent folder, each loading as its folder does."""
    from sb3_spiking.cli import main

    collection = tmp_path / "agents"
    models = {}
    for family in ("dqn", "td3"):
        model, env_id, _ = trained(family)
        folder = package(model, env_id, collection, n_eval_episodes=1, estimate_energy=False)
        models[folder.name] = model
    (collection / "README.md").write_text("the collection's table\n")  # a file beside the agents is not an agent
    assert main(["push", str(collection), "--org", "loopback-org", "--endpoint", hub.url]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert sorted(line.split(": ")[0] for line in printed) == sorted(f"loopback-org/{name}" for name in models)
    assert sorted(repo for repo in hub.repos if repo.startswith("loopback-org/")) == sorted(
        f"loopback-org/{name}" for name in models
    )
    for name, model in models.items():
        loaded, env = load_from_hub(f"loopback-org/{name}", endpoint=hub.url, seed=2)
        _, env_ref = load_local(collection / name, seed=2)
        assert_same_actions(model, loaded, env_ref, env)
        assert (
            f'load_from_hub("loopback-org/{name}")'
            in (pull(f"loopback-org/{name}", endpoint=hub.url) / "README.md").read_text()
        )


def test_push_collection_refuses_bad_input(hub: LoopbackHub, tmp_path: Path) -> None:
    from sb3_spiking.hub import push_collection

    with pytest.raises(ValueError, match="organization must be a Hub user or organisation name"):
        push_collection(tmp_path, "org/name", endpoint=hub.url)
    with pytest.raises(ValueError, match="holds no agent folders"):
        push_collection(tmp_path, "loopback-refused", endpoint=hub.url)
    package(trained("dqn")[0], "CartPole-v1", tmp_path, n_eval_episodes=1, estimate_energy=False)
    (tmp_path / "stray").mkdir()
    with pytest.raises(FileNotFoundError, match="stray"):  # checked whole before anything is uploaded
        push_collection(tmp_path, "loopback-refused", endpoint=hub.url)
    assert not [repo for repo in hub.repos if repo.startswith("loopback-refused/")]
