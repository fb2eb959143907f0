"""Train an agent from a zoo config (rl_zoo3 run folder: model, config.yml, evaluations.npz, checkpoints).

SB3, sb3-contrib and our single-agent algorithms go through rl_zoo3's ``ExperimentManager``
(:class:`~sb3_spiking.cli.manager.SpikingExperimentManager`); QMIX on PettingZoo through
:mod:`sb3_spiking.cli.qmix_run`, in the same folder layout. Examples::

    sb3-spiking train --algo td3 --env Pendulum-v1 -n 20000 --hyperparams policy_kwargs.surrogate:trapezoidal
    sb3-spiking train --algo qmix --env mpe2:simple_spread_v3 --env-kwargs N:3 max_cycles:25
    sb3-spiking train --resume logs/td3/Pendulum-v1_1
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sb3_spiking.cli.common import (
    StoreOverrides,
    config_name,
    find_run,
    register_algorithms,
    suggest,
    zoo_name,
)
from sb3_spiking.resources import data_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``train`` parser (option names as rl_zoo3's ``train.py``)"""
    parser.add_argument("--algo", help="algorithm (td3, ddpg, sac, dqn, ddqn, recurrentppo, recurrent_td3, "
                        "recurrent_dqn, qmix, or any rl_zoo3 algorithm with --conf-file)")  # fmt: skip
    parser.add_argument("--env", help="gymnasium id, or for qmix a PettingZoo env (mpe2:simple_spread_v3)")
    parser.add_argument("-conf", "--conf-file", "--conf", dest="conf_file", help="zoo YAML file "
                        "(default: the package's zoo_configs/<algo>.yml)")  # fmt: skip
    parser.add_argument("-n", "--n-timesteps", type=int, default=-1, help="env steps (default: the config's)")
    parser.add_argument("--seed", type=int, default=-1, help="random seed (negative: a random one)")
    parser.add_argument("-f", "--log-folder", default="logs", help="root of the run folders")
    parser.add_argument("--eval-freq", type=int, default=25000, help="evaluate every N env steps (<= 0: never)")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    parser.add_argument("--save-freq", type=int, default=-1, help="checkpoint every N env steps, with the replay "
                        "buffer and VecNormalize statistics (<= 0: none)")  # fmt: skip
    parser.add_argument("--save-replay-buffer", action="store_true", help="save the replay buffer at the end")
    parser.add_argument("-params", "--hyperparams", nargs="+", action=StoreOverrides, default={}, metavar="KEY:VALUE",
                        help="override config values; a dotted key changes one key inside a dict "
                        "(policy_kwargs.surrogate:trapezoidal keeps the rest of policy_kwargs)")  # fmt: skip
    parser.add_argument("--env-kwargs", nargs="+", action=StoreOverrides, default=None, metavar="KEY:VALUE",
                        help="keyword arguments of the env constructor")  # fmt: skip
    parser.add_argument("--device", default="auto", help="torch device (cpu, cuda, auto)")
    parser.add_argument("-P", "--progress", action="store_true", help="show a progress bar")
    parser.add_argument("-i", "--trained-agent", default="", help="continue this model zip in a new run folder "
                        "(its replay buffer too when saved next to it); num_timesteps keeps counting")  # fmt: skip
    parser.add_argument("--resume", metavar="RUN_FOLDER", help="continue an interrupted run in its own folder from "
                        "its newest model or checkpoint up to its step budget (or -n)")  # fmt: skip
    parser.add_argument("-tb", "--tensorboard-log", default="", help="TensorBoard log folder")
    parser.add_argument("--num-threads", type=int, default=-1, help="torch threads (-1: torch's default)")
    parser.add_argument("--log-interval", type=int, default=-1, help="log every N episodes/rollouts (-1: default)")
    parser.add_argument("--gym-packages", nargs="+", default=["sb3_spiking"], help="modules that register envs")
    parser.add_argument("--vec-env", default="dummy", choices=["dummy", "subproc"], help="VecEnv type")
    parser.add_argument("--verbose", type=int, default=1, help="0: quiet, 1: info")


def default_conf_file(algo: str) -> Path:
    """
    :param algo: algorithm name
    :return: ``zoo_configs/<algo>.yml`` of the package
    """
    path = data_dir("zoo_configs") / f"{config_name(algo)}.yml"
    if not path.is_file():
        available = sorted(p.stem for p in data_dir("zoo_configs").glob("*.yml"))
        raise ValueError(f"no zoo config for algorithm {algo!r} ({path} is missing): pass --conf-file; "
                         f"configs: {available}")  # fmt: skip
    return path


def check_env(env_id: str, conf_file: Path) -> None:
    """
    :param env_id: a gymnasium id
    :param conf_file: the config file, whose entries are named when the id is unknown
    """
    if env_id in gym.envs.registry:
        return
    import yaml

    entries = sorted(yaml.safe_load(conf_file.read_text()) or {})
    raise ValueError(f"unknown env id {env_id!r}{suggest(env_id, list(gym.envs.registry))[:-1]}; "
                     f"entries of {str(conf_file)!r}: {entries}")  # fmt: skip


def resume_arguments(args: argparse.Namespace) -> tuple[argparse.Namespace, Any]:
    """
    The arguments of the run named by ``--resume``, with the step budget of this call.

    :param args: this call's arguments
    :return: the run's saved arguments (``-n`` replaced when given) and the run
    """
    run = find_run(args.resume)
    saved = argparse.Namespace(**{**vars(args), **run.args})
    saved.resume, saved.trained_agent = args.resume, ""
    saved.progress, saved.verbose, saved.device = args.progress, args.verbose, args.device
    if args.n_timesteps > 0:
        saved.n_timesteps = args.n_timesteps
    return saved, run


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: 0 when the run finished (or was finished already)
    """
    run_folder = None
    if args.resume:
        args, run_folder = resume_arguments(args)
    if not args.algo or not args.env:
        raise ValueError("train needs --algo and --env (or --resume RUN_FOLDER)")
    table = register_algorithms()
    algos = sorted({*table, "recurrentppo", "qmix"})
    if args.algo not in algos:
        raise ValueError(f"unknown algorithm {args.algo!r}{suggest(args.algo, algos)}")
    if args.trained_agent and not (args.trained_agent.endswith(".zip") and Path(args.trained_agent).is_file()):
        raise ValueError(f"--trained-agent must be a model .zip file, got {args.trained_agent!r}")
    conf_file = Path(args.conf_file) if args.conf_file else default_conf_file(args.algo)
    if not conf_file.is_file():
        raise FileNotFoundError(f"--conf-file {str(conf_file)!r} does not exist")
    args.conf_file = str(conf_file)
    for package in args.gym_packages:
        importlib.import_module(package)
    if args.seed < 0:
        args.seed = int(np.random.randint(2**31 - 1))
    if args.num_threads > 0:
        import torch

        torch.set_num_threads(args.num_threads)
    if run_folder is not None:
        args.n_timesteps = step_budget(args, conf_file)
        _, done = run_folder.latest_model()
        if done >= args.n_timesteps:
            print(f"{run_folder.path} is finished ({done} of {args.n_timesteps} env steps)")
            return 0
    if args.algo == "qmix":
        from sb3_spiking.cli.qmix_run import train_qmix

        path = train_qmix(args, conf_file, run_folder)
    else:
        path = train_zoo(args, conf_file, run_folder)
    print(f"Run folder: {path}")
    return 0


def step_budget(args: argparse.Namespace, conf_file: Path) -> int:
    """
    :param args: the parsed arguments
    :param conf_file: the zoo config
    :return: the run's env step budget: ``-n`` when given, else the config entry's ``n_timesteps``
    """
    if args.n_timesteps > 0:
        return int(args.n_timesteps)
    if args.algo == "qmix":
        from sb3_spiking.cli.qmix_run import read_qmix_entry

        return int(read_qmix_entry(conf_file, args.env, args.hyperparams)["n_timesteps"])
    from sb3_spiking.cli.manager import read_entry

    return int(read_entry(conf_file, args.env, register_algorithms()[zoo_name(args.algo)], args.hyperparams)[
        "n_timesteps"])  # fmt: skip


def train_zoo(args: argparse.Namespace, conf_file: Path, run_folder: Any = None) -> Path:
    """
    Train through rl_zoo3's experiment manager.

    :param args: the parsed arguments
    :param conf_file: the zoo config
    :param run_folder: the run to resume in place, else ``None``
    :return: the run folder
    """
    from sb3_spiking.cli.manager import SpikingExperimentManager

    algo = zoo_name(args.algo)
    check_env(args.env, conf_file)
    zoo_args = argparse.Namespace(**{**vars(args), "algo": algo})
    manager = SpikingExperimentManager(
        zoo_args,
        algo,
        args.env,
        args.log_folder,
        overrides=args.hyperparams,
        resume=run_folder,
        tensorboard_log=args.tensorboard_log,
        n_timesteps=args.n_timesteps,
        eval_freq=args.eval_freq,
        n_eval_episodes=args.eval_episodes,
        save_freq=args.save_freq,
        env_kwargs=args.env_kwargs,
        trained_agent=args.trained_agent,
        seed=args.seed,
        log_interval=args.log_interval,
        save_replay_buffer=args.save_replay_buffer,
        verbose=args.verbose,
        vec_env_type=args.vec_env,
        device=args.device,
        config=str(conf_file),
        show_progress=args.progress,
    )
    results = manager.setup_experiment()
    assert results is not None
    model, _ = results
    manager.learn(model)
    manager.save_trained_model(model)
    return Path(manager.save_path)
