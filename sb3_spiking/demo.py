"""The README's main job: train a spiking TD3 agent briefly, then evaluate shipped pretrained ones (a Pop-SAN
HalfCheetah-v5 agent and a Pendulum-v1 agent).

Run with ``python -m sb3_spiking.demo [--steps N] [--episodes N]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from stable_baselines3 import TD3
from stable_baselines3.common.evaluation import evaluate_policy

import sb3_spiking  # noqa: F401  (registers "SpikingPopPolicy")
from sb3_spiking.hub import load_local
from sb3_spiking.resources import data_dir

PRETRAINED = [
    data_dir("trained_agents") / name
    for name in ("td3-SpikingPopPolicy-HalfCheetah-v5", "td3-SpikingPopPolicy-Pendulum-v1")
]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    """
    :param argv: command-line arguments (``--steps``, ``--episodes``, ``--seed``, ``--pretrained FOLDER ...``)
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=_positive, default=3000, help="training steps of the short run")
    parser.add_argument("--episodes", type=_positive, default=5, help="evaluation episodes (at least 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrained", type=Path, nargs="+", default=PRETRAINED, help="agent folders (hub layout)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # these networks are small: one thread is fastest, and immune to a busy machine

    print(f"== Training TD3 + SpikingPopPolicy (trapezoidal surrogate) on Pendulum-v1 for {args.steps} steps")
    model = TD3(
        "SpikingPopPolicy",
        "Pendulum-v1",
        learning_starts=1000,
        policy_kwargs=dict(surrogate="trapezoidal", hidden_sizes=[64, 64], net_arch=[64, 64]),
        seed=args.seed,
    )
    model.learn(args.steps, progress_bar=True)
    mean, std = evaluate_policy(model, model.get_env(), n_eval_episodes=args.episodes, deterministic=True)
    print(f"   briefly trained agent: mean return {mean:.1f} +/- {std:.1f} over {args.episodes} episodes")

    for folder in args.pretrained:
        print(f"== Evaluating the pretrained agent in {folder}")
        agent, env = load_local(folder, seed=args.seed)
        mean, std = evaluate_policy(agent, env, n_eval_episodes=args.episodes, deterministic=True)
        print(f"   pretrained agent: mean return {mean:.1f} +/- {std:.1f} over {args.episodes} episodes")


if __name__ == "__main__":
    main()
