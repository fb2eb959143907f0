"""
QMIX runs on PettingZoo parallel envs (rl_zoo3 has no multi-agent path), in rl_zoo3's run-folder layout:
``<log>/qmix/<env>_<n>/<env>.zip``, ``evaluations.npz``, ``0.monitor.csv``, checkpoints, and
``<env>/config.yml``, ``<env>/args.yml``; and QMIX's Optuna trials inside rl_zoo3's hyperparameter optimisation
(:class:`QMIXStudy`).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import types
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import yaml
from huggingface_sb3 import EnvironmentName
from rl_zoo3.callbacks import TrialEvalCallback
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import get_latest_run_id
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback, ProgressBarCallback
from stable_baselines3.common.vec_env import VecMonitor

from sb3_spiking.cli.common import RunFolder, companion_files, saved_form
from sb3_spiking.cli.manager import ResumableCheckpoint, prefill_evaluations
from sb3_spiking.zoo import LITERAL_KEYS, read_entry

if TYPE_CHECKING:
    from sb3_spiking.marl import QMIX

RUN_KEYS = ("env_module", "env_kwargs", "n_timesteps")
"""Keys of a qmix.yml entry that describe the run rather than QMIX's constructor."""


def entry_key(env_id: str) -> str:
    """
    :param env_id: ``mpe2:simple_spread_v3``, ``package.module:factory`` or a config key
    :return: the qmix.yml key it is looked up under (the part after ``:``)
    """
    return env_id.rpartition(":")[2]


def read_qmix_entry(conf_file: str | Path, env_id: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """
    :param conf_file: qmix YAML file
    :param env_id: the env (see :func:`entry_key`)
    :param overrides: ``{"key": value}`` or ``{"key.sub": value}``
    :return: the entry with its literal strings parsed and the overrides applied
    """
    from sb3_spiking.marl import QMIX

    allowed = sorted({*RUN_KEYS, *inspect.signature(QMIX.__init__).parameters} - {"self", "env", "_init_setup_model"})
    return read_entry(
        conf_file,
        env_id,
        overrides,
        allowed,
        aliases=(entry_key(env_id),),
        literal_keys=(*LITERAL_KEYS, "optimizer_kwargs"),
        owner="QMIX",
    )


def env_factory(env_id: str, entry: dict[str, Any]) -> Callable[..., Any]:
    """
    :param env_id: ``package:env_module`` (``mpe2:simple_spread_v3``), ``package.module:factory``, or a config key
        whose entry names ``env_module``
    :param entry: the config entry
    :return: a function building the PettingZoo ``ParallelEnv``
    """
    if ":" in env_id:
        module_name, _, name = env_id.partition(":")
        try:
            module = importlib.import_module(module_name)
            target = getattr(module, name, None) or importlib.import_module(f"{module_name}.{name}")
        except ImportError as error:
            raise ValueError(f"cannot import the PettingZoo env {env_id!r}: {error}") from error
    elif "env_module" in entry:
        target = importlib.import_module(entry["env_module"])
    else:
        raise ValueError(f"unknown PettingZoo env {env_id!r}: write it as package:env (mpe2:simple_spread_v3) or "
                         "package.module:factory, or give its qmix.yml entry an env_module")  # fmt: skip
    if isinstance(target, types.ModuleType):
        if not hasattr(target, "parallel_env"):
            raise ValueError(f"module {target.__name__!r} has no parallel_env (not a PettingZoo env module)")
        return target.parallel_env
    if not callable(target):
        raise ValueError(f"{env_id!r} is neither a PettingZoo env module nor a factory function")
    return target


def make_parallel_env(
    env_id: str, entry: dict[str, Any], env_kwargs: dict[str, Any] | None = None, render_mode: str | None = None
) -> Any:
    """
    :param env_id: the env (see :func:`env_factory`)
    :param entry: the config entry (its ``env_kwargs`` are the defaults)
    :param env_kwargs: keyword arguments replacing the entry's
    :param render_mode: PettingZoo ``render_mode``
    :return: the ``ParallelEnv``
    """
    kwargs = {**(entry.get("env_kwargs") or {}), **(env_kwargs or {})}
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return env_factory(env_id, entry)(**kwargs)


def make_qmix(entry: dict[str, Any], env: Any, **kwargs: Any) -> QMIX:
    """
    :param entry: the config entry (its run keys are left out)
    :param env: the team env
    :param kwargs: ``seed``, ``device``, ``verbose``, ``tensorboard_log``
    :return: a new QMIX model with the entry's agent core and constructor arguments
    """
    from sb3_spiking.marl import QMIX

    hyper = {k: v for k, v in entry.items() if k not in (*RUN_KEYS, "agent")}
    return QMIX(entry.get("agent", "grsn"), env, **kwargs, **hyper)


def make_train_env(
    env_id: str, entry: dict[str, Any], env_kwargs: dict[str, Any] | None = None, monitor: str | None = None
) -> VecMonitor:
    """
    :param monitor: the monitor file's path without its suffix (``None``: no file)
    :return: the training env of a QMIX run (one team env, as :func:`make_parallel_env`, with episode statistics)
    """
    from sb3_spiking.marl.vec_env import TeamVecEnv

    return VecMonitor(TeamVecEnv(make_parallel_env(env_id, entry, env_kwargs)), filename=monitor)


def make_eval_env(env_id: str, entry: dict[str, Any], env_kwargs: dict[str, Any] | None = None) -> Any:
    """:return: the env of ``EvalCallback`` for a QMIX run (one team env, as :func:`make_parallel_env`)"""
    from sb3_spiking.marl import wrap_parallel_env

    return wrap_parallel_env(make_parallel_env(env_id, entry, env_kwargs))


def train_qmix(args: argparse.Namespace, conf_file: Path, resume: RunFolder | None = None) -> Path:
    """
    Train QMIX as ``sb3-spiking train --algo qmix`` asks.

    :param args: the ``train`` arguments
    :param conf_file: qmix YAML file
    :param resume: continue this run in its own folder, else ``None``
    :return: the run folder
    """
    from sb3_spiking.marl import QMIX

    entry = read_qmix_entry(conf_file, args.env, args.hyperparams)
    budget = args.n_timesteps if args.n_timesteps > 0 else int(entry["n_timesteps"])
    env_name = EnvironmentName(args.env)
    if resume is None:
        log_path = Path(args.log_folder) / "qmix"
        save_path = log_path / f"{env_name}_{get_latest_run_id(str(log_path), env_name) + 1}"
    else:
        save_path = resume.path
    params_path = save_path / env_name
    params_path.mkdir(parents=True, exist_ok=True)
    env_kwargs = args.env_kwargs or {}
    monitor = str(save_path / str(len(list(save_path.glob("*.monitor.csv")))))  # a resumed run adds 1.monitor.csv
    env = make_train_env(args.env, entry, env_kwargs, monitor)
    trained_agent = str(resume.latest_model()[0]) if resume is not None else args.trained_agent
    if trained_agent:
        model = QMIX.load(trained_agent, env=env, device=args.device, seed=args.seed, verbose=args.verbose)
        buffer = companion_files(trained_agent)[0]
        if buffer is not None:
            model.load_replay_buffer(buffer)
        if args.verbose > 0:
            print(f"Continuing from {trained_agent} at {model.num_timesteps} env steps")
    else:
        model = make_qmix(entry, env, seed=args.seed, device=args.device, verbose=args.verbose,
                          tensorboard_log=args.tensorboard_log or None)  # fmt: skip
    if resume is None:
        (params_path / "config.yml").write_text(yaml.dump(OrderedDict(sorted(saved_form(entry).items()))))
        (params_path / "args.yml").write_text(yaml.dump(OrderedDict(sorted({**vars(args), "algo": "qmix"}.items()))))
        (params_path / "command.txt").write_text(" ".join(sys.orig_argv))
    callbacks: list[BaseCallback] = []
    if args.progress:
        callbacks.append(ProgressBarCallback())
    if args.save_freq > 0:
        callbacks.append(ResumableCheckpoint(args.save_freq, str(save_path), verbose=args.verbose))
    if args.eval_freq > 0:
        eval_env = make_eval_env(args.env, entry, env_kwargs)
        evaluation = EvalCallback(eval_env, n_eval_episodes=args.eval_episodes, eval_freq=args.eval_freq,
                                  log_path=str(save_path), best_model_save_path=str(save_path), deterministic=True,
                                  verbose=args.verbose)  # fmt: skip
        if resume is not None:
            prefill_evaluations(evaluation, save_path / "evaluations.npz", model.num_timesteps)
        callbacks.append(evaluation)
    remaining = budget - model.num_timesteps if resume is not None else budget
    try:
        model.learn(max(remaining, 0), callback=callbacks, reset_num_timesteps=not trained_agent,
                    log_interval=None if args.log_interval < -1 else 100)  # fmt: skip
    except KeyboardInterrupt:
        pass
    model.save(save_path / f"{env_name}.zip")
    if args.save_replay_buffer:
        model.save_replay_buffer(save_path / "replay_buffer.pkl")
    return save_path


class QMIXStudy(ExperimentManager):
    """
    rl_zoo3's hyperparameter optimisation for QMIX on a PettingZoo env: ``hyperparameters_optimization`` (study,
    sampler, pruner, storage, report) is rl_zoo3's; the trial (:meth:`objective`) trains QMIX with the values of
    :class:`~sb3_spiking.cli.samplers.QMIXSampler` and reports its periodic evaluations for pruning.

    :param args: the ``tune`` arguments (``env``, ``hyperparams``, ``env_kwargs``, ``n_timesteps``, ...)
    :param conf_file: qmix YAML file
    :param kwargs: the optimisation arguments of ``ExperimentManager`` (storage, study_name, n_trials, sampler, ...)
    """

    def __init__(self, args: argparse.Namespace, conf_file: Path, **kwargs: Any) -> None:
        self.entry = read_qmix_entry(conf_file, args.env, args.hyperparams)
        n_timesteps = args.n_timesteps if args.n_timesteps > 0 else int(self.entry["n_timesteps"])
        super().__init__(args, "qmix", args.env, args.log_folder, n_timesteps=n_timesteps,
                         optimize_hyperparameters=True, config=str(conf_file), **kwargs)  # fmt: skip
        if self.n_evaluations is None:  # as rl_zoo3's _preprocess_hyperparams: one evaluation per 1e5 steps
            self.n_evaluations = max(1, n_timesteps // int(1e5))
        self._hyperparams = saved_form(self.entry)  # stored with the study (its user attributes)
        self.env_kwargs = dict(args.env_kwargs or {})

    @staticmethod
    def is_atari(env_id: str) -> bool:
        """:return: ``False`` (rl_zoo3 looks the id up in gymnasium's registry, where PettingZoo envs are not)"""
        return False

    @staticmethod
    def is_minigrid(env_id: str) -> bool:
        """:return: ``False``, see :meth:`is_atari`"""
        return False

    def objective(self, trial: optuna.Trial) -> float:
        """
        One trial, adapted from rl_zoo3 2.9 ``ExperimentManager.objective``: sample, train unseeded, evaluate every
        ``n_timesteps / n_evaluations`` env steps (``TrialEvalCallback`` reports each mean return and prunes).

        :param trial: the trial
        :return: the last evaluation's mean return
        """
        from sb3_spiking.cli.samplers import QMIXSampler

        entry = QMIXSampler(self.entry, self.n_timesteps)(trial)
        env = make_train_env(self.env_name.gym_id, entry, self.env_kwargs)
        eval_env = make_eval_env(self.env_name.gym_id, entry, self.env_kwargs)
        path = self.optimization_log_path and str(Path(self.optimization_log_path) / f"trial_{trial.number}")
        evaluation = TrialEvalCallback(eval_env, trial, n_eval_episodes=self.n_eval_episodes,
                                       eval_freq=max(self.n_timesteps // self.n_evaluations, 1),
                                       deterministic=self.deterministic_eval, best_model_save_path=path,
                                       log_path=path)  # fmt: skip
        model = make_qmix(entry, env, seed=None, device=self.device, verbose=self.verbose if self.verbose >= 2 else 0)
        try:
            model.learn(self.n_timesteps, callback=evaluation, log_interval=None)
        except (AssertionError, ValueError) as error:  # as rl_zoo3: sampled values that fail (NaN, ...) are pruned
            print(f"{error}\nsampled hyperparameters: {trial.params}")
            raise optuna.exceptions.TrialPruned() from error
        finally:
            env.close()
            eval_env.close()
        if evaluation.is_pruned:
            raise optuna.exceptions.TrialPruned()
        return float(evaluation.last_mean_reward)
