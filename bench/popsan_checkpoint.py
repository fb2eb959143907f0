"""
Return of the imported original Pop-SAN HalfCheetah-v3 checkpoint on HalfCheetah-v5 (1000-step episodes,
deterministic encoder, the checkpoint's own observation statistics). Expected: about 9,900 per episode.

    python bench/popsan_checkpoint.py --episodes 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from evaluation import evaluate

from sb3_spiking.policies.popsan import load_popsan_checkpoint

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "popsan_halfcheetah_v3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, venv = load_popsan_checkpoint(
        args.fixture / "model0_e100.pt", args.fixture / "model0_e100_mean_var.p", "HalfCheetah-v5"
    )
    returns = []
    for seed in range(args.episodes):
        venv.seed(seed)  # the seed of the episode that evaluate() starts with a reset
        start = time.perf_counter()
        result = evaluate(model, venv, 1)
        total, steps = result["mean_return"], int(result["mean_length"])
        returns.append(total)
        rate = steps / (time.perf_counter() - start)
        print(f"seed {seed}: return {total:.1f} over {steps} steps, {rate:.0f} env steps/s")
    print(f"mean return {np.mean(returns):.1f} +- {np.std(returns):.1f} over {len(returns)} episodes")


if __name__ == "__main__":
    main()
