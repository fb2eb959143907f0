"""
Pop-SAN actor kernel speed (spec 08, item 1): forward+backward of the spiking actor at batch 100 and 256 and
single-observation inference, next to the 17-256-256-6 ReLU MLP actor; same process, same thread count,
median of many repetitions after warm-up, measured in alternating rounds.

    python bench/popsan_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from sb3_spiking.policies.popsan import PopSpikingNetwork

OBS, ACT = 17, 6


def median_ms(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    spiking = PopSpikingNetwork(OBS, ACT).to(device)
    mlp = nn.Sequential(nn.Linear(OBS, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, ACT)).to(device)
    actors = {"mlp": lambda x: torch.tanh(mlp(x)), "popsan": lambda x: torch.tanh(spiking(x))}

    def train_step(actor: Callable, x: torch.Tensor) -> Callable[[], None]:
        def step() -> None:
            actor(x).sum().backward()
            sync()

        return step

    def infer(actor: Callable, x: torch.Tensor) -> Callable[[], None]:
        def step() -> None:
            with torch.inference_mode():
                actor(x)
            sync()

        return step

    cases = {}
    for batch in (100, 256):
        x = (torch.randn(batch, OBS, device=device)).clamp(-3, 3)
        cases[f"fwd+bwd, batch {batch}"] = {name: train_step(a, x) for name, a in actors.items()}
    x1 = torch.randn(1, OBS, device=device)
    cases["inference, batch 1"] = {name: infer(a, x1) for name, a in actors.items()}
    results: dict[str, dict[str, list[float]]] = {case: {"mlp": [], "popsan": []} for case in cases}
    for fns in cases.values():
        for fn in fns.values():
            median_ms(fn, 10)
    for _ in range(args.rounds):
        for case, fns in cases.items():
            for name, fn in fns.items():
                results[case][name].append(median_ms(fn, args.reps))
    print(f"device {device}, torch {torch.__version__}, {args.threads} thread(s), median of {args.rounds} rounds")
    print("| what | MLP actor (ms) | Pop-SAN actor (ms) | ratio |")
    print("|---|---|---|---|")
    for case, times in results.items():
        mlp_ms, pop_ms = statistics.median(times["mlp"]), statistics.median(times["popsan"])
        print(f"| {case} | {mlp_ms:.3f} | {pop_ms:.3f} | {pop_ms / mlp_ms:.1f}x |")


if __name__ == "__main__":
    main()
