"""
Update cost of the recurrent off-policy agents with GRSN / LIF cores next to torch's GRU (spec 04 "Cost", spec 08).

1. Core alone: forward+backward of one recurrent layer over 64 steps (batch 32 sequences, input 48, hidden 128),
   and the no-grad forward, median of ``--reps`` repetitions.
2. One gradient step (``train(1, 32)``) of RecurrentTD3 on Pendulum-P-v0 and RecurrentDQN on CartPole-P-v0 with the
   spec 04 defaults (32 sequences x 64 steps), after filling the buffer with random steps; median ms per update
   and the implied env steps/s at one update per env step. Cores alternate inside one process, one thread.

    python bench/recurrent_update_speed.py --reps 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import sb3_spiking
from sb3_spiking.snn.cores import make_core

CORES = ("grsn", "lif", "gru")


def median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def core_table(reps: int) -> None:
    x = torch.randn(64, 32, 48)
    print("| core | fwd+bwd (ms) | fwd, no grad (ms) |\n|---|---|---|")
    cores = {name: make_core(name, 48, 128) for name in CORES}
    results = {name: [] for name in CORES}
    for _ in range(3):  # alternate to spread machine load evenly
        for name, core in cores.items():

            def no_grad(core: torch.nn.Module = core) -> None:
                with torch.no_grad():
                    core(x)

            results[name].append(
                (median_ms(lambda core=core: core(x)[0].sum().backward(), reps), median_ms(no_grad, reps))
            )
    for name, rows in results.items():
        print(f"| {name} | {min(r[0] for r in rows):.1f} | {min(r[1] for r in rows):.1f} |")


def update_table(reps: int) -> None:
    print("\n| algorithm | env | core | update (ms) | env steps/s at 1 update/step |\n|---|---|---|---|---|")
    for cls, env_id in ((sb3_spiking.RecurrentTD3, "Pendulum-P-v0"), (sb3_spiking.RecurrentDQN, "CartPole-P-v0")):
        models = {}
        for core in CORES:
            model = cls("GRSNPolicy", env_id, learning_starts=400, policy_kwargs=dict(core=core), seed=0)
            model.learn(400)
            models[core] = model
        results = {core: [] for core in CORES}
        for _ in range(3):
            for core, model in models.items():
                results[core].append(median_ms(lambda model=model: model.train(1, 32), reps))
        for core in CORES:
            ms = min(results[core])
            print(f"| {cls.__name__} | {env_id} | {core} | {ms:.1f} | {1e3 / ms:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)\n")
    core_table(args.reps)
    update_table(args.reps)


if __name__ == "__main__":
    main()
