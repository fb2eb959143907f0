"""
Learning check: TD3 + SpikingPopPolicy (one variant per surrogate) next to TD3 + MlpPolicy on Pendulum-v1.

Hyperparameters come from ``zoo_configs/td3.yml`` (Pendulum-v1 entry); the MLP baseline uses the same
settings with ``MlpPolicy`` and ``net_arch=[256, 256]``. Every ``--eval-every`` steps: mean return of 10
deterministic episodes on a separate env sharing the VecNormalize statistics. Each run writes
``bench/out/pendulum/<variant>_s<seed>/{progress.json, model.zip, vecnormalize.pkl}`` as it goes, so an
interrupted benchmark still leaves numbers; ``--report`` prints the table from whatever is there.

    python bench/learn_pendulum.py --seeds 0 1 2 --steps 30000 --jobs 1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecNormalize

import sb3_spiking  # noqa: F401  (registers SpikingPopPolicy)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "pendulum"
ENV_ID = "Pendulum-v1"


def hyperparameters() -> dict[str, Any]:
    config = dict(yaml.safe_load((ROOT / "zoo_configs" / "td3.yml").read_text())[ENV_ID])
    config["policy_kwargs"] = eval(config["policy_kwargs"], {"dict": dict})  # zoo convention: a Python literal
    config["normalize"] = eval(config["normalize"], {})
    return config


class EvalCallback(BaseCallback):
    """Deterministic evaluation every ``every`` steps; times the training steps after ``learning_starts``."""

    def __init__(self, eval_env: VecNormalize, every: int, episodes: int, record: dict[str, Any], path: Path) -> None:
        super().__init__()
        self.eval_env, self.every, self.episodes, self.record, self.path = eval_env, every, episodes, record, path
        self.eval_time = 0.0
        self.train_start: float | None = None

    def _on_step(self) -> bool:
        if self.num_timesteps == self.model.learning_starts:
            self.train_start, self.eval_time = time.perf_counter(), 0.0
        if self.num_timesteps % self.every == 0:
            start = time.perf_counter()
            self.eval_env.obs_rms = self.model.get_env().obs_rms.copy()
            mean, std = evaluate_policy(self.model, self.eval_env, self.episodes, deterministic=True)
            self.eval_time += time.perf_counter() - start
            self.record["evals"][str(self.num_timesteps)] = [float(mean), float(std)]
            self.path.write_text(json.dumps(self.record, indent=1))
        return True


def run(variant: str, seed: int, steps: int, every: int, episodes: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    config = hyperparameters()
    config.pop("n_timesteps")
    normalize = config.pop("normalize")
    noise_std = config.pop("noise_std")
    config.pop("noise_type")
    policy_kwargs = config.pop("policy_kwargs")
    if variant == "mlp":
        policy, policy_kwargs = "MlpPolicy", dict(net_arch=policy_kwargs["net_arch"])
    else:
        policy, policy_kwargs = "SpikingPopPolicy", {**policy_kwargs, "surrogate": variant.removeprefix("popsan_")}
    config.pop("policy")
    env = VecNormalize(make_vec_env(ENV_ID, 1, seed=seed), **normalize)
    eval_env = VecNormalize(make_vec_env(ENV_ID, 1, seed=seed + 1000), training=False, **normalize)
    model = TD3(
        policy,
        env,
        action_noise=NormalActionNoise(np.zeros(1), noise_std * np.ones(1)),
        policy_kwargs=policy_kwargs,
        seed=seed,
        **config,
    )
    out = OUT / f"{variant}_s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = dict(variant=variant, seed=seed, policy=policy, policy_kwargs=policy_kwargs, evals={})
    callback = EvalCallback(eval_env, every, episodes, record, out / "progress.json")
    model.learn(steps, callback=callback)
    if callback.train_start is not None:
        train_time = time.perf_counter() - callback.train_start - callback.eval_time
        record["steps_per_s"] = (steps - model.learning_starts) / train_time
    (out / "progress.json").write_text(json.dumps(record, indent=1))
    model.save(out / "model.zip")
    env.save(str(out / "vecnormalize.pkl"))
    print(f"done {variant} seed {seed}: {record}", flush=True)
    return record


def report(variants: list[str], seeds: list[int], every: int, steps: int) -> str:
    checkpoints = [str(s) for s in range(every, steps + 1, every)]
    lines = [
        "| variant | seeds | " + " | ".join(f"return @ {int(c) // 1000}k" for c in checkpoints) + " | train steps/s |",
        "|---" * (len(checkpoints) + 3) + "|",
    ]
    for variant in variants:
        records = []
        for seed in seeds:
            path = OUT / f"{variant}_s{seed}" / "progress.json"
            if path.exists():
                records.append(json.loads(path.read_text()))
        cells = []
        for c in checkpoints:
            values = [r["evals"][c][0] for r in records if c in r["evals"]]
            cells.append(
                f"{np.mean(values):.0f} +- {np.std(values):.0f} (min {min(values):.0f}, n={len(values)})"
                if values
                else "-"
            )
        speeds = [r["steps_per_s"] for r in records if "steps_per_s" in r]
        speed = f"{np.mean(speeds):.1f}" if speeds else "-"
        lines.append(f"| {variant} | {len(records)} | " + " | ".join(cells) + f" | {speed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--surrogates", nargs="+", default=["rectangular", "triangular", "trapezoidal"])
    parser.add_argument("--no-mlp", action="store_true", help="skip the MlpPolicy baseline")
    parser.add_argument("--eval-every", type=int, default=10000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only print the table from saved progress")
    args = parser.parse_args()
    variants = [f"popsan_{s}" for s in args.surrogates] + ([] if args.no_mlp else ["mlp"])
    if not args.report:
        jobs = [(v, s, args.steps, args.eval_every, args.episodes) for s in args.seeds for v in variants]
        print(f"{len(jobs)} runs, {args.jobs} at a time; hyperparameters {hyperparameters()}", flush=True)
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            pool.starmap(run, jobs, chunksize=1)
    print(report(variants, args.seeds, args.eval_every, args.steps))


if __name__ == "__main__":
    main()
