"""
The one reader of ``zoo_configs/`` (rl-baselines3-zoo YAML): :func:`load_entry` returns the constructor arguments of
an entry ready to use, read the way rl_zoo3's ``ExperimentManager`` reads the same file (its own
``read_hyperparameters`` / ``_preprocess_hyperparams`` / ``_preprocess_action_noise``, rl_zoo3 2.9). Python-literal
strings such as ``policy_kwargs: "dict(hidden_sizes=[64], activation_fn=nn.ReLU)"`` are parsed by a restricted
literal parser (:func:`parse_literal`), never ``eval()``-ed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import operator
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from sb3_contrib import RecurrentPPO
from stable_baselines3 import DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import nn

from sb3_spiking.algos.double_dqn import DoubleDQN
from sb3_spiking.algos.recurrent_dqn import RecurrentDQN
from sb3_spiking.algos.recurrent_td3 import RecurrentTD3
from sb3_spiking.resources import data_dir
from sb3_spiking.validation import suggest

ALGOS: dict[str, type[BaseAlgorithm]] = {
    "td3": TD3,
    "ddpg": DDPG,
    "sac": SAC,
    "dqn": DQN,
    "ddqn": DoubleDQN,
    "ppo": PPO,
    "recurrentppo": RecurrentPPO,
    "recurrent_td3": RecurrentTD3,
    "recurrent_dqn": RecurrentDQN,
}

# values that rl_zoo3 would eval() when given as strings
LITERAL_KEYS = ("policy_kwargs", "replay_buffer_kwargs", "normalize", "monitor_kwargs", "agent_kwargs", "mixer_kwargs")

_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def parse_literal(text: str) -> Any:
    """
    A zoo config's Python-literal string, without ``eval()``: numbers, strings, booleans, ``None``, lists, tuples,
    dicts, ``dict(key=value, ...)``, arithmetic on numbers (``0.15 ** 0.5``) and ``nn.<Module>`` names (activation
    functions, as rl_zoo3 configs write them).

    :param text: the string from the YAML file
    :return: the value
    """

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            return {value(k): value(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            return {kw.arg: value(kw.value) for kw in node.keywords}
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nn":
            module = getattr(nn, node.attr, None)
            if isinstance(module, type) and issubclass(module, nn.Module):
                return module
        raise ValueError(f"unsupported expression {ast.unparse(node)!r} in zoo config value {text!r}")

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"zoo config value {text!r} is not a Python literal: {error.msg}") from error
    return value(tree.body)


def set_nested(hyperparams: dict[str, Any], key: str, value: Any) -> None:
    """
    Override one hyperparameter; a dotted key changes one entry inside a dict-valued hyperparameter and keeps the
    rest (``policy_kwargs.surrogate`` -> ``hyperparams["policy_kwargs"]["surrogate"]``).

    :param hyperparams: the entry, changed in place
    :param key: ``name`` or ``name.sub.key``
    :param value: the new value
    """
    *parents, last = key.split(".")
    target = hyperparams
    for i, name in enumerate(parents):
        child = target.get(name, {})
        if isinstance(child, str) and name in LITERAL_KEYS:
            child = parse_literal(child)
        if not isinstance(child, dict):
            raise ValueError(f"cannot set {key!r}: {'.'.join(parents[: i + 1])!r} is {child!r}, not a dict")
        target[name] = child = dict(child)
        target = child
    target[last] = value


@dataclass
class ZooEntry:
    """
    One entry of a zoo config, ready to build.

    :param algo: algorithm name (``td3``, ``ddqn``, ``recurrent_td3``, ...)
    :param env_id: gymnasium id
    :param algo_class: the algorithm class
    :param kwargs: constructor arguments besides ``env`` (policy, policy_kwargs, schedules, action noise, ...)
    :param n_timesteps: training budget of the entry
    :param n_envs: number of training envs
    :param env_kwargs: keyword arguments of ``gym.make``
    :param env_wrapper: the ``env_wrapper`` list as one ``wrapper_class``, ``None`` for none
    :param vec_env_wrapper: the ``vec_env_wrapper`` list as one function, ``None`` for none
    :param normalize_kwargs: ``VecNormalize`` arguments, ``None`` when observations are not normalised
    :param callbacks: callbacks named by the entry
    :param hyperparams: the entry as rl_zoo3 saves it in ``config.yml`` (literal strings parsed)
    """

    algo: str
    env_id: str
    algo_class: type[BaseAlgorithm]
    kwargs: dict[str, Any]
    n_timesteps: int
    n_envs: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    env_wrapper: Callable[[gym.Env], gym.Env] | None = None
    vec_env_wrapper: Callable[[VecEnv], VecEnv] | None = None
    normalize_kwargs: dict[str, Any] | None = None
    callbacks: list[BaseCallback] = field(default_factory=list)
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def make_env(self, n_envs: int | None = None, seed: int | None = None, training: bool = True) -> VecEnv:
        """
        The vectorised env of the entry, as rl_zoo3's ``create_envs`` builds it (Monitor, ``env_wrapper``,
        ``vec_env_wrapper``, fresh ``VecNormalize``).

        :param n_envs: number of envs, ``None`` for the entry's
        :param seed: env seed
        :param training: ``False`` for an evaluation env (normalisation statistics frozen, rewards not normalised)
        :return: the env
        """
        env = make_vec_env(
            self.env_id,
            n_envs=n_envs or self.n_envs,
            seed=seed,
            env_kwargs=self.env_kwargs,
            wrapper_class=self.env_wrapper,
        )
        if self.vec_env_wrapper is not None:
            env = self.vec_env_wrapper(env)
        if self.normalize_kwargs is not None:
            kwargs = dict(self.normalize_kwargs)
            if not training:
                kwargs.update(training=False, norm_reward=False)
            env = VecNormalize(env, **kwargs)
        return env

    def make_model(self, env: VecEnv | None = None, **overrides: Any) -> BaseAlgorithm:
        """
        :param env: training env, ``None`` for :meth:`make_env`
        :param overrides: constructor arguments replacing the entry's (``seed``, ``device``, ``verbose``, ...)
        :return: the model
        """
        return self.algo_class(env=env if env is not None else self.make_env(), **{**self.kwargs, **overrides})


def config_path(algo: str, conf_file: str | Path | None = None) -> Path:
    """
    :param algo: algorithm name
    :param conf_file: a YAML file, ``None`` for ``zoo_configs/<algo>.yml``
    :return: the config file
    """
    path = Path(conf_file) if conf_file is not None else data_dir("zoo_configs") / f"{algo}.yml"
    if not path.is_file():
        raise FileNotFoundError(f"zoo config {str(path)!r} for algorithm {algo!r} does not exist")
    return path


def read_entry(
    conf_file: str | Path,
    env_id: str,
    hyperparams: dict[str, Any] | None = None,
    allowed: Sequence[str] | None = None,
    *,
    aliases: Sequence[str] = (),
    literal_keys: Sequence[str] = LITERAL_KEYS,
    owner: str | None = None,
) -> dict[str, Any]:
    """
    One entry of a zoo config as written, its Python-literal strings parsed (never ``eval()``-ed) and the overrides
    applied.

    :param conf_file: the YAML file
    :param env_id: the entry's key (else the first of ``aliases`` the file has, else its ``default`` entry)
    :param hyperparams: overrides; dotted keys change one entry inside a dict (``{"policy_kwargs.surrogate": "x"}``)
    :param allowed: the keys an override may start with, ``None`` for any
    :param aliases: other keys the entry may be under
    :param literal_keys: the keys whose string values are Python literals
    :param owner: what the keys are for, named in the error for an unknown key (``None``: not named)
    :return: the entry
    """
    entries = yaml.safe_load(Path(conf_file).read_text()) or {}
    key = next((k for k in (env_id, *aliases, "default") if k in entries), None)
    if key is None:
        raise ValueError(f"no entry for env {env_id!r} in {str(conf_file)!r}; entries: {sorted(entries)}")
    entry = copy.deepcopy(entries[key])
    for name in literal_keys:
        if isinstance(entry.get(name), str):
            entry[name] = parse_literal(entry[name])
    for name, value in (hyperparams or {}).items():
        top = name.split(".")[0]
        if allowed is not None and top not in allowed:
            where = f" for {owner}" if owner else ""
            raise ValueError(f"unknown config key {top!r}{where}{suggest(top, allowed)}")
        set_nested(entry, name, value)
    return entry


def load_entry(
    algo: str,
    env_id: str,
    conf_file: str | Path | None = None,
    hyperparams: dict[str, Any] | None = None,
) -> ZooEntry:
    """
    Read one entry of a zoo config, as ``python -m rl_zoo3.train --algo ALGO --env ENV --conf-file F`` would.

    :param algo: algorithm name, a key of :data:`ALGOS`
    :param env_id: gymnasium id (a key of the config, else its ``default`` entry)
    :param conf_file: YAML file, ``None`` for ``zoo_configs/<algo>.yml``
    :param hyperparams: overrides; dotted keys change one entry inside a dict (``{"policy_kwargs.surrogate": "x"}``)
    :return: the entry
    """
    from rl_zoo3.exp_manager import ExperimentManager

    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; allowed: {sorted(ALGOS)}")
    if env_id not in gym.envs.registry:
        raise ValueError(f"unknown env id {env_id!r}: not registered with gymnasium (import its package first)")
    path = config_path(algo, conf_file)
    entry = read_entry(path, env_id, hyperparams)
    with tempfile.TemporaryDirectory() as log_folder, contextlib.redirect_stdout(io.StringIO()):
        manager = ExperimentManager(argparse.Namespace(), algo, env_id, log_folder, verbose=0, config=str(path))
        # rl_zoo3 reads the file again; give it the parsed entry so that it never eval()s a string
        manager.read_hyperparameters = lambda: (entry, dict(sorted(entry.items())))  # type: ignore[method-assign]
        raw, saved = manager.read_hyperparameters()
        kwargs, env_wrapper, callbacks, vec_env_wrapper = manager._preprocess_hyperparams(copy.deepcopy(raw))
        if kwargs.get("noise_type") is not None:
            with gym.make(env_id, **manager.env_kwargs) as env:
                kwargs = manager._preprocess_action_noise(kwargs, saved, env)
    for key, value in kwargs.items():
        if isinstance(value, str) and value.startswith("lin_"):  # rl_zoo3 converts these for a few keys only
            kwargs[key] = LinearSchedule(float(value[4:]), 0.0, 1.0)
    return ZooEntry(
        algo=algo,
        env_id=env_id,
        algo_class=ALGOS[algo],
        kwargs=kwargs,
        n_timesteps=manager.n_timesteps,
        n_envs=manager.n_envs,
        env_kwargs=dict(manager.env_kwargs),
        env_wrapper=env_wrapper,
        vec_env_wrapper=vec_env_wrapper,
        normalize_kwargs=dict(manager.normalize_kwargs) if manager.normalize else None,
        callbacks=callbacks,
        hyperparams=saved,
    )
