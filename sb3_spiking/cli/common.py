"""
What the commands share: our algorithms in rl_zoo3's table (:func:`register_algorithms`), ``key:value`` overrides
without ``eval()`` (:class:`StoreOverrides`), zoo literal strings written back (:func:`format_literal`), and run
folders read back (:func:`find_run`, :func:`load_run`) in rl_zoo3's layout::

    <log>/<algo>/<env>_<n>/<env>.zip                model (rl_zoo3 train's final save)
    <log>/<algo>/<env>_<n>/evaluations.npz          periodic evaluations (EvalCallback)
    <log>/<algo>/<env>_<n>/rl_model_<N>_steps.zip   checkpoints (with replay buffer and VecNormalize statistics)
    <log>/<algo>/<env>_<n>/<env>/config.yml, args.yml, vecnormalize.pkl
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import nn

from sb3_spiking.validation import suggest
from sb3_spiking.zoo import LITERAL_KEYS, parse_literal

ZOO_NAMES = {"recurrentppo": "ppo_lstm"}
"""Our config names that rl_zoo3 knows under another name (folder ``logs/ppo_lstm/`` for ``recurrentppo``)."""

OUR_ALGOS = ("ddqn", "recurrent_td3", "recurrent_dqn")
"""Algorithms :func:`register_algorithms` adds to rl_zoo3's table."""

CHECKPOINT = re.compile(r"rl_model_(\d+)_steps\.zip$")


def register_algorithms() -> dict[str, type[BaseAlgorithm]]:
    """
    Add DoubleDQN, RecurrentTD3 and RecurrentDQN to rl_zoo3's algorithm table (``rl_zoo3.ALGOS``, which its
    ``train`` / ``enjoy`` parsers and ``ExperimentManager`` read), and import ``sb3_spiking`` so that the spiking
    policy names and POMDP env ids are registered. Idempotent.

    :return: the table
    """
    import rl_zoo3

    import sb3_spiking  # noqa: F401  (policy aliases, env ids)
    from sb3_spiking.zoo import ALGOS

    rl_zoo3.ALGOS.update({name: ALGOS[name] for name in OUR_ALGOS})
    return rl_zoo3.ALGOS


def zoo_name(algo: str) -> str:
    """
    :param algo: an algorithm name of ours or of rl_zoo3
    :return: rl_zoo3's name of it (``recurrentppo`` -> ``ppo_lstm``)
    """
    return ZOO_NAMES.get(algo, algo)


def config_name(algo: str) -> str:
    """
    :param algo: an algorithm name of ours or of rl_zoo3
    :return: the stem of its file in ``zoo_configs/`` (``ppo_lstm`` -> ``recurrentppo``)
    """
    return {zoo: ours for ours, zoo in ZOO_NAMES.items()}.get(algo, algo)


def parse_value(text: str) -> Any:
    """
    :param text: the value of a ``key:value`` override
    :return: the Python literal it spells (number, list, ``dict(...)``, ...), else the text itself as a string
    """
    try:
        return parse_literal(text)
    except ValueError:
        return text


class StoreOverrides(argparse.Action):
    """``key:value`` arguments as a dict, like rl_zoo3's ``StoreDict`` but without ``eval()``: values are Python
    literals (:func:`sb3_spiking.zoo.parse_literal`) or else plain strings (``policy_kwargs.surrogate:arctan``)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        overrides = dict(getattr(namespace, self.dest, None) or {})
        for item in values:
            key, sep, text = item.partition(":")
            if not sep or not key:
                parser.error(f"{option_string} expects key:value items, got {item!r}")
            overrides[key] = parse_value(text)
        setattr(namespace, self.dest, overrides)


def format_literal(value: Any) -> str:
    """
    The inverse of :func:`sb3_spiking.zoo.parse_literal`, as zoo configs write values: ``dict(a=1, b=nn.ReLU)``.

    :param value: numbers, strings, booleans, ``None``, lists, tuples, dicts and ``torch.nn`` module classes
    :return: the literal string
    """
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            return "dict(" + ", ".join(f"{k}={format_literal(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{format_literal(k)}: {format_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(format_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [format_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, type) and issubclass(value, nn.Module) and getattr(nn, value.__name__, None) is value:
        return f"nn.{value.__name__}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as a zoo config literal")


def saved_form(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    :param hyperparams: a config entry with its literal strings parsed
    :return: the entry as rl_zoo3 saves it in ``config.yml``: dict-valued literal keys as strings again
    """
    return {
        key: format_literal(value) if key in LITERAL_KEYS and isinstance(value, dict) else value
        for key, value in hyperparams.items()
    }


@dataclass
class RunFolder:
    """
    One training run on disk.

    :param path: the run folder (``<log>/<algo>/<env>_<n>``)
    :param algo: rl_zoo3's algorithm name (``ppo_lstm`` for RecurrentPPO) or ``qmix``
    :param env_id: the env id (gymnasium id or PettingZoo factory)
    :param params_path: the folder of ``config.yml`` / ``args.yml`` / ``vecnormalize.pkl``
    :param args: the saved command-line arguments (``args.yml``)
    :param config: the saved config entry (``config.yml``)
    :param checkpoints: checkpoint model files by env step, oldest first
    """

    path: Path
    algo: str
    env_id: str
    params_path: Path
    args: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)

    @property
    def env_name(self) -> str:
        """The env id as a file name (rl_zoo3's ``EnvironmentName``: ``/`` -> ``-``, text after ``:``)."""
        return self.params_path.name

    @property
    def final_model(self) -> Path:
        """Where rl_zoo3 saves the model at the end of training."""
        return self.path / f"{self.env_name}.zip"

    def latest_model(self) -> tuple[Path, int]:
        """
        :return: the model with the most env steps (final save or checkpoint) and its step count
        """
        candidates = [(steps, path) for steps, path in self.checkpoints]
        if self.final_model.is_file():
            candidates.append((saved_num_timesteps(self.final_model), self.final_model))
        if not candidates:
            raise FileNotFoundError(
                f"run folder {str(self.path)!r} holds no model: neither {self.final_model.name} nor a checkpoint "
                "rl_model_<N>_steps.zip (did the run stop before its first checkpoint? train with --save-freq)"
            )
        # at equal steps, the model whose replay buffer was saved (to resume without losing it)
        steps, path = max(candidates, key=lambda c: (c[0], companion_files(c[1])[0] is not None))
        return path, steps

    def vecnormalize_for(self, model_path: Path) -> Path | None:
        """
        :param model_path: the final model, ``best_model.zip`` or a checkpoint
        :return: the normalisation statistics saved with it, ``None`` when the run is not normalised
        """
        path = companion_files(model_path)[1] if CHECKPOINT.search(model_path.name) else None
        path = path or self.params_path / "vecnormalize.pkl"
        return path if path.is_file() else None


def companion_files(model_path: str | Path) -> tuple[Path | None, Path | None]:
    """
    :param model_path: a final model ``<env>.zip`` (rl_zoo3 train) or a checkpoint ``rl_model_<N>_steps.zip``
    :return: the replay buffer and the ``VecNormalize`` statistics saved with it (``None`` where there are none)
    """
    model_path = Path(model_path)
    match = CHECKPOINT.search(model_path.name)
    if match:
        buffer = model_path.parent / f"rl_model_replay_buffer_{match.group(1)}_steps.pkl"
        stats = model_path.parent / f"rl_model_vecnormalize_{match.group(1)}_steps.pkl"
    else:
        buffer = model_path.parent / "replay_buffer.pkl"
        stats = model_path.parent / model_path.stem / "vecnormalize.pkl"
    return (buffer if buffer.is_file() else None), (stats if stats.is_file() else None)


def saved_num_timesteps(model_path: Path) -> int:
    """
    :param model_path: an SB3 model zip
    :return: the ``num_timesteps`` saved in it, read without loading the model
    """
    with zipfile.ZipFile(model_path) as archive:
        return int(json.loads(archive.read("data"))["num_timesteps"])


def find_run(folder: str | Path) -> RunFolder:
    """
    Read a run folder made by ``sb3-spiking train`` or ``python -m rl_zoo3.train``.

    :param folder: ``<log>/<algo>/<env>_<n>``
    :return: what it holds
    """
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder {str(path)!r} does not exist")
    params = [p.parent for p in sorted(path.glob("*/args.yml"))]
    if len(params) != 1:
        found = "no" if not params else f"{len(params)}"
        raise ValueError(
            f"{str(path)!r} is not an rl_zoo3 run folder: it needs one sub-folder <env>/ with args.yml and "
            f"config.yml (found {found}); point at <log>/<algo>/<env>_<n>/"
        )
    params_path = params[0]
    args = yaml.load((params_path / "args.yml").read_text(), Loader=yaml.UnsafeLoader) or {}
    missing = [key for key in ("algo", "env") if key not in args]
    config_file = params_path / "config.yml"
    if missing or not config_file.is_file():
        what = [f"args.yml keys {missing}"] if missing else []
        what += [] if config_file.is_file() else ["config.yml"]
        raise ValueError(f"run folder {str(path)!r} lacks {' and '.join(what)}")
    config = yaml.load(config_file.read_text(), Loader=yaml.UnsafeLoader) or {}
    checkpoints = sorted(
        (int(m.group(1)), p) for p in path.glob("rl_model_*_steps.zip") if (m := CHECKPOINT.search(p.name))
    )
    return RunFolder(path, str(args["algo"]), str(args["env"]), params_path, dict(args), dict(config), checkpoints)


def make_run_env(run: RunFolder, seed: int = 0, vecnormalize: Path | None = None, render_mode: str | None = None):
    """
    The evaluation env of a run, built as ``python -m rl_zoo3.enjoy`` builds it (``create_test_env``: the config's
    wrappers incl. ``vec_env_wrapper``, saved ``VecNormalize`` statistics frozen), or the team env for QMIX.

    :param run: the run
    :param seed: env seed
    :param vecnormalize: statistics to apply instead of the run's ``vecnormalize.pkl``
    :param render_mode: gymnasium ``render_mode`` (``"rgb_array"`` for videos)
    :return: a one-env ``VecEnv``
    """
    if run.algo == "qmix":
        from sb3_spiking.cli.qmix_run import make_parallel_env
        from sb3_spiking.marl import wrap_parallel_env

        env = wrap_parallel_env(make_parallel_env(run.env_id, run.config, run.args.get("env_kwargs"), render_mode))
        env.seed(seed)
        return env
    from rl_zoo3.utils import create_test_env, get_saved_hyperparams

    register_algorithms()
    for package in run.args.get("gym_packages") or []:
        importlib.import_module(package)
    hyperparams, stats_path = get_saved_hyperparams(str(run.params_path), norm_reward=False, test_mode=True)
    env_kwargs = dict(hyperparams.get("env_kwargs") or {})
    env_kwargs.update(run.args.get("env_kwargs") or {})
    if render_mode is not None:
        env_kwargs["render_mode"] = render_mode
    normalize = hyperparams.get("normalize")
    hyperparams["normalize"] = False  # statistics applied below, from the file that goes with the model
    env = create_test_env(
        run.env_id, n_envs=1, stats_path=stats_path, seed=seed, should_render=False, hyperparams=hyperparams,
        env_kwargs=env_kwargs,
    )  # fmt: skip
    if normalize:
        stats = vecnormalize or run.params_path / "vecnormalize.pkl"
        if not stats.is_file():
            raise FileNotFoundError(f"run {str(run.path)!r} normalises observations but {str(stats)!r} is missing")
        env = VecNormalize.load(str(stats), env)
        env.training, env.norm_reward = False, False
    return env


def load_run(
    folder: str | Path, device: str = "auto", seed: int = 0, checkpoint: str = "latest", render_mode: str | None = None
) -> tuple[BaseAlgorithm, VecEnv]:
    """
    Load a trained agent with its evaluation env: an rl_zoo3 run folder (``<log>/<algo>/<env>_<n>/``, from
    ``sb3-spiking train`` or ``python -m rl_zoo3.train``) or a hub-layout agent folder (``config.yml`` at its top).

    :param folder: the folder
    :param device: torch device
    :param seed: seed of the evaluation env
    :param checkpoint: ``"latest"`` (final model, else the newest checkpoint), ``"final"`` or ``"best"``
        (``best_model.zip`` of the periodic evaluation)
    :param render_mode: gymnasium ``render_mode`` of the env
    :return: the model and its env (normalisation statistics frozen, observation wrapper applied)
    """
    path = Path(folder)
    if (path / "config.yml").is_file() and not list(path.glob("*/args.yml")):
        from sb3_spiking.hub import load_local

        return load_local(path, seed=seed, device=device)
    choices = ("latest", "final", "best")
    if checkpoint not in choices:
        raise ValueError(f"checkpoint must be one of {list(choices)}, got {checkpoint!r}")
    run = find_run(path)
    if checkpoint == "latest":
        model_path, _ = run.latest_model()
    else:
        model_path = run.final_model if checkpoint == "final" else run.path / "best_model.zip"
        if not model_path.is_file():
            raise FileNotFoundError(f"run folder {str(run.path)!r} has no {model_path.name}")
    env = make_run_env(run, seed, run.vecnormalize_for(model_path), render_mode)
    algo_class = algorithm_class(run.algo)
    model = algo_class.load(model_path, env=env, device=device)
    return model, env


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """
    :param algo: rl_zoo3 algorithm name (after :func:`register_algorithms`), one of ours, or ``qmix``
    :return: its class
    """
    if algo == "qmix":
        from sb3_spiking.marl import QMIX

        return QMIX
    table = register_algorithms()
    name = zoo_name(algo)
    if name not in table:
        raise ValueError(f"unknown algorithm {algo!r}{suggest(algo, [*table, *ZOO_NAMES, 'qmix'])}")
    return table[name]
