"""The ``sb3-spiking`` command line: train (every algorithm family, nested overrides, resume), evaluate, plot, tune,
sweep and bad input, on budgets of a few hundred env steps."""

from __future__ import annotations

import copy
import json
import pickle
import re
import shlex
import socket
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_spiking.cli import COMMANDS, main
from sb3_spiking.cli import sweep as sweep_module
from sb3_spiking.cli.common import find_run, format_literal, load_run, register_algorithms, saved_num_timesteps
from sb3_spiking.hub import load_local, package
from sb3_spiking.resources import data_dir
from sb3_spiking.zoo import parse_literal

TINY_TD3 = ["learning_starts:50", "batch_size:16", "policy_kwargs.hidden_sizes:[16]", "policy_kwargs.net_arch:[16]"]
"""Overrides that keep Pop-SAN TD3 / DDPG / SAC on Pendulum to a few seconds."""

FAMILIES = {
    "td3": ("Pendulum-v1", TINY_TD3, 150),
    "ddpg": ("Pendulum-v1", TINY_TD3, 150),
    "sac": ("Pendulum-v1", [*TINY_TD3, "policy_kwargs.log_std_hidden_sizes:[8]"], 150),
    "dqn": ("CartPole-v1", ["learning_starts:50", "train_freq:16", "gradient_steps:1", "batch_size:16",
                            "policy_kwargs.compile_network:False", "policy_kwargs.hidden_sizes:[8]"], 150),
    "ddqn": ("CartPole-v1", ["learning_starts:50", "train_freq:16", "gradient_steps:1", "batch_size:16",
                             "policy_kwargs.compile_network:False", "policy_kwargs.hidden_sizes:[8]"], 150),
    "recurrentppo": ("CartPole-P-v0", ["n_envs:2", "n_steps:16", "batch_size:16", "n_epochs:1",
                                       "policy_kwargs.lstm_hidden_size:8",
                                       "policy_kwargs.net_arch:dict(pi=[8],vf=[8])"], 64),
    "recurrent_td3": ("Pendulum-P-v0", ["learning_starts:200", "batch_size:2", "seq_len:8", "buffer_size:1000",
                                        "policy_kwargs.hidden_size:8", "policy_kwargs.net_arch:[8]",
                                        "policy_kwargs.embed_dims:(4,4,4)"], 220),
    "recurrent_dqn": ("CartPole-P-v0", ["learning_starts:50", "batch_size:2", "seq_len:8", "buffer_size:1000",
                                        "policy_kwargs.hidden_size:8", "policy_kwargs.net_arch:[8]",
                                        "policy_kwargs.embed_dims:(4,4,4)"], 120),
    "qmix": ("mpe2:simple_spread_v3", ["batch_size:2", "agent_kwargs.hidden_dim:8", "agent_kwargs.fc_dim:8",
                                       "mixer_kwargs.embed_dim:4", "mixer_kwargs.hypernet_hidden:8"], 100),
}  # fmt: skip


def train(tmp_path: Path, algo: str, env: str, n: int, overrides: list[str], *extra: str) -> Path:
    """Run ``sb3-spiking train`` in this process and return its run folder."""
    argv = ["train", "--algo", algo, "--env", env, "-n", str(n), "-f", str(tmp_path), "--seed", "0",
            "--eval-freq", str(n // 2), "--eval-episodes", "1", "--verbose", "0", "--device", "cpu",
            *extra]  # fmt: skip
    if algo == "qmix":
        argv += ["--env-kwargs", "N:2", "max_cycles:10"]
    assert main([*argv, "--hyperparams", *overrides]) == 0
    folders = sorted((tmp_path / ("ppo_lstm" if algo == "recurrentppo" else algo)).glob("*_[0-9]*"))
    return folders[-1]


def zoo_entry(algo: str, env_key: str) -> dict:
    """The config entry as the YAML file holds it, literal strings parsed (the reference for saved configs)."""
    entry = dict(yaml.safe_load((data_dir("zoo_configs") / f"{algo}.yml").read_text())[env_key])
    return {k: parse_literal(v) if k == "policy_kwargs" else v for k, v in entry.items()}


def evaluated_mean(capsys: pytest.CaptureFixture[str], *argv: str) -> float:
    assert main(["evaluate", *argv]) == 0
    return float(re.search(r"mean return (-?[\d.]+) \+/-", capsys.readouterr().out).group(1))


def test_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, module in COMMANDS.items():
        first_line = __import__(module, fromlist=["_"]).__doc__.strip().splitlines()[0]
        assert f"{name}" in out and first_line in out


@pytest.mark.parametrize("algo", list(FAMILIES))
def test_train_writes_a_run_folder_that_evaluates(tmp_path: Path, algo: str, capsys) -> None:
    env, overrides, n = FAMILIES[algo]
    folder = train(tmp_path, algo, env, n, overrides)
    run = find_run(folder)
    evaluations = np.load(folder / "evaluations.npz")
    assert evaluations["timesteps"].tolist() == [n // 2, n // 2 * 2]
    assert run.final_model.is_file()
    model, vec_env = load_run(folder, device="cpu")
    assert model.num_timesteps >= n
    # evaluate prints the mean of the episode returns that evaluate_policy gives on the same env
    expected, _ = evaluate_policy(model, vec_env, n_eval_episodes=2, deterministic=True)
    assert evaluated_mean(capsys, str(folder), "-n", "2", "--device", "cpu") == pytest.approx(expected, abs=0.01)


def test_nested_override_changes_one_key_and_rl_zoo3_reads_the_folder(tmp_path: Path) -> None:
    from rl_zoo3.utils import create_test_env, get_saved_hyperparams

    folder = train(tmp_path, "td3", "Pendulum-v1", 100, [*TINY_TD3, "policy_kwargs.surrogate:trapezoidal"])
    # rl_zoo3 enjoy's own path: saved hyperparameters, then its test env with the saved VecNormalize statistics
    hyperparams, stats_path = get_saved_hyperparams(str(folder / "Pendulum-v1"), test_mode=True)
    saved = parse_literal(hyperparams["policy_kwargs"])  # the saved string as rl_zoo3 reads it (it eval()s it)
    expected = {**zoo_entry("td3", "Pendulum-v1")["policy_kwargs"], "surrogate": "trapezoidal",
                "hidden_sizes": [16], "net_arch": [16]}  # fmt: skip
    assert saved == expected
    env = create_test_env("Pendulum-v1", stats_path=stats_path, hyperparams=hyperparams, should_render=False)
    model = register_algorithms()["td3"].load(folder / "Pendulum-v1.zip", env=env, device="cpu")
    assert type(env).__name__ == "VecNormalize" and not env.training
    assert model.policy.actor.config.surrogate["name"] == "trapezoidal"


def test_resume_continues_steps_buffer_and_evaluations(tmp_path: Path) -> None:
    folder = train(tmp_path, "td3", "Pendulum-v1", 150, TINY_TD3, "--save-freq", "100")
    before = pickle.loads((folder / "rl_model_replay_buffer_100_steps.pkl").read_bytes())
    assert before.pos == 100
    (folder / "Pendulum-v1.zip").unlink()  # as if the run had been killed between steps 100 and 150
    assert main(["train", "--resume", str(folder), "-n", "300", "--verbose", "0", "--device", "cpu"]) == 0
    model, _ = load_run(folder, checkpoint="final", device="cpu")
    assert model.num_timesteps == 300
    after = pickle.loads((folder / "rl_model_replay_buffer_300_steps.pkl").read_bytes())
    assert after.pos == 300  # the 100 stored transitions plus the 200 new ones
    np.testing.assert_array_equal(after.observations[:100], before.observations[:100])
    # evaluations up to the checkpoint kept, then every 75 steps of the resumed run
    assert np.load(folder / "evaluations.npz")["timesteps"].tolist() == [75, 175, 250]
    # a finished run is not trained again
    assert main(["train", "--resume", str(folder), "-n", "300", "--verbose", "0"]) == 0
    assert find_run(folder).latest_model()[1] == 300


def test_trained_agent_continues_num_timesteps_in_a_new_folder(tmp_path: Path) -> None:
    first = train(tmp_path, "td3", "Pendulum-v1", 100, TINY_TD3, "--save-replay-buffer")
    second = train(tmp_path, "td3", "Pendulum-v1", 60, TINY_TD3, "--trained-agent", str(first / "Pendulum-v1.zip"),
                   "--save-replay-buffer")  # fmt: skip
    assert second != first
    model, _ = load_run(second, device="cpu")
    assert model.num_timesteps == 160
    assert pickle.loads((second / "replay_buffer.pkl").read_bytes()).pos == 160  # the first run's 100 kept


def test_package_a_run_folder_card_states_its_budget_and_command(tmp_path: Path) -> None:
    folder = train(tmp_path / "a", "td3", "Pendulum-v1", 150, TINY_TD3)
    agent = package(folder, None, tmp_path / "agents", n_eval_episodes=2)
    assert zoo_entry("td3", "Pendulum-v1")["n_timesteps"] != 150  # the run's -n, not the entry's budget, is stated
    card = ModelCard.load(agent / "README.md").text
    assert "- budget: 150 env steps (150 done)" in card and "- seed: 0" in card
    assert ".." not in card.split("## Energy per decision")[1].split("## Reproduce")[0]
    results = json.loads((agent / "results.json").read_text())
    model, env = load_local(agent, seed=0, device="cpu")
    mean, _ = evaluate_policy(model, env, n_eval_episodes=2, deterministic=True)
    assert results["mean_reward"] == pytest.approx(mean)
    # the card's command, run again, trains the same agent
    command = shlex.split(card.split("```bash\n")[1].split("\n```")[0])
    assert command[:2] == ["sb3-spiking", "train"] and command[command.index("-n") + 1] == "150"
    again = tmp_path / "b"
    assert main([*command[1:], "-f", str(again), "--verbose", "0", "--device", "cpu"]) == 0
    retrained, _ = load_run(sorted((again / "td3").glob("Pendulum-v1_*"))[-1], device="cpu")
    again_state = retrained.policy.state_dict()
    for name, value in model.policy.state_dict().items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(again_state[name], value, rtol=0, atol=0, msg=name)
        else:  # extra state (the surrogates' settings)
            assert again_state[name] == value, name


def test_plain_rl_zoo3_train_on_our_config_and_our_loader(tmp_path: Path, monkeypatch) -> None:
    import rl_zoo3.train

    argv = ["rl_zoo3.train", "--algo", "td3", "--env", "Pendulum-v1", "--gym-packages", "sb3_spiking",
            "--conf-file", str(data_dir("zoo_configs") / "td3.yml"), "-n", "100", "-f", str(tmp_path),
            "--eval-freq", "50", "--eval-episodes", "1", "--seed", "0", "--device", "cpu", "--verbose", "0",
            "--hyperparams", "learning_starts:50", "policy_kwargs:" + format_literal(
                {**zoo_entry("td3", "Pendulum-v1")["policy_kwargs"], "hidden_sizes": [16]})]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    rl_zoo3.train.train()
    model, env = load_run(tmp_path / "td3" / "Pendulum-v1_1", device="cpu")
    assert model.num_timesteps == 100
    assert type(env).__name__ == "VecNormalize"


def write_run(root: Path, variant: str, seed: int, steps: list[int], results: list[list[float]], surrogate: str):
    """A run folder as rl_zoo3 writes it, with chosen evaluations."""
    folder = root / variant / f"seed_{seed}" / "td3" / "Pendulum-v1_1"
    (folder / "Pendulum-v1").mkdir(parents=True)
    (folder / "Pendulum-v1" / "args.yml").write_text(yaml.dump({"algo": "td3", "env": "Pendulum-v1"}))
    (folder / "Pendulum-v1" / "config.yml").write_text(
        yaml.dump({"policy_kwargs": f"dict(surrogate='{surrogate}', spike_ts=5)"}))  # fmt: skip
    np.savez(folder / "evaluations.npz", timesteps=np.array(steps), results=np.array(results),
             ep_lengths=np.ones_like(np.array(results)))  # fmt: skip


def test_plot_curves_and_table_from_evaluations(tmp_path: Path, capsys) -> None:
    write_run(tmp_path, "a", 0, [10, 20, 30], [[1.0, 3.0], [4.0, 6.0], [5.0, 5.0]], "rectangular")  # means 2, 5, 5
    write_run(tmp_path, "a", 1, [10, 20, 30], [[0.0, 0.0], [2.0, 2.0], [7.0, 9.0]], "rectangular")  # means 0, 2, 8
    write_run(tmp_path, "b", 0, [10, 20], [[-1.0, -3.0], [-2.0, -2.0]], "triangular")  # means -2, -2
    out = tmp_path / "fig" / "curves.png"
    assert main(["plot", str(tmp_path), "-o", str(out), "--group-by", "policy_kwargs.surrogate"]) == 0
    table = out.with_suffix(".md").read_text()
    # a: finals 5 and 8 -> 6.5 +/- 1.5; bests 5 and 8 -> 6.5 +/- 1.5; b: final -2, best -2
    assert "| rectangular | 2 | 30 | 6.50 +/- 1.50 | 6.50 +/- 1.50 |" in table
    assert "| triangular | 1 | 20 | -2.00 +/- 0.00 | -2.00 +/- 0.00 |" in table
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = out.with_suffix(".svg").read_text()
    assert len(re.findall(r'id="curve_\d+"', svg)) == 2  # one mean curve and one std band per variant
    assert len(re.findall(r'id="band_\d+"', svg)) == 2
    assert "environment steps" in svg
    # outputs are not replaced without --overwrite; the default grouping is the sweep's variant folder
    assert main(["plot", str(tmp_path), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "-o", str(out), "--overwrite"]) == 0
    assert "| a | 2 | 30 | 6.50 +/- 1.50 |" in out.with_suffix(".md").read_text()


def test_spiking_sampler_keeps_the_config_and_samples_spiking_keys() -> None:
    import optuna

    from sb3_spiking.cli.samplers import SpikingSampler

    config = {"policy": "SpikingPopPolicy", "policy_kwargs": {"encoder": "deterministic", "mean_range": (-3.0, 3.0)}}
    params = {"one_minus_gamma": 0.01, "batch_size_pow": 5, "learning_rate": 1e-3, "train_freq": 2, "tau": 0.01,
              "noise_type": None, "noise_std": 0.1, "net_arch": "small", "neuron": "lif", "spike_ts": 8,
              "encoder_pop_dim": 5, "decoder_pop_dim": 20, "hidden_sizes": "medium", "surrogate": "trapezoidal",
              "surrogate_width": 0.4}  # fmt: skip
    sampled = SpikingSampler("td3", copy.deepcopy(config))(optuna.trial.FixedTrial(params), 1, 1, {
        "using_her_replay_buffer": False, "her_kwargs": {}})  # fmt: skip
    assert sampled["policy_kwargs"] == {
        "encoder": "deterministic", "mean_range": (-3.0, 3.0), "net_arch": [64, 64], "neuron": "lif", "spike_ts": 8,
        "encoder_pop_dim": 5, "decoder_pop_dim": 20, "hidden_sizes": [256, 256],
        "surrogate": {"name": "trapezoidal", "w1": 0.2, "w2": 0.4},
    }  # fmt: skip
    assert sampled["gamma"] == pytest.approx(0.99) and sampled["batch_size"] == 32
    core = SpikingSampler("recurrent_dqn", {"policy": "GRSNPolicy", "policy_kwargs": {"embed_dims": (32, 8, 8)}})
    fixed = {"one_minus_gamma": 0.01, "batch_size_pow": 5, "learning_rate": 1e-3, "train_freq": 2,
             "subsample_steps": 1, "exploration_final_eps": 0.05, "exploration_fraction": 0.1,
             "target_update_interval": 10, "net_arch": "small", "core": "lif", "hidden_size": 64, "threshold": 0.7,
             "input_bias": 1.2, "surrogate": "rectangular", "surrogate_width": 0.5}  # fmt: skip
    kwargs = core(optuna.trial.FixedTrial(fixed), 0, 1, {"using_her_replay_buffer": False})["policy_kwargs"]
    assert kwargs["core"] == "lif" and kwargs["embed_dims"] == (32, 8, 8)
    assert kwargs["core_kwargs"] == {"threshold": 0.7, "input_bias": 1.2,
                                     "surrogate": {"name": "rectangular", "a": 0.5}}  # fmt: skip


def test_tune_two_trials_on_sqlite(tmp_path: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["tune", "--algo", "td3", "--env", "Pendulum-v1", "-n", "60", "--n-trials", "2", "--n-evaluations", "1",
            "--eval-episodes", "1", "--storage", storage, "--study-name", "s", "-f", str(tmp_path), "--verbose", "0",
            "--device", "cpu", "--hyperparams", "learning_starts:100"]  # fmt: skip
    assert main(argv) == 0
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert {"surrogate", "surrogate_width", "spike_ts", "encoder_pop_dim", "neuron"} <= set(trials[0].params)


def test_qmix_sampler_merges_into_the_entry() -> None:
    import optuna

    from sb3_spiking.cli.samplers import QMIXSampler

    entry = {"agent": "grsn", "batch_size": 32, "gamma": 0.9, "mixer_kwargs": {"embed_dim": 32, "hypernet_hidden": 64},
             "agent_kwargs": {"fc_dim": 64, "core_kwargs": {"beta_init": 0.5, "threshold": 1.0}}}  # fmt: skip
    fixed = {"agent": "lif", "exploration_fraction": 0.25, "embed_dim": 16, "threshold": 0.7, "input_bias": 1.2,
             "surrogate": "trapezoidal", "surrogate_width": 0.4, "learning_rate": 1e-3, "batch_size": 8,
             "exploration_final_eps": 0.1}  # fmt: skip
    sampled = QMIXSampler(copy.deepcopy(entry), 1000)(optuna.trial.FixedTrial(fixed))
    assert sampled == {
        "agent": "lif", "batch_size": 8, "gamma": 0.9, "learning_rate": 1e-3, "exploration_final_eps": 0.1,
        "exploration_steps": 250, "mixer_kwargs": {"embed_dim": 16, "hypernet_hidden": 64},
        "agent_kwargs": {"fc_dim": 64, "core_kwargs": {"beta_init": 0.5, "threshold": 0.7, "input_bias": 1.2,
                                                       "surrogate": {"name": "trapezoidal", "w1": 0.2, "w2": 0.4}}},
    }  # fmt: skip
    gru = QMIXSampler(copy.deepcopy(entry), 1000)(optuna.trial.FixedTrial({**fixed, "agent": "gru"}))
    assert gru["agent"] == "gru" and gru["agent_kwargs"] == {"fc_dim": 64}  # no spiking core settings for a GRU


def test_tune_qmix_two_trials(tmp_path: Path) -> None:
    import optuna

    from sb3_spiking.marl import QMIX

    trials_log = tmp_path / "trials"
    argv = ["tune", "--algo", "qmix", "--env", "mpe2:simple_spread_v3", "--env-kwargs", "N:2", "max_cycles:10",
            "-n", "200", "--n-trials", "2", "--n-evaluations", "2", "--eval-episodes", "2", "-f", str(tmp_path),
            "--optimization-log-path", str(trials_log), "--verbose", "0", "--device", "cpu",
            "--hyperparams", "agent_kwargs.hidden_dim:8", "agent_kwargs.fc_dim:8",
            "mixer_kwargs.hypernet_hidden:8"]  # fmt: skip
    assert main(argv) == 0
    # the default storage: an SQLite file in the log folder, the study named after algorithm and env
    storage = f"sqlite:///{tmp_path / 'qmix' / 'simple_spread_v3_optuna.db'}"
    study = optuna.load_study(study_name="qmix-mpe2:simple_spread_v3", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    spiking = {"threshold", "input_bias", "surrogate", "surrogate_width"}
    for trial in study.trials:
        p = trial.params
        # the declared space
        assert p["agent"] in ("grsn", "gru", "lif") and p["batch_size"] in (8, 16, 32, 64)
        assert p["embed_dim"] in (16, 32, 64) and 1e-4 <= p["learning_rate"] <= 3e-3
        assert 0.01 <= p["exploration_final_eps"] <= 0.2 and 0.05 <= p["exploration_fraction"] <= 0.5
        assert (spiking <= set(p)) if p["agent"] != "gru" else not spiking & set(p)
        if p["agent"] != "gru":
            assert p["surrogate"] in ("rectangular", "triangular", "trapezoidal") and 0.5 <= p["threshold"] <= 1.5
            assert 0.0 <= p["input_bias"] <= 1.5 and 0.2 <= p["surrogate_width"] <= 1.0
        # an evaluation every 100 env steps, each reported for pruning; the trial's value is the last one
        evaluations = np.load(trials_log / f"trial_{trial.number}" / "evaluations.npz")
        assert evaluations["timesteps"].tolist() == [100, 200]
        means = evaluations["results"].mean(axis=1)
        assert [trial.intermediate_values[i] for i in (1, 2)] == pytest.approx(means.tolist())
        assert trial.value == pytest.approx(means[-1])
        # the trial trained QMIX with the sampled values, on top of the config and the fixed overrides
        model = QMIX.load(trials_log / f"trial_{trial.number}" / "best_model.zip", device="cpu")
        assert (model.agent, model.batch_size) == (p["agent"], p["batch_size"])
        assert model.learning_rate == pytest.approx(p["learning_rate"])
        assert model.exploration_final_eps == pytest.approx(p["exploration_final_eps"])
        assert model.exploration_steps == int(p["exploration_fraction"] * 200)
        assert model.mixer_kwargs == {"embed_dim": p["embed_dim"], "hypernet_hidden": 8}
        assert (model.agent_kwargs["fc_dim"], model.agent_kwargs["hidden_dim"]) == (8, 8)
        if p["agent"] != "gru":
            core = model.agent_kwargs["core_kwargs"]
            assert (core["threshold"], core["input_bias"]) == pytest.approx((p["threshold"], p["input_bias"]))
            assert core["surrogate"]["name"] == p["surrogate"]
        else:
            assert "core_kwargs" not in model.agent_kwargs
    best = max(study.trials, key=lambda t: t.value)
    assert study.best_value == best.value == pytest.approx(
        np.load(trials_log / f"trial_{best.number}" / "evaluations.npz")["results"][-1].mean())  # fmt: skip


def test_bad_input_lists_the_valid_choices(tmp_path: Path, capsys) -> None:
    cases = [
        (["train", "--algo", "td4", "--env", "Pendulum-v1"], ["'td3'", "'recurrent_td3'", "'qmix'"]),
        (["train", "--algo", "td3", "--env", "Pendulm-v1"], ["Pendulum-v1", "HalfCheetah-v5"]),
        (["train", "--algo", "td3", "--env", "Pendulum-v1", "--hyperparams", "batchsize:4"], ["'batch_size'"]),
        (["train", "--algo", "sac", "--env", "CartPole-v1"], ["no entry for env 'CartPole-v1'", "sac.yml"]),
        (["train", "--algo", "a2c", "--env", "CartPole-v1"], ["--conf-file"]),
        (["sweep", "--algo", "td3", "--env", "Pendulum-v1", "--grid", "policy_kwarg.surrogate:a,b"],
         ["'policy_kwargs'"]),
        (["sweep", "--algo", "td3", "--env", "Pendulum-v1", "--seeds", "x-2"], ["--seeds"]),
        (["evaluate", str(tmp_path)], ["not an rl_zoo3 run folder", "args.yml"]),
        (["plot", str(tmp_path), "-o", str(tmp_path / "x.png")], ["no run folder with evaluations.npz"]),
    ]  # fmt: skip
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        for text in expected:
            assert text in err, (argv, err)


def test_sweep_grid_seeds_and_variant_names() -> None:
    assert sweep_module.parse_seeds("0-2,7,1") == [0, 1, 2, 7]
    assert sweep_module.split_values("[64,64],[8],'a,b'") == ["[64,64]", "[8]", "'a,b'"]
    grid = sweep_module.parse_grid(
        [["policy_kwargs.surrogate:rectangular,arctan"], ["policy_kwargs.hidden_sizes:[8],[4,4]"]]
    )
    assert grid == {"policy_kwargs.surrogate": ["rectangular", "arctan"], "policy_kwargs.hidden_sizes": [[8], [4, 4]]}
    name = sweep_module.variant_name({"policy_kwargs.surrogate": "arctan", "policy_kwargs.hidden_sizes": [4, 4]})
    assert name == "policy_kwargs.surrogate=arctan,policy_kwargs.hidden_sizes=_4,_4_"


def sweep_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["sweep", "--algo", "td3", "--env", "Pendulum-v1", "--seeds", "0", "-n", "60", "--eval-freq", "30",
            "--eval-episodes", "1", "--grid", "policy_kwargs.surrogate:arctan,nonsense", "-f", str(tmp_path),
            "--hyperparams", *TINY_TD3, *extra]  # fmt: skip


def test_sweep_on_ray_runs_each_job_as_a_task(tmp_path: Path, monkeypatch, capsys) -> None:
    """The Ray backend against a stand-in module with Ray's API (init / remote / wait / get): each run is a task
    with num_cpus resources, a task that dies is reported and the others go on."""
    calls = {"init": [], "num_cpus": [], "ran": []}

    class Ref:
        def __init__(self, fn, job):
            self.fn, self.job = fn, job

    def remote(num_cpus):
        calls["num_cpus"].append(num_cpus)
        return lambda fn: types.SimpleNamespace(remote=lambda job: Ref(fn, job))

    def get(ref):
        calls["ran"].append(ref.job["variant"])
        return ref.fn(ref.job)

    fake = types.SimpleNamespace(is_initialized=lambda: False, remote=remote, get=get,
                                 init=lambda address=None: calls["init"].append(address),
                                 wait=lambda refs, num_returns: (refs[:1], refs[1:]))  # fmt: skip
    monkeypatch.setitem(sys.modules, "ray", fake)

    def run_one(job):
        if "nonsense" in job["variant"]:
            raise RuntimeError("worker died")
        return {"variant": job["variant"], "seed": job["seed"], "overrides": job["overrides"], "returncode": 0,
                "run": "r", "log": "l"}  # fmt: skip

    monkeypatch.setattr(sweep_module, "run_one", run_one)
    assert main(sweep_args(tmp_path, "--backend", "ray", "--address", "auto", "--cpus-per-run", "2")) == 1
    out = capsys.readouterr().out
    assert calls["init"] == ["auto"] and calls["num_cpus"] == [2]
    assert sorted(calls["ran"]) == ["policy_kwargs.surrogate=arctan", "policy_kwargs.surrogate=nonsense"]
    assert "FAILED: policy_kwargs.surrogate=nonsense seed 0 (RuntimeError: worker died)" in out
    # the finished run is skipped on a rerun, the failed one runs again
    calls["ran"].clear()
    assert main(sweep_args(tmp_path, "--backend", "ray")) == 1
    assert calls["ran"] == ["policy_kwargs.surrogate=nonsense"]


@pytest.mark.slow
def test_sweep_local_reports_a_failure_and_skips_finished_runs(tmp_path: Path, capsys) -> None:
    assert main(sweep_args(tmp_path, "--jobs", "2")) == 1
    out = capsys.readouterr().out
    assert "done: policy_kwargs.surrogate=arctan seed 0" in out
    assert "FAILED: policy_kwargs.surrogate=nonsense seed 0 (exit code 2)" in out
    assert "unknown surrogate 'nonsense'" in out  # the end of the failed run's log
    run = tmp_path / "policy_kwargs.surrogate=arctan" / "seed_0" / "td3" / "Pendulum-v1_1"
    assert np.load(run / "evaluations.npz")["timesteps"].tolist() == [30, 60]
    assert main(sweep_args(tmp_path)) == 1
    assert "2 runs, 1 finished before, 1 to run" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_on_a_local_ray_instance(tmp_path: Path) -> None:
    """Two runs as tasks of a local Ray instance that the test starts (CI installs the ray extra) and ends."""
    ray = pytest.importorskip("ray")
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    host, port = context.address_info["gcs_address"].rsplit(":", 1)
    try:
        argv = [a.replace("arctan,nonsense", "arctan,rectangular") for a in sweep_args(tmp_path, "--backend", "ray")]
        assert main(argv) == 0
        assert ray.is_initialized()  # the sweep used the instance it found instead of starting another
    finally:
        ray.shutdown()
    assert not ray.is_initialized()
    with pytest.raises(OSError):  # the instance's control store (GCS) is gone with it
        socket.create_connection((host, int(port)), timeout=5).close()
    for surrogate in ("arctan", "rectangular"):
        run = find_run(tmp_path / f"policy_kwargs.surrogate={surrogate}" / "seed_0" / "td3" / "Pendulum-v1_1")
        assert saved_num_timesteps(run.final_model) == 60
        assert parse_literal(run.config["policy_kwargs"])["surrogate"] == surrogate
