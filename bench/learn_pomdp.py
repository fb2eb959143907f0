"""
Seed 003, Table 1 setting: recurrent off-policy agents with GRSN / LIF / GRU cores and an MLP baseline on the
POMDP tasks (Pendulum-P/V with RecurrentTD3, CartPole-P/V with RecurrentDQN; the MLP baseline is SB3's TD3 / DQN
with ``MlpPolicy`` [128, 128] on the current observation only, batch 256, otherwise the same settings).
``--algo ppo`` runs sb3-contrib's RecurrentPPO instead (CartPole only): ``GRSNPolicy`` (grsn),
``LIFRecurrentPolicy`` (lif), ``MlpLstmPolicy`` (lstm) and PPO ``MlpPolicy`` (mlp), 8 envs.

Hyperparameters come from ``zoo_configs/recurrent_td3.yml``, ``zoo_configs/recurrent_dqn.yml`` and
``zoo_configs/recurrentppo.yml`` (read by ``sb3_spiking.zoo.load_entry``). Every ``--eval-every`` steps and at the
end: mean return of 10 deterministic episodes on a separate env, and the mean spike rate of the spiking cores during
them. Each run rewrites ``<out dir>/<env>_<core>_s<seed>.json`` after every evaluation (an interrupted benchmark
still leaves numbers); finished runs are appended to ``--out`` (JSON lines), and ``--report`` prints their table.
Steps/s leave the evaluations out.

    python bench/learn_pomdp.py --envs CartPole-P-v0 --cores grsn lif gru mlp --seeds 0 1 --jobs 2
    python bench/learn_pomdp.py --algo ppo --envs CartPole-P-v0 --cores grsn lif lstm mlp --seeds 0 1 2
    python bench/learn_pomdp.py --report
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from common import OUT, read_jsonl, run_grid
from evaluation import EvalCurve
from stable_baselines3 import DQN, PPO, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

import sb3_spiking  # noqa: F401  (registers the POMDP envs)
from sb3_spiking.zoo import ZooEntry, load_entry, parse_literal

ENVS = ("Pendulum-P-v0", "Pendulum-V-v0", "CartPole-P-v0", "CartPole-V-v0")
CORES = ("grsn", "lif", "gru", "lstm", "mlp")
PPO_POLICIES = {"grsn": "GRSNPolicy", "lif": "LIFRecurrentPolicy", "lstm": "MlpLstmPolicy"}
SEED_TABLE = {  # seed 003, Table 1 (5 seeds): mean, std
    "mlp": {"CartPole-V-v0": (21.6, 1.49), "CartPole-P-v0": (21.2, 1.95), "Pendulum-V-v0": (-1502.8, 61.09),
            "Pendulum-P-v0": (-1380.1, 47.45)},
    "gru": {"CartPole-V-v0": (200.0, 0.0), "CartPole-P-v0": (196.7, 6.30), "Pendulum-V-v0": (-181.3, 15.47),
            "Pendulum-P-v0": (-203.5, 16.36)},
    "lif": {"CartPole-V-v0": (200.0, 0.0), "CartPole-P-v0": (152.2, 21.21), "Pendulum-V-v0": (-942.4, 92.19),
            "Pendulum-P-v0": (-824.8, 178.80)},
    "grsn": {"CartPole-V-v0": (200.0, 0.0), "CartPole-P-v0": (199.9, 0.20), "Pendulum-V-v0": (-189.4, 17.64),
             "Pendulum-P-v0": (-195.8, 43.99)},
}  # fmt: skip


def zoo_algo(env_id: str, algo: str) -> str:
    """:return: the zoo config of ``env_id`` for ``--algo``"""
    if algo == "ppo":
        if not env_id.startswith("CartPole"):
            raise ValueError(f"--algo ppo runs the CartPole tasks only, got {env_id}")
        return "recurrentppo"
    return "recurrent_td3" if env_id.startswith("Pendulum") else "recurrent_dqn"


def build(entry: ZooEntry, core: str, seed: int, core_kwargs: dict[str, Any] | None) -> tuple[BaseAlgorithm, VecEnv]:
    """:return: the model of one run (the zoo entry with the core or policy of ``core``) and its evaluation env"""
    if core == "mlp" and entry.algo != "recurrentppo":  # the current observation only: no [a_(t-1), r_(t-1)] inputs
        entry = dataclasses.replace(entry, vec_env_wrapper=None)
    env = entry.make_env(seed=seed)
    policy_kwargs = dict(entry.kwargs["policy_kwargs"])
    if entry.algo == "recurrentppo" and core == "mlp":
        policy_kwargs = {key: policy_kwargs[key] for key in ("ortho_init", "net_arch", "activation_fn")}
        model = PPO(env=env, **{**entry.kwargs, "policy": "MlpPolicy", "policy_kwargs": policy_kwargs}, seed=seed)
    elif entry.algo == "recurrentppo":
        if core_kwargs:
            policy_kwargs["cell_kwargs"] = core_kwargs
        model = entry.make_model(env, policy=PPO_POLICIES[core], policy_kwargs=policy_kwargs, seed=seed)
    elif core == "mlp":  # SB3's TD3 / DQN
        kwargs = {key: value for key, value in entry.kwargs.items() if key not in ("seq_len", "burn_in")}
        kwargs.update(policy="MlpPolicy", policy_kwargs=dict(net_arch=[128, 128]), batch_size=256, seed=seed)
        if entry.algo == "recurrent_dqn":
            kwargs["target_update_interval"] = 1
        model = (TD3 if entry.algo == "recurrent_td3" else DQN)(env=env, **kwargs)
    else:
        config_core_kwargs = policy_kwargs.pop("core_kwargs", {})  # the spiking cores' settings
        if core_kwargs is None:
            core_kwargs = {} if core == "gru" else config_core_kwargs
        policy_kwargs.update(core=core, core_kwargs=core_kwargs)
        model = entry.make_model(env, policy_kwargs=policy_kwargs, seed=seed)
    return model, model._wrap_env(entry.make_env(n_envs=1, seed=10_000 + seed, training=False))


def run(
    env_id: str,
    core: str,
    seed: int,
    steps: int | None,
    eval_every: int,
    algo: str,
    core_kwargs: dict[str, Any] | None,
    out: str,
) -> dict[str, Any]:
    """Train one (env, core, seed), evaluating every ``eval_every`` steps and at the end."""
    if core == "lstm" and algo != "ppo":
        raise ValueError("core 'lstm' exists with --algo ppo only")
    entry = load_entry(zoo_algo(env_id, algo), env_id)
    model, eval_env = build(entry, core, seed, core_kwargs)
    steps = steps or entry.n_timesteps
    label = f"ppo-{core}" if algo == "ppo" else core
    if core_kwargs:
        label += "-" + "-".join(f"{key}{value}" for key, value in sorted(core_kwargs.items()))
    record: dict[str, Any] = {"env": env_id, "core": label, "seed": seed, "budget": steps}
    progress = Path(out) / f"{env_id}_{label}_s{seed}.json"
    curve = EvalCurve(eval_env, eval_every, n_eval_episodes=10, progress=progress, record=record)
    model.learn(steps, callback=curve)
    if not curve.curve or curve.curve[-1][0] != model.num_timesteps:
        curve.evaluate()
    final, speed = curve.curve[-1][1], curve.throughput()["steps_per_s"]
    print(f"{env_id} {label} seed {seed}: {final:.1f} ({speed:.1f} steps/s)", flush=True)
    return dict(record, curve=curve.curve, **curve.throughput())


def report(records: list[dict[str, Any]]) -> str:
    """Markdown table: final return (mean +/- std over seeds), throughput and the seed's Table 1 numbers."""
    lines = [
        "| env | core | seeds | env steps | final return, mean +/- std over seeds | steps/s | seed 003 |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["env"], r["core"]), []).append(r)
    for (env_id, core), runs in sorted(groups.items()):
        finals = [r["curve"][-1][1] for r in runs]
        steps = sorted({r["curve"][-1][0] for r in runs})
        # the seed's numbers are for its off-policy agents; "grsn-input_bias1.0" is a grsn run with core kwargs
        ref = ("-", "-") if core.startswith("ppo-") else SEED_TABLE.get(core.split("-")[0], {}).get(env_id, ("-", "-"))
        lines.append(
            f"| {env_id} | {core} | {len(runs)} | {'/'.join(map(str, steps))} "
            f"| {np.mean(finals):.1f} +/- {np.std(finals):.1f} ({', '.join(f'{f:.0f}' for f in finals)}) "
            f"| {np.mean([r['steps_per_s'] for r in runs]):.1f} | {ref[0]} +/- {ref[1]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    parser.add_argument("--cores", nargs="+", default=list(CORES), choices=CORES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the zoo budget)")
    parser.add_argument("--eval-every", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--algo", choices=("off-policy", "ppo"), default="off-policy")
    parser.add_argument("--core-kwargs", type=parse_literal, default=None, help="e.g. \"{'threshold': 0.25}\"")
    parser.add_argument("--out", type=Path, default=OUT / "learn_pomdp.jsonl", help="JSON lines of finished runs")
    parser.add_argument("--report", action="store_true", help="only print the table of the runs in --out")
    args = parser.parse_args()
    if not args.report:
        settings = dict(steps=args.steps, eval_every=args.eval_every, algo=args.algo, core_kwargs=args.core_kwargs)
        jobs = [
            dict(env_id=e, core=c, seed=s, **settings, out=str(args.out.parent / args.out.stem))
            for s in args.seeds
            for e in args.envs
            for c in args.cores
        ]
        run_grid(jobs, run, args.jobs, args.out)
    print(report([r for r in read_jsonl(args.out) if "error" not in r]))


if __name__ == "__main__":
    main()
