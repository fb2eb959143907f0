"""Learning benchmark: DQN-MLP vs DQN-CVTC vs DoubleDQN-CVTC (seed 001) on CartPole-v1 and MountainCar-v0.

Hyperparameters: DQN-MLP uses rl-baselines3-zoo's dqn.yml entries (the copy shipped with rl_zoo3); the CVTC runs use
zoo_configs/dqn.yml and zoo_configs/ddqn.yml of this repository, both read by ``sb3_spiking.zoo.load_entry``. Each
run reports the final mean return over 10 deterministic evaluation episodes, the training throughput (env steps/s
over ``learn()``), and for CVTC agents the return and the Q/action differences when the trained network is run with
beta = 0 (plain I&F neurons, seed 001 Theorem 1). On a shared machine, steps per CPU second (process time) is the
fairer throughput figure. Results are appended to a JSON-lines file as runs finish (``bench/common.py``'s
``run_grid``); the table is printed at the end.

    python bench/learn_cvtc.py --seeds 0 1 2 --envs CartPole-v1 MountainCar-v0 --jobs 2
    python bench/learn_cvtc.py --report          # the table of every run recorded so far

Variants of the configs: ``--override '{"batch_size": 256, "policy_kwargs": {"hidden_sizes": [64]}}' --tag b256``
changes those entries (policy_kwargs entries are merged), and ``--eval-every 10000`` records a learning curve
(3 deterministic episodes per point); the table has one row per (env, algo, tag).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import rl_zoo3
from common import OUT, flatten, read_jsonl, run_grid
from evaluation import EvalCurve, evaluate

from sb3_spiking.zoo import load_entry

ALGOS = ("dqn-mlp", "dqn-cvtc", "ddqn-cvtc")
ENVS = ("CartPole-v1", "MountainCar-v0")
RL_ZOO_DQN = Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml"


def run(
    algo: str, env: str, seed: int, n_timesteps: int | None, override: dict[str, Any], tag: str, eval_every: int
) -> dict[str, Any]:
    """Train and evaluate one (algo, env, seed) with the config entries in ``override`` replaced."""
    if algo == "dqn-mlp":
        entry = load_entry("dqn", env, conf_file=RL_ZOO_DQN, hyperparams=flatten(override))
    else:
        entry = load_entry(algo.removesuffix("-cvtc"), env, hyperparams=flatten(override))
    model = entry.make_model(entry.make_env(seed=seed), seed=seed)
    eval_env = model._wrap_env(entry.make_env(n_envs=1, seed=10_000 + seed, training=False))
    curve = EvalCurve(eval_env, eval_every, n_eval_episodes=3)
    n_timesteps = n_timesteps or entry.n_timesteps
    model.learn(n_timesteps, callback=curve)
    result = dict(
        algo=algo,
        env=env,
        seed=seed,
        tag=tag,
        hyperparams=entry.hyperparams,
        n_timesteps=n_timesteps,
        **evaluate(model, eval_env, 10),
        curve=[point[:2] for point in curve.curve],
        **curve.throughput(),
    )
    if entry.kwargs["policy"] == "CVTCPolicy":
        obs = model.replay_buffer.observations[: model.replay_buffer.size(), 0]
        obs = obs[np.random.default_rng(seed).choice(len(obs), size=min(len(obs), 2000), replace=False)]
        result.update({f"if_{k}": v for k, v in model.policy.compare_inference_modes(obs).items()})
        model.policy.set_inference_mode("if")
        result["if_mean_return"] = evaluate(model, eval_env, 10)["mean_return"]
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
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (one torch thread each)")
    parser.add_argument("--n-timesteps", type=int, default=None, help="override the budgets (quick checks)")
    parser.add_argument("--override", type=json.loads, default={}, help="JSON of config entries to replace")
    parser.add_argument("--tag", default="", help="name of the variant given by --override (a table row)")
    parser.add_argument("--eval-every", type=int, default=0, help="env steps between learning-curve points")
    parser.add_argument("--out", type=Path, default=OUT / "learn_cvtc.jsonl")
    parser.add_argument("--report", action="store_true", help="only print the table of every run in --out")
    args = parser.parse_args()
    if not args.report:
        if args.override and not args.tag:
            parser.error("--override needs a --tag naming the variant")
        jobs = [
            dict(
                algo=a,
                env=e,
                seed=s,
                n_timesteps=args.n_timesteps,
                override=args.override,
                tag=args.tag,
                eval_every=args.eval_every,
            )
            for s in args.seeds
            for e in args.envs
            for a in args.algos
        ]
        records = run_grid(jobs, run, args.jobs, args.out)
    else:
        records = read_jsonl(args.out)
    print(table([r for r in records if "error" not in r]))


if __name__ == "__main__":
    main()
