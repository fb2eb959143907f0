"""
End-to-end TD3 training throughput (spec 08, item 2): env steps per second on HalfCheetah-v5 with
``SpikingPopPolicy`` vs ``MlpPolicy`` (actor [256, 256]), critic [256, 256], batch 100, one gradient step per
env step after ``learning_starts``; runs alternate in one process (same seed), median over rounds.

    python bench/popsan_td3_throughput.py --rounds 3 --steps 300
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from stable_baselines3 import TD3

import sb3_spiking  # noqa: F401  (registers SpikingPopPolicy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="SpikingPopPolicy with compile_network=True")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spiking_kwargs = dict(net_arch=[256, 256], hidden_sizes=[256, 256], compile_network=args.compile)
    models = {
        "mlp": TD3("MlpPolicy", args.env, policy_kwargs=dict(net_arch=[256, 256]), **common(args)),
        "popsan": TD3("SpikingPopPolicy", args.env, policy_kwargs=spiking_kwargs, **common(args)),
    }
    for model in models.values():
        model.learn(200)  # fill past learning_starts, compile if asked
    speeds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.learn(args.steps, reset_num_timesteps=False)
            speeds[name].append(args.steps / (time.perf_counter() - start))
    mlp, pop = statistics.median(speeds["mlp"]), statistics.median(speeds["popsan"])
    print(f"{args.env}, device {args.device}, {args.threads} thread(s), {args.rounds} rounds of {args.steps} steps")
    print("| policy | env steps/s (median) | per round |")
    print("|---|---|---|")
    for name, values in speeds.items():
        print(f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    print(f"ratio SpikingPopPolicy / MlpPolicy: {pop / mlp:.2f}x")


def common(args: argparse.Namespace) -> dict:
    return dict(learning_starts=100, batch_size=100, train_freq=1, gradient_steps=1, seed=0, device=args.device)


if __name__ == "__main__":
    main()
