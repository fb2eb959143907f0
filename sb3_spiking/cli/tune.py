"""Tune hyperparameters with Optuna through rl_zoo3's optimisation, spiking hyperparameters sampled too.

rl_zoo3's sampler of the algorithm's hyperparameters plus :mod:`sb3_spiking.cli.samplers` (surrogate and width,
``spike_ts``, population and hidden sizes, neuron type; GRSN / LIF threshold and ``input_bias``); trials pruned on
their periodic evaluations. QMIX, which rl_zoo3 cannot train, runs its trials through
:class:`~sb3_spiking.cli.qmix_run.QMIXStudy` (learning rate, batch, epsilon schedule, mixer width, agent core and
its spiking settings) inside the same optimisation. The study lives in an SQLite file by default; any Optuna storage
URL (PostgreSQL, ...) lets several machines share one study. Examples::

    sb3-spiking tune --algo td3 --env Pendulum-v1 -n 20000 --n-trials 50 --storage sqlite:///tune.db --study-name td3
    sb3-spiking tune --algo qmix --env mpe2:simple_spread_v3 --env-kwargs N:3 max_cycles:25 -n 50000 --n-trials 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

from huggingface_sb3 import EnvironmentName

from sb3_spiking.cli.common import StoreOverrides, register_algorithms, suggest, zoo_name
from sb3_spiking.validation import check_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``tune`` parser"""
    parser.add_argument("--algo", required=True, help="algorithm (as for train)")
    parser.add_argument("--env", required=True, help="gymnasium id, or for qmix a PettingZoo env (as for train)")
    parser.add_argument("--env-kwargs", nargs="+", action=StoreOverrides, default=None, metavar="KEY:VALUE",
                        help="keyword arguments of the env constructor")  # fmt: skip
    parser.add_argument("-conf", "--conf-file", help="zoo YAML file (default: zoo_configs/<algo>.yml)")
    parser.add_argument("-n", "--n-timesteps", type=int, default=-1, help="env steps per trial (default: config's)")
    parser.add_argument("--n-trials", type=int, default=20, help="trials run by this process")
    parser.add_argument("--n-evaluations", type=int, default=None, help="evaluations per trial (pruning points)")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite:///LOGDIR/<algo>/<env>_optuna.db)")
    parser.add_argument("--study-name", help="study name (default: <algo>-<env>)")
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random"], help="Optuna sampler")
    parser.add_argument("--pruner", default="median", choices=["median", "halving", "none"], help="Optuna pruner")
    parser.add_argument("--n-startup-trials", type=int, default=5, help="random trials before TPE, no pruning")
    parser.add_argument("--n-jobs", type=int, default=1, help="trials at a time in this process")
    parser.add_argument("-params", "--hyperparams", nargs="+", action=StoreOverrides, default={}, metavar="KEY:VALUE",
                        help="fixed overrides of the config (dotted keys change one key inside a dict)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the Optuna sampler")
    parser.add_argument("--device", default="auto", help="torch device")
    parser.add_argument("-f", "--log-folder", default="logs", help="where the study report (and SQLite file) go")
    parser.add_argument("--optimization-log-path", help="keep each trial's evaluations.npz and best model in "
                        "<path>/trial_<n>/ (rl_zoo3's option)")  # fmt: skip
    parser.add_argument("--verbose", type=int, default=1, help="0: quiet, 1: info")


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: 0
    """
    from sb3_spiking.cli.train import check_env, default_conf_file

    check_int("n_trials", args.n_trials, minimum=1)
    table = register_algorithms()
    algo = zoo_name(args.algo)
    if algo not in (*table, "qmix"):
        raise ValueError(f"unknown algorithm {args.algo!r} for tune"
                         f"{suggest(args.algo, [*table, 'recurrentppo', 'qmix'])}")  # fmt: skip
    conf_file = Path(args.conf_file) if args.conf_file else default_conf_file(args.algo)
    if algo != "qmix":
        check_env(args.env, conf_file)
    storage = args.storage
    if storage is None:
        folder = Path(args.log_folder).resolve() / algo
        folder.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{folder / EnvironmentName(args.env)}_optuna.db"
    study_name = args.study_name or f"{algo}-{args.env}"
    optimisation = dict(
        n_eval_episodes=args.eval_episodes,
        storage=storage,
        study_name=study_name,
        n_trials=args.n_trials,
        n_jobs=args.n_jobs,
        sampler=args.sampler,
        pruner=args.pruner,
        n_startup_trials=args.n_startup_trials,
        n_evaluations=args.n_evaluations,
        optimization_log_path=args.optimization_log_path,
        seed=args.seed,
        verbose=args.verbose,
        device=args.device,
        no_optim_plots=True,
    )
    if algo == "qmix":
        from sb3_spiking.cli.qmix_run import QMIXStudy

        manager = QMIXStudy(args, conf_file, **optimisation)
    else:
        from sb3_spiking.cli.manager import SpikingExperimentManager
        from sb3_spiking.cli.samplers import register_sampler

        manager = SpikingExperimentManager(
            argparse.Namespace(**{**vars(args), "algo": algo}),
            algo,
            args.env,
            args.log_folder,
            overrides=args.hyperparams,
            n_timesteps=args.n_timesteps,
            env_kwargs=args.env_kwargs,
            optimize_hyperparameters=True,
            config=str(conf_file),
            **optimisation,
        )
        manager.setup_experiment()
        register_sampler(algo, manager._hyperparams)
    try:
        manager.hyperparameters_optimization()
    except ImportError as error:  # rl_zoo3 writes its CSV report with pandas, after the study is stored
        if "pandas" not in str(error):
            raise
        print("report CSV skipped (pandas is not installed); the trials are in the study's storage")
    print(f"study {study_name!r} in {storage}")
    return 0
