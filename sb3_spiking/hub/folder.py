"""
Reading an agent folder: the Hub layout (``<algo>-<env>.zip``, ``config.yml``, ``args.yml``, ``env_kwargs.yml``,
``vec_normalize.pkl``) or an rl_zoo3 run folder (``<log>/<algo>/<env>_<n>/`` with ``<env>.zip`` and ``<env>/``
holding ``config.yml``, ``args.yml``, ``vecnormalize.pkl``), into a model and its evaluation env.

Loading a model unpickles the files of the folder (the zip's ``data`` and ``vec_normalize.pkl``, as SB3's ``load``
and ``VecNormalize.load`` do): load only folders you trust.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecNormalize

REQUIRED_KEYS = ("algo", "env_id")
BY_REFERENCE = {"PROTO", "FRAME", "SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "MEMOIZE", "BINPUT", "PUT", "STOP"}
"""Pickle opcodes of a class pickled by reference (module and name), besides the GLOBAL / STACK_GLOBAL opcode."""
RL_ZOO3_ALIASES = {"ppo_lstm": "recurrentppo"}
"""rl_zoo3 names of algorithms that sb3-spiking names differently."""


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML loader that also reads what rl_zoo3 writes: ``OrderedDict`` (as a dict) and tuples."""


def _ordered_dict(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    (pairs,) = loader.construct_sequence(node, deep=True)  # !!python/object/apply:collections.OrderedDict [[[k, v]]]
    return {key: value for key, value in pairs}


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))


_ConfigLoader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered_dict)
_ConfigLoader.add_constructor("tag:yaml.org,2002:python/tuple", _tuple)


def read_yaml(path: Path) -> Any:
    """
    :param path: a YAML file written by sb3-spiking or rl_zoo3 (Python objects other than ``OrderedDict`` and
        tuples are refused)
    :return: its content
    """
    try:
        return yaml.load(path.read_text(), Loader=_ConfigLoader)  # a SafeLoader subclass
    except yaml.constructor.ConstructorError as error:
        raise ValueError(f"{str(path)!r} holds Python objects this reader does not build: {error.problem}") from error


def algorithms() -> dict[str, type[BaseAlgorithm]]:
    """:return: the algorithms an agent folder may hold, by name (rl_zoo3's, sb3-spiking's and ``qmix``)"""
    from rl_zoo3 import ALGOS as RL_ZOO3_ALGOS

    from sb3_spiking.marl import QMIX
    from sb3_spiking.zoo import ALGOS

    named = {name: cls for name, cls in RL_ZOO3_ALGOS.items() if name not in RL_ZOO3_ALIASES}
    return {**named, **ALGOS, "qmix": QMIX}


def env_name(env_id: str) -> str:
    """
    :param env_id: gymnasium id (``"module:Name-v0"`` allowed) or ``"package:module"`` of a PettingZoo env
    :return: the name used in file and repo names, as rl_zoo3 writes it (``/`` -> ``-``, the part after ``:``)
    """
    return env_id.replace("/", "-").split(":")[-1]


@dataclass(frozen=True)
class AgentFiles:
    """
    The files of one agent.

    :param folder: the agent folder
    :param config: ``config.yml`` merged with what ``args.yml`` says (``algo``, ``env_id``, ``seed``)
    :param model: the model zip
    :param vec_normalize: the normalisation statistics, ``None`` when the observations are not normalised
    :param env_kwargs: keyword arguments of the env constructor
    :param args: rl_zoo3's ``args.yml`` (empty when there is none)
    :param run_folder: whether the folder is an rl_zoo3 run folder (else the Hub layout)
    """

    folder: Path
    config: dict[str, Any]
    model: Path
    vec_normalize: Path | None
    env_kwargs: dict[str, Any]
    args: dict[str, Any]
    run_folder: bool

    @property
    def algo(self) -> str:
        return self.config["algo"]

    @property
    def env_id(self) -> str:
        return self.config["env_id"]


def _params_folder(folder: Path) -> tuple[Path, bool]:
    """:return: the folder holding ``config.yml`` and whether it is inside an rl_zoo3 run folder"""
    if (folder / "config.yml").is_file():
        return folder, False
    inner = sorted(p.parent for p in folder.glob("*/config.yml") if (folder / f"{p.parent.name}.zip").is_file())
    if len(inner) == 1:
        return inner[0], True
    raise FileNotFoundError(
        f"{str(folder)!r} is not an sb3-spiking agent folder: no config.yml (expected the Hub layout "
        "<algo>-<env>.zip + config.yml, or an rl_zoo3 run folder <env>.zip + <env>/config.yml)"
    )


def read_agent(folder: str | Path) -> AgentFiles:
    """
    Find and check the files of an agent folder (nothing is unpickled).

    :param folder: an agent folder in the Hub layout or an rl_zoo3 run folder
    :return: its files and settings
    """
    folder = Path(folder)
    params, run_folder = _params_folder(folder)
    config_file = params / "config.yml"
    config = read_yaml(config_file)
    args_file = params / "args.yml"
    args = read_yaml(args_file) if args_file.is_file() else {}
    args = args if isinstance(args, dict) else {}
    if isinstance(config, dict):
        config = dict(config)
        for key, arg in (("algo", "algo"), ("env_id", "env"), ("seed", "seed")):
            if key not in config and args.get(arg) is not None:
                config[key] = args[arg]
    missing = [key for key in REQUIRED_KEYS if not isinstance(config, dict) or key not in config]
    if missing:
        raise ValueError(
            f"{str(config_file)!r} lacks the keys {missing}; an agent's config.yml holds {list(REQUIRED_KEYS)} "
            "(or rl_zoo3's args.yml beside it holds algo and env)"
        )
    config["algo"] = RL_ZOO3_ALIASES.get(config["algo"], config["algo"])
    known = algorithms()
    if config["algo"] not in known:
        raise ValueError(f"unknown algorithm {config['algo']!r} in {str(config_file)!r}; allowed: {sorted(known)}")
    name = env_name(config["env_id"])
    model = folder / (f"{name}.zip" if run_folder else f"{config['algo']}-{name}.zip")
    if not model.is_file():
        zips = sorted(p.name for p in folder.glob("*.zip"))
        raise FileNotFoundError(f"{str(folder)!r} has no model {model.name!r} (zip files there: {zips})")
    vec_normalize = None
    if config.get("normalize"):
        vec_normalize = params / ("vecnormalize.pkl" if run_folder else "vec_normalize.pkl")
        if not vec_normalize.is_file():
            raise FileNotFoundError(
                f"{str(config_file)!r} says the observations are normalised (normalize: {config['normalize']!r}) "
                f"but {str(vec_normalize)!r} is missing"
            )
    env_kwargs_file = params / "env_kwargs.yml"
    env_kwargs = (read_yaml(env_kwargs_file) if env_kwargs_file.is_file() else None) or {}
    if not env_kwargs and isinstance(args.get("env_kwargs"), dict):
        env_kwargs = args["env_kwargs"]
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"{str(env_kwargs_file)!r} must hold a mapping of env arguments, got {env_kwargs!r}")
    return AgentFiles(folder, config, model, vec_normalize, dict(env_kwargs), args, run_folder)


def _saved_policy_class(model_file: Path) -> tuple[str, str]:
    """
    :return: module and name of the policy class recorded in an SB3 zip, read from the pickle's opcodes without
        unpickling (empty strings when the class was not pickled by reference)
    """
    with zipfile.ZipFile(model_file) as archive:
        data = json.loads(archive.read("data")) if "data" in archive.namelist() else {}
    policy_class = data.get("policy_class")
    serialized = policy_class.get(":serialized:") if isinstance(policy_class, dict) else None
    if not serialized:
        return "", ""
    try:
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(base64.b64decode(serialized))]
    except (ValueError, binascii.Error):
        return "", ""
    names = {name for name, _ in ops}
    if "GLOBAL" in names and names <= BY_REFERENCE | {"GLOBAL"}:
        module, _, name = next(arg for op, arg in ops if op == "GLOBAL").partition(" ")
        return module, name
    strings = [arg for op, arg in ops if op.endswith("UNICODE")]
    if "STACK_GLOBAL" in names and names <= BY_REFERENCE | {"STACK_GLOBAL"} and len(strings) == 2:
        return strings[0], strings[1]
    return "", ""


def _made_by(files: AgentFiles) -> str:
    """:return: the package versions that wrote the agent, as far as its files tell"""
    versions = []
    if "sb3_spiking_version" in files.config:
        versions.append(f"sb3-spiking {files.config['sb3_spiking_version']}")
    with zipfile.ZipFile(files.model) as archive:
        if "system_info.txt" in archive.namelist():
            for line in archive.read("system_info.txt").decode(errors="replace").splitlines():
                if line.lstrip("- ").startswith(("Stable-Baselines3", "Stable Baselines3")):
                    versions.append(line.lstrip("- ").strip())
    return ", ".join(versions) or "an unknown version"


def check_policy_class(files: AgentFiles) -> None:
    """
    Refuse a model whose policy class is not importable here, naming the class and the versions that made it.

    :param files: the agent
    """
    module, name = _saved_policy_class(files.model)
    if not module or not name:
        return
    try:
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"the policy class {module}.{name} of {str(files.model)!r} is not installed here ({error}); the agent "
            f"was made by {_made_by(files)}: install that version"
        ) from error


def _wrapper(config: dict[str, Any], key: str) -> Any:
    from rl_zoo3.utils import get_wrapper_class

    return get_wrapper_class(config, key) if config.get(key) else None


def make_env(files: AgentFiles, seed: int | None = None, env_kwargs: dict[str, Any] | None = None) -> VecEnv:
    """
    The evaluation env of an agent, built as rl_zoo3's ``create_test_env`` builds it: ``env_wrapper``,
    ``vec_env_wrapper``, the saved ``VecNormalize`` statistics (frozen, rewards not normalised), ``frame_stack``; a
    PettingZoo env (``env_module`` in ``config.yml``) through :func:`~sb3_spiking.marl.wrap_parallel_env`.

    :param files: the agent
    :param seed: seed of the env
    :param env_kwargs: keyword arguments replacing the saved ones
    :return: the one-env ``VecEnv``
    """
    kwargs = {**files.env_kwargs, **(env_kwargs or {})}
    config = files.config
    if config.get("env_module"):
        from sb3_spiking.marl import wrap_parallel_env

        env = wrap_parallel_env(importlib.import_module(config["env_module"]).parallel_env(**kwargs))
        env.seed(seed)
        return env
    import sb3_spiking  # noqa: F401  (registers the POMDP env ids)

    wrapper = _wrapper(config, "env_wrapper")
    env = make_vec_env(config["env_id"], n_envs=1, seed=seed, env_kwargs=kwargs, wrapper_class=wrapper)
    vec_env_wrapper = _wrapper(config, "vec_env_wrapper")
    if vec_env_wrapper is not None:
        env = vec_env_wrapper(env)
    if files.vec_normalize is not None:
        env = VecNormalize.load(str(files.vec_normalize), env)
        env.training, env.norm_reward = False, False
    if config.get("frame_stack"):
        env = VecFrameStack(env, int(config["frame_stack"]))
    return env


def load_local(
    folder: str | Path,
    seed: int | None = None,
    device: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[BaseAlgorithm, VecEnv]:
    """
    Load an agent folder (Hub layout or rl_zoo3 run folder) with its normalisation statistics applied to a fresh
    env. This unpickles the folder's files (as SB3's ``load`` does): load only folders you trust.

    :param folder: the agent folder
    :param seed: seed of the evaluation env
    :param device: torch device of the model
    :param env_kwargs: keyword arguments of the env constructor, replacing the saved ones
    :return: the model and its evaluation env (normalisation frozen; the observation wrapper of the recurrent
        off-policy algorithms included)
    """
    import sb3_spiking  # noqa: F401  (registers the spiking policy names)

    files = read_agent(folder)
    check_policy_class(files)
    env = make_env(files, seed=seed, env_kwargs=env_kwargs)
    model = algorithms()[files.algo].load(files.model, env=env, device=device)
    return model, model.get_env()


__all__ = ["AgentFiles", "algorithms", "check_policy_class", "env_name", "load_local", "make_env", "read_agent"]
