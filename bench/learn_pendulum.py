"""
Learning check: TD3 + SpikingPopPolicy (one variant per surrogate) next to TD3 + MlpPolicy on Pendulum-v1.

Hyperparameters come from ``zoo_configs/td3.yml`` (Pendulum-v1 entry, read by ``sb3_spiking.zoo.load_entry``); the
MLP baseline uses the same settings with ``MlpPolicy`` and the entry's ``net_arch``. Every ``--eval-every`` steps:
mean return of ``--episodes`` deterministic episodes on a separate env sharing the VecNormalize statistics. Each run
rewrites ``<out dir>/<variant>_s<seed>/progress.json`` after every evaluation (an interrupted benchmark still leaves
numbers) and saves ``model.zip`` and ``vecnormalize.pkl`` there at the end; finished runs are appended to ``--out``
(JSON lines), and ``--report`` prints the table of the runs recorded there.

    python bench/learn_pendulum.py --seeds 0 1 2 --steps 30000 --jobs 1
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from common import OUT, read_jsonl, run_grid
from evaluation import EvalCurve

from sb3_spiking.zoo import load_entry

ENV_ID = "Pendulum-v1"


def run(variant: str, seed: int, steps: int, eval_every: int, episodes: int, out: str) -> dict[str, Any]:
    """Train one variant (``popsan_<surrogate>`` or ``mlp``) for ``steps`` env steps."""
    entry = load_entry("td3", ENV_ID)
    policy_kwargs = entry.kwargs["policy_kwargs"]
    if variant == "mlp":
        policy, policy_kwargs = "MlpPolicy", dict(net_arch=policy_kwargs["net_arch"])
    else:
        policy, policy_kwargs = "SpikingPopPolicy", {**policy_kwargs, "surrogate": variant.removeprefix("popsan_")}
    env = entry.make_env(seed=seed)
    model = entry.make_model(env, policy=policy, policy_kwargs=policy_kwargs, seed=seed)
    run_dir = Path(out) / f"{variant}_s{seed}"
    record: dict[str, Any] = dict(variant=variant, seed=seed, policy=policy, policy_kwargs=policy_kwargs)
    eval_env = model._wrap_env(entry.make_env(seed=seed + 1000, training=False))
    curve = EvalCurve(eval_env, eval_every, episodes, progress=run_dir / "progress.json", record=record)
    model.learn(steps, callback=curve)
    model.save(run_dir / "model.zip")
    env.save(str(run_dir / "vecnormalize.pkl"))
    return dict(record, steps=steps, curve=curve.curve, **curve.throughput())


def report(records: list[dict[str, Any]], variants: list[str], every: int, steps: int) -> str:
    """Markdown table: mean +- std over seeds of the return at every evaluation, and the throughput."""
    checkpoints = list(range(every, steps + 1, every))
    lines = [
        "| variant | seeds | " + " | ".join(f"return @ {c // 1000}k" for c in checkpoints) + " | env steps/s |",
        "|---" * (len(checkpoints) + 3) + "|",
    ]
    for variant in variants:
        runs = [r for r in records if r["variant"] == variant]
        cells = []
        for c in checkpoints:
            values = [point[1] for r in runs for point in r["curve"] if point[0] == c]
            cells.append(
                f"{np.mean(values):.0f} +- {np.std(values):.0f} (min {min(values):.0f}, n={len(values)})"
                if values
                else "-"
            )
        speed = f"{np.mean([r['steps_per_s'] for r in runs]):.1f}" if runs else "-"
        lines.append(f"| {variant} | {len(runs)} | " + " | ".join(cells) + f" | {speed} |")
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
    parser.add_argument("--out", type=Path, default=OUT / "learn_pendulum.jsonl", help="JSON lines of finished runs")
    parser.add_argument("--report", action="store_true", help="only print the table of the runs in --out")
    args = parser.parse_args()
    variants = [f"popsan_{s}" for s in args.surrogates] + ([] if args.no_mlp else ["mlp"])
    if not args.report:
        settings = dict(steps=args.steps, eval_every=args.eval_every, episodes=args.episodes)
        jobs = [
            dict(variant=v, seed=s, **settings, out=str(args.out.parent / args.out.stem))
            for s in args.seeds
            for v in variants
        ]
        run_grid(jobs, run, args.jobs, args.out)
    records = [r for r in read_jsonl(args.out) if "error" not in r and r["seed"] in args.seeds]
    print(report(records, variants, args.eval_every, args.steps))


if __name__ == "__main__":
    main()
