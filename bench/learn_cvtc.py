"""Learning benchmark: DQN-MLP vs DQN-CVTC vs DoubleDQN-CVTC (seed 001) on CartPole-v1 and MountainCar-v0.

Hyperparameters: DQN-MLP uses rl-baselines3-zoo's dqn.yml entries; the CVTC runs use zoo_configs/dqn.yml and
zoo_configs/ddqn.yml of this repository. Each run reports the final mean return over 10 deterministic
evaluation episodes, the training throughput (env steps/s over ``learn()``), and for CVTC agents the return
and the Q/action differences when the trained network is run with beta = 0 (plain I&F neurons, seed 001
Theorem 1). On a shared machine, steps per CPU second (process time) is the fairer throughput figure.
Results are appended to a JSON-lines file as runs finish; the table is printed at the end.

    python bench/learn_cvtc.py --seeds 0 1 2 --envs CartPole-v1 MountainCar-v0 --jobs 2
    python bench/learn_cvtc.py --report          # the table of every run recorded so far

Variants of the configs: ``--override '{"batch_size": 256, "policy_kwargs": {"hidden_sizes": [64]}}' --tag b256``
changes those entries (policy_kwargs entries are merged), and ``--eval-every 10000`` records a learning curve
(3 deterministic episodes per point); the table has one row per (env, algo, tag).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
ALGOS = ("dqn-mlp", "dqn-cvtc", "ddqn-cvtc")

# rl-baselines3-zoo hyperparams/dqn.yml
ZOO_MLP = {
    "CartPole-v1": dict(
        n_timesteps=50_000,
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        policy_kwargs="dict(net_arch=[256, 256])",
    ),
    "MountainCar-v0": dict(
        n_timesteps=120_000,
        learning_rate=4e-3,
        batch_size=128,
        buffer_size=10_000,
        learning_starts=1000,
        gamma=0.98,
        target_update_interval=600,
        train_freq=16,
        gradient_steps=8,
        exploration_fraction=0.2,
        exploration_final_eps=0.07,
        policy_kwargs="dict(net_arch=[256, 256])",
    ),
}


def hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """Hyperparameters of one run (a copy)."""
    if algo == "dqn-mlp":
        return dict(ZOO_MLP[env_id], policy="MlpPolicy")
    config = ROOT / "zoo_configs" / ("ddqn.yml" if algo == "ddqn-cvtc" else "dqn.yml")
    return dict(yaml.safe_load(config.read_text())[env_id])


def make_env(env_id: str, wrappers: list[dict[str, dict[str, Any]]] | None, seed: int) -> Any:
    """A DummyVecEnv with the zoo-style ``env_wrapper`` list applied."""
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_spiking.zoo import wrapper_class

    return make_vec_env(env_id, n_envs=1, seed=seed, wrapper_class=wrapper_class(wrappers))


def run(job: tuple[str, str, int, int | None, dict[str, Any], str, int]) -> dict[str, Any]:
    """Train and evaluate one (algo, env, seed) with the config entries in ``override`` replaced."""
    algo, env_id, seed, n_override, override, tag, eval_every = job
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback, EveryNTimesteps
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    import sb3_spiking
    from sb3_spiking.zoo import hyperparameter

    params = {key: hyperparameter(value) for key, value in hyperparams(algo, env_id).items()}
    params["policy_kwargs"] = eval(params.get("policy_kwargs", "dict()"), {"dict": dict})
    override = dict(override)
    params["policy_kwargs"].update(override.pop("policy_kwargs", {}))
    params.update(override)
    n_timesteps = int(n_override or params.pop("n_timesteps"))
    params.pop("n_timesteps", None)
    wrappers = params.pop("env_wrapper", None)
    policy = params.pop("policy")
    cls = sb3_spiking.DoubleDQN if algo == "ddqn-cvtc" else DQN
    model = cls(policy, make_env(env_id, wrappers, seed), seed=seed, **params)
    eval_env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)  # unshifted rewards: the true return
    curve: list[tuple[int, float]] = []
    eval_time = np.zeros(2)  # wall and CPU seconds spent on the curve's evaluations, left out of the throughput

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            start = np.array([time.perf_counter(), time.process_time()])
            curve.append((self.num_timesteps, float(evaluate_policy(model, eval_env, n_eval_episodes=3)[0])))
            eval_time[:] += np.array([time.perf_counter(), time.process_time()]) - start
            return True

    start, start_cpu = time.perf_counter(), time.process_time()
    model.learn(n_timesteps, callback=EveryNTimesteps(eval_every, Evaluate()) if eval_every else None)
    elapsed, elapsed_cpu = np.array([time.perf_counter() - start, time.process_time() - start_cpu]) - eval_time
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    result = dict(
        algo=algo,
        env=env_id,
        seed=seed,
        tag=tag,
        override=override | {"policy_kwargs": params["policy_kwargs"]} if tag else {},
        n_timesteps=n_timesteps,
        mean_return=float(mean),
        std_return=float(std),
        curve=curve,
        steps_per_s=n_timesteps / elapsed,
        steps_per_cpu_s=n_timesteps / elapsed_cpu,
    )
    if policy == "CVTCPolicy":
        obs = model.replay_buffer.observations[: model.replay_buffer.size(), 0]
        obs = obs[np.random.default_rng(seed).choice(len(obs), size=min(len(obs), 2000), replace=False)]
        result.update({f"if_{k}": v for k, v in model.policy.compare_inference_modes(obs).items()})
        model.policy.set_inference_mode("if")
        if_mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
        result["if_mean_return"] = float(if_mean)
    return result


def table(results: list[dict[str, Any]]) -> str:
    """Markdown table: mean +- std over seeds of the final return, throughput and the beta = 0 return."""
    lines = [
        "| env | algo | seeds | final return (10 eval ep.) | env steps/s | env steps/CPU-s "
        "| return with beta=0 (I&F) | greedy-action disagreement beta=0 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(
        {(r["env"], r["algo"], r.get("tag", "")) for r in results}, key=lambda k: (k[0], k[2], ALGOS.index(k[1]))
    )
    for env_id, algo, tag in keys:
        rs = [r for r in results if (r["env"], r["algo"], r.get("tag", "")) == (env_id, algo, tag)]
        ret = np.array([r["mean_return"] for r in rs])
        sps = np.array([r["steps_per_s"] for r in rs])
        cpu_sps = np.array([r["steps_per_cpu_s"] for r in rs])
        cells = [
            env_id,
            f"{algo} {tag}".strip(),
            str(len(rs)),
            f"{ret.mean():.1f} +- {ret.std():.1f} ({', '.join(f'{x:.0f}' for x in ret)})",
            f"{sps.mean():.0f}",
            f"{cpu_sps.mean():.0f}",
        ]
        if "if_mean_return" in rs[0]:
            if_ret = np.array([r["if_mean_return"] for r in rs])
            dis = np.array([r["if_action_disagreement"] for r in rs])
            cells += [f"{if_ret.mean():.1f} ({', '.join(f'{x:.0f}' for x in if_ret)})", f"{dis.mean():.2f}"]
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--envs", nargs="+", default=list(ZOO_MLP), choices=list(ZOO_MLP))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (one torch thread each)")
    parser.add_argument("--n-timesteps", type=int, default=None, help="override the budgets (quick checks)")
    parser.add_argument("--override", type=json.loads, default={}, help="JSON of config entries to replace")
    parser.add_argument("--tag", default="", help="name of the variant given by --override (a table row)")
    parser.add_argument("--eval-every", type=int, default=0, help="env steps between learning-curve points")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "learn_cvtc.jsonl")
    parser.add_argument("--report", action="store_true", help="only print the table of every run in --out")
    args = parser.parse_args()
    if args.report:
        print(table([json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]))
        return

    if args.override and not args.tag:
        parser.error("--override needs a --tag naming the variant")
    jobs = [
        (a, e, s, args.n_timesteps, args.override, args.tag, args.eval_every)
        for s in args.seeds
        for e in args.envs
        for a in args.algos
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run, jobs):
            results.append(result)
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")
            print(json.dumps(result), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
