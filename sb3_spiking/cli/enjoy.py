"""Evaluate a trained agent (run folder, agent folder or hub repo id): mean +/- std return over N episodes.

``enjoy`` and ``evaluate`` are the same command. Examples::

    sb3-spiking evaluate logs/td3/Pendulum-v1_1 -n 10
    sb3-spiking enjoy logs/recurrent_td3/Pendulum-P-v0_1 --video videos/
    sb3-spiking evaluate --repo-id sb3-spiking/td3-SpikingPopPolicy-Pendulum-v1
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_spiking.validation import check_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``enjoy`` / ``evaluate`` parser"""
    parser.add_argument("folder", nargs="?", help="run folder <log>/<algo>/<env>_<n> or agent folder")
    parser.add_argument("--repo-id", help="load ORG/NAME from the Hugging Face Hub instead of a folder")
    parser.add_argument("--revision", help="hub revision (branch, tag or commit)")
    parser.add_argument("-n", "--n-episodes", type=int, default=10, help="evaluation episodes")
    parser.add_argument("--stochastic", action="store_true", help="sample actions (default: deterministic)")
    parser.add_argument("--deterministic", action="store_true", help="greedy actions (the default)")
    parser.add_argument("--checkpoint", default="latest", choices=["latest", "final", "best"],
                        help="model of a run folder: final else newest checkpoint (latest), final, best")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation env")
    parser.add_argument("--device", default="auto", help="torch device")
    parser.add_argument("--video", metavar="DIR", help="record the first episode to DIR (needs a working renderer)")
    parser.add_argument("--video-length", type=int, default=1000, help="frames to record")


def load(args: argparse.Namespace, render_mode: str | None = None) -> tuple[Any, Any]:
    """
    :param args: the parsed arguments
    :param render_mode: gymnasium ``render_mode`` of the env
    :return: the model and its evaluation env
    """
    if args.repo_id:
        from sb3_spiking.hub import load_from_hub

        env_kwargs = {"render_mode": render_mode} if render_mode else None
        return load_from_hub(args.repo_id, revision=args.revision, device=args.device, env_kwargs=env_kwargs)
    from sb3_spiking.cli.common import load_run

    return load_run(args.folder, device=args.device, seed=args.seed, checkpoint=args.checkpoint,
                    render_mode=render_mode)  # fmt: skip


def video_env(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """
    :param args: the parsed arguments (``--video DIR``)
    :return: the model and an env recording its first episode, or ``None`` (with the reason printed) when no
        renderer works here
    """
    from stable_baselines3.common.vec_env import VecVideoRecorder

    try:
        model, env = load(args, render_mode="rgb_array")
        env.reset()
        frame = env.render()
        if frame is None:
            raise RuntimeError("the env renders no rgb_array frames")
        recorder = VecVideoRecorder(env, args.video, record_video_trigger=lambda step: step == 0,
                                    video_length=args.video_length, name_prefix="replay")  # fmt: skip
    except Exception as error:  # no display, no GL context, pygame / moviepy missing, ...
        print(f"--video skipped: no working renderer here ({type(error).__name__}: {error})")
        return None
    return model, recorder


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: 0
    """
    if bool(args.folder) == bool(args.repo_id):
        raise ValueError("give either a FOLDER or --repo-id ORG/NAME")
    check_int("n_episodes", args.n_episodes, minimum=1)
    if args.stochastic and args.deterministic:
        raise ValueError("--stochastic and --deterministic exclude each other")
    if args.folder and not Path(args.folder).is_dir():
        raise FileNotFoundError(f"folder {args.folder!r} does not exist")
    loaded = video_env(args) if args.video else None
    model, env = loaded if loaded is not None else load(args)
    returns, lengths = evaluate_policy(model, env, n_eval_episodes=args.n_episodes,
                                       deterministic=not args.stochastic, return_episode_rewards=True)  # fmt: skip
    env.close()
    mean, std = float(np.mean(returns)), float(np.std(returns))
    name = args.repo_id or args.folder
    print(f"{name}: mean return {mean:.2f} +/- {std:.2f} over {args.n_episodes} episodes "
          f"(mean length {np.mean(lengths):.1f}, {'stochastic' if args.stochastic else 'deterministic'})")  # fmt: skip
    if loaded is not None:
        print(f"video written to {args.video}")
    return 0
