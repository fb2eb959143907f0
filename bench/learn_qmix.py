"""Learning curves of QMIX with gru / grsn / lif / mlp agents on MPE (benchmark, not CI).

Each run trains ``QMIX(agent, env, seed=seed, **zoo_configs/qmix.yml[env])`` for ``--steps`` env steps on one
thread, evaluates the greedy policy every ``--eval-freq`` steps and at the end, and estimates the energy per
agent decision with ``sb3_spiking.energy.estimate`` (seed 003 section 5.4: 4.6 pJ per multiply-accumulate on
real-valued inputs, 0.9 pJ per synaptic operation = spike x fan-out). Results are written as runs finish:

- ``<out>/runs/<env>_<agent>_<seed>.json`` (finished runs are skipped when the script is started again),
- ``<out>/<env>_curves.csv`` (step, greedy eval team return, training return of the last 100 episodes),
- ``<out>/<env>_summary.md`` (final team return mean +/- std over seeds, env steps/s, energy per decision),
- ``<out>/<env>_curves.png`` when matplotlib is installed.

Example (2-core CPU)::

    nice -n 10 nohup python bench/learn_qmix.py --agents gru grsn lif mlp --seeds 0 1 2 --steps 50000 \
        > bench/out/learn_qmix.log 2>&1 &
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from common import run_grid
from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.energy import estimate
from sb3_spiking.marl import QMIX
from sb3_spiking.zoo import parse_literal

ROOT = Path(__file__).resolve().parents[1]


def load_config(conf: Path, env_name: str) -> dict[str, Any]:
    """:return: the config entry of ``env_name`` with its Python-literal strings parsed (never eval()-ed)"""
    entry = dict(yaml.safe_load(conf.read_text())[env_name])
    for key in ("agent_kwargs", "mixer_kwargs", "optimizer_kwargs"):
        if isinstance(entry.get(key), str):
            entry[key] = parse_literal(entry[key])  # zoo convention: "dict(...)" strings, plain values
    return entry


def make_env(config: dict[str, Any]) -> Any:
    return importlib.import_module(config["env_module"]).parallel_env(**config["env_kwargs"])


def evaluate(model: QMIX, env: Any, n_episodes: int, seed: int) -> tuple[float, float]:
    """:return: mean team return of the greedy policy and the mean firing rate of the core (nan if not spiking)"""
    rates: list[float] = []
    hook = None
    if model.agent in ("grsn", "lif"):
        hook = model.agent_net.core.register_forward_hook(lambda _m, _i, out: rates.append(out[0].mean().item()))
    returns = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed + episode)
        state, total, start = None, 0.0, True
        while env.agents:
            actions, state = model.predict(obs, state, episode_start=start, agents=env.agents)
            obs, rewards, *_ = env.step(actions)
            total += sum(rewards.values())
            start = False
        returns.append(total)
    if hook is not None:
        hook.remove()
    return float(np.mean(returns)), float(np.mean(rates)) if rates else float("nan")


def random_return(config: dict[str, Any], n_episodes: int, seed: int) -> float:
    env = make_env(config)
    rng = np.random.default_rng(seed)
    returns = []
    for episode in range(n_episodes):
        env.reset(seed=seed * 1000 + episode)
        total = 0.0
        while env.agents:
            _, rewards, *_ = env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})
            total += sum(rewards.values())
        returns.append(total)
    return float(np.mean(returns))


class EvalCurve(BaseCallback):
    """Greedy evaluation every ``eval_freq`` env steps; evaluation time is excluded from the training time."""

    def __init__(self, env: Any, eval_freq: int, n_episodes: int, seed: int) -> None:
        super().__init__()
        self.env, self.eval_freq, self.n_episodes, self.seed = env, eval_freq, n_episodes, seed
        self.rows: list[dict[str, float]] = []
        self.eval_seconds = 0.0

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_freq == 0:
            start = time.perf_counter()
            eval_return, _ = evaluate(self.model, self.env, self.n_episodes, self.seed)
            self.eval_seconds += time.perf_counter() - start
            train = [ep["r"] for ep in self.model.ep_info_buffer]
            self.rows.append(
                {"step": self.num_timesteps, "eval_return": eval_return, "train_return": float(np.mean(train))}
            )
        return True


def run(
    env_name: str, agent: str, seed: int, steps: int, eval_freq: int, eval_episodes: int, conf: str, out: str
) -> dict[str, Any]:
    config = load_config(Path(conf), env_name)
    hyper = {k: v for k, v in config.items() if k not in ("env_module", "env_kwargs", "n_timesteps", "agent")}
    model = QMIX(agent, make_env(config), seed=seed, device="cpu", **hyper)
    curve = EvalCurve(make_env(config), eval_freq, eval_episodes, seed=10_000 * (seed + 1))
    start = time.perf_counter()
    model.learn(steps, callback=curve, log_interval=None)
    train_seconds = time.perf_counter() - start - curve.eval_seconds
    final_return, rate = evaluate(model, make_env(config), 100, seed=10_000 * (seed + 1) + 500)
    energy = estimate(model, make_env(config), n_decisions=1024, seed=10_000 * (seed + 1) + 500)
    result = {
        "env": env_name,
        "agent": agent,
        "seed": seed,
        "steps": model.num_timesteps,
        "final_return": final_return,
        "steps_per_s": model.num_timesteps / train_seconds,
        "firing_rate": rate,
        "macs": energy.macs,
        "sops": energy.sops,
        "energy_pj": energy.energy_pj,
        "curve": curve.rows,
    }
    path = Path(out) / "runs" / f"{env_name}_{agent}_{seed}.json"
    path.write_text(json.dumps(result, indent=1))
    return result


def summarise(out: Path, env_name: str, agents: list[str], random_mean: float, random_std: float, cmd: str) -> str:
    results = [json.loads(p.read_text()) for p in sorted((out / "runs").glob(f"{env_name}_*.json"))]
    with open(out / f"{env_name}_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env", "agent", "seed", "step", "eval_return", "train_return"])
        for r in results:
            for row in r["curve"]:
                writer.writerow([env_name, r["agent"], r["seed"], row["step"], row["eval_return"], row["train_return"]])
    lines = [
        f"`{cmd}`",
        "",
        "| agent | seeds | steps | final team return (greedy, 100 ep.) | env steps/s | firing rate | "
        "MACs / SOPs per decision | energy per decision (pJ) |",
        "|---|---|---|---|---|---|---|---|",
        f"| random | 3 | - | {random_mean:.1f} +/- {random_std:.1f} | - | - | - | - |",
    ]
    for agent in agents:
        rs = [r for r in results if r["agent"] == agent]
        if not rs:
            continue
        finals = np.array([r["final_return"] for r in rs])
        rate = np.mean([r["firing_rate"] for r in rs])
        lines.append(
            f"| {agent} | {len(rs)} | {rs[0]['steps']} | {finals.mean():.1f} +/- {finals.std():.1f} "
            f"| {np.mean([r['steps_per_s'] for r in rs]):.0f} | {'-' if np.isnan(rate) else f'{rate:.3f}'} "
            f"| {np.mean([r['macs'] for r in rs]):.0f} / {np.mean([r['sops'] for r in rs]):.0f} "
            f"| {np.mean([r['energy_pj'] for r in rs]):.0f} |"
        )
    table = "\n".join(lines)
    (out / f"{env_name}_summary.md").write_text(table + "\n")
    plot(results, out / f"{env_name}_curves.png", env_name, random_mean)
    return table


def plot(results: list[dict[str, Any]], path: Path, env_name: str, random_mean: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for agent in sorted({r["agent"] for r in results}):
        curves = [r["curve"] for r in results if r["agent"] == agent]
        n = min(len(c) for c in curves)
        steps = [row["step"] for row in curves[0][:n]]
        values = np.array([[row["eval_return"] for row in c[:n]] for c in curves])
        ax.plot(steps, values.mean(0), label=f"{agent} ({len(curves)} seeds)")
        ax.fill_between(steps, values.mean(0) - values.std(0), values.mean(0) + values.std(0), alpha=0.2)
    ax.axhline(random_mean, color="k", ls="--", label="random")
    ax.set(xlabel="env steps", ylabel="greedy team return", title=f"QMIX on {env_name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="simple_spread_v3")
    parser.add_argument("--agents", nargs="+", default=["gru", "grsn", "lif", "mlp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--eval-freq", type=int, default=5000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--conf", default=str(ROOT / "zoo_configs" / "qmix.yml"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "qmix"))
    parser.add_argument("--summary-only", action="store_true", help="only rebuild table and CSV from finished runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    cmd = "python bench/learn_qmix.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k not in ("conf", "out", "summary_only")
    )
    config = load_config(Path(args.conf), args.env)
    randoms = [random_return(config, 100, seed) for seed in range(3)]
    random_mean, random_std = float(np.mean(randoms)), float(np.std(randoms))
    print(f"random policy on {args.env}: {random_mean:.1f} +/- {random_std:.1f} (3 x 100 episodes)", flush=True)
    settings = dict(steps=args.steps, eval_freq=args.eval_freq, eval_episodes=args.eval_episodes, conf=args.conf)
    tasks = [
        dict(env_name=args.env, agent=agent, seed=seed, **settings, out=str(out))
        for seed in args.seeds
        for agent in args.agents
        if not args.summary_only and not (out / "runs" / f"{args.env}_{agent}_{seed}.json").exists()
    ]
    run_grid(tasks, run, args.jobs, out / "runs.jsonl")  # each finished run also writes <out>/runs/<run>.json
    print(summarise(out, args.env, args.agents, random_mean, random_std, cmd), flush=True)


if __name__ == "__main__":
    main()
