"""Writing an agent folder in the Hub layout (rl_zoo3 compatible), evaluated before it is moved into place."""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import json
import math
import shlex
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize, unwrap_vec_normalize

from sb3_spiking.energy import estimate
from sb3_spiking.hub.card import model_card
from sb3_spiking.hub.folder import AgentFiles, algorithms, env_name, load_local, read_agent
from sb3_spiking.resources import data_dir
from sb3_spiking.validation import check_bool, check_int

DEFAULT_ORG = "sb3-spiking"
PREV_ACTION_REWARD = "sb3_spiking.envs.VecPrevActionReward"


def _algo_name(model: BaseAlgorithm) -> str:
    known = algorithms()
    for name, cls in known.items():
        if type(model) is cls:
            return name
    raise ValueError(f"unsupported algorithm {type(model).__name__}; allowed: {sorted(known)}")


def _env_module(env_id: str) -> str:
    """:return: the PettingZoo module of a QMIX env id (``"mpe2:simple_spread_v3"`` or a key of ``qmix.yml``)"""
    if ":" in env_id:
        module = env_id.replace(":", ".")
    else:
        entries = yaml.safe_load((data_dir("zoo_configs") / "qmix.yml").read_text()) or {}
        if env_id not in entries:
            raise ValueError(
                f"unknown QMIX env id {env_id!r}: give it as '<package>:<module>' (e.g. 'mpe2:simple_spread_v3') "
                f"or as a key of zoo_configs/qmix.yml ({sorted(entries)})"
            )
        module = entries[env_id]["env_module"]
    if importlib.util.find_spec(module) is None or not hasattr(importlib.import_module(module), "parallel_env"):
        raise ValueError(f"QMIX env id {env_id!r}: {module!r} is not an importable module with parallel_env()")
    return module


def _json_ready(value: Any) -> Any:
    """Plain JSON / safe-YAML values: tuples as lists, non-finite floats as ``None`` (valid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def _model_config(model: BaseAlgorithm, algo: str, env_id: str, normalized: bool) -> dict[str, Any]:
    import sb3_spiking

    config: dict[str, Any] = {
        "algo": algo,
        "env_id": env_id,
        "policy": type(model.policy).__name__,
        "normalize": normalized,
        "n_timesteps": int(model.num_timesteps),
        "seed": model.seed,
        "sb3_spiking_version": sb3_spiking.__version__,
    }
    if algo == "qmix":
        config["env_module"] = _env_module(env_id)
    if algo in ("recurrent_td3", "recurrent_dqn"):
        config["vec_env_wrapper"] = PREV_ACTION_REWARD  # what rl_zoo3 enjoy (and make_env) add
    return config


def _run_budget(args: dict[str, Any]) -> int | None:
    """:return: the env steps an rl_zoo3 run was given with ``-n`` (its ``args.yml``), ``None`` when it kept the
    config entry's ``n_timesteps`` (rl_zoo3's -1)"""
    n_timesteps = args.get("n_timesteps", -1)
    return n_timesteps if n_timesteps > 0 else None


def _train_command(algo: str, env_id: str, config: dict[str, Any], args: dict[str, Any]) -> str:
    """:return: the training command of an rl_zoo3 run, from its ``args.yml``"""
    if not args:
        return ""
    words = ["sb3-spiking", "train", "--algo", algo, "--env", env_id, "--seed", str(config.get("seed", 0))]
    if _run_budget(args) is not None:
        words += ["-n", str(_run_budget(args))]
    conf = args.get("conf_file")
    if conf and Path(conf).resolve() != (data_dir("zoo_configs") / f"{algo}.yml").resolve():  # not the default
        words += ["--conf", str(conf)]
    if args.get("hyperparams"):
        overrides = args["hyperparams"].items()
        words += ["--hyperparams", *(f"{k}:{v if isinstance(v, str) else repr(v)}" for k, v in overrides)]
    return shlex.join(words)


def _metrics_zip(source: AgentFiles | None, path: Path) -> None:
    """``train_eval_metrics.zip`` (evaluations and monitor files of an rl_zoo3 run; empty without a run)."""
    with zipfile.ZipFile(path, "w") as archive:
        if source is None:
            return
        if not source.run_folder:
            old = source.folder / "train_eval_metrics.zip"
            if old.is_file():
                with zipfile.ZipFile(old) as previous:
                    for name in previous.namelist():
                        archive.writestr(name, previous.read(name))
            return
        for file in [source.folder / "evaluations.npz", *sorted(source.folder.glob("*.csv"))]:
            if file.is_file():
                archive.write(file, arcname=file.name)


def _estimate_energy(model: BaseAlgorithm, env: Any) -> dict[str, Any] | None:
    """:return: ``sb3_spiking.energy.estimate(model, env).to_dict()``, ``None`` (with a warning) for a model it cannot
    count"""
    try:
        return estimate(model, env=env).to_dict()
    except (NotImplementedError, ValueError, TypeError) as error:
        warnings.warn(f"no energy estimate for the model card: {error}", stacklevel=3)
        return None


def package(
    model: BaseAlgorithm | str | Path,
    env_id: str | None,
    out_dir: str | Path,
    vec_normalize: VecNormalize | None = None,
    env_kwargs: dict[str, Any] | None = None,
    n_eval_episodes: int = 10,
    command: str = "",
    extra_card: str = "",
    *,
    repo_id: str | None = None,
    energy: dict[str, Any] | None = None,
    estimate_energy: bool = True,
    overwrite: bool = False,
    seed: int = 0,
) -> Path:
    """
    Write an agent folder in the Hub layout: ``<algo>-<env>.zip``, ``config.yml``, ``args.yml``, ``env_kwargs.yml``,
    ``vec_normalize.pkl`` (when normalised), ``train_eval_metrics.zip``, ``results.json`` (measured now, on the
    files as written) and the ``README.md`` model card. The folder is written beside the target and moved into
    place only once the evaluation succeeded.

    :param model: a trained model, an rl_zoo3 run folder (``<log>/<algo>/<env>_<n>/``) or an agent folder
    :param env_id: gymnasium id of the env; for QMIX ``"<package>:<module>"`` of the PettingZoo env
        (``"mpe2:simple_spread_v3"``) or a key of ``zoo_configs/qmix.yml``; ``None`` for a folder (read from it)
    :param out_dir: parent folder; the agent goes to ``out_dir/<algo>-<policy>-<env>``
    :param vec_normalize: the normalisation wrapper used in training; ``None``: the model env's, if any
    :param env_kwargs: keyword arguments of the env constructor (a folder's saved ones by default)
    :param n_eval_episodes: deterministic evaluation episodes for ``results.json`` (at least 1)
    :param command: the command that trained the model (rebuilt from ``args.yml`` for an rl_zoo3 run)
    :param extra_card: extra markdown for the model card
    :param repo_id: the Hub repository named in the card's usage lines (default ``sb3-spiking/<folder name>``)
    :param energy: energy per decision for the card (``EnergyReport.to_dict()``); ``None``: estimated with
        ``sb3_spiking.energy.estimate`` when that module is installed and ``estimate_energy``
    :param estimate_energy: estimate the energy when ``energy`` is ``None``
    :param overwrite: replace an existing agent folder
    :param seed: seed of the evaluation env
    :return: the agent folder
    """
    check_int("n_eval_episodes", n_eval_episodes, minimum=1)
    check_bool("overwrite", overwrite)
    check_bool("estimate_energy", estimate_energy)
    source: AgentFiles | None = None
    args: dict[str, Any] = {}
    if isinstance(model, (str, Path)):
        source = read_agent(model)
        if env_id is not None and env_id != source.env_id:
            raise ValueError(f"env_id {env_id!r} differs from the agent's {source.env_id!r} in {str(model)!r}")
        env_id, algo = source.env_id, source.algo
        model, train_env = load_local(source.folder, device="cpu")
        vec_normalize = unwrap_vec_normalize(train_env)
        env_kwargs = source.env_kwargs if env_kwargs is None else env_kwargs
        config = {key: value for key, value in source.config.items() if key != "normalize_kwargs"}
        config.setdefault("policy", type(model.policy).__name__)
        args = source.args
        command = command or _train_command(algo, env_id, config, args)
    elif isinstance(model, BaseAlgorithm):
        if not isinstance(env_id, str):
            raise TypeError(f"env_id must be the model's env id (a string) when packaging a model, got {env_id!r}")
        algo = _algo_name(model)
        if vec_normalize is None and model.get_env() is not None:
            vec_normalize = unwrap_vec_normalize(model.get_env())
        config = _model_config(model, algo, env_id, vec_normalize is not None)
    else:
        raise TypeError(f"model must be an SB3 model or an agent / run folder, got {type(model).__name__}")
    env_kwargs = dict(env_kwargs or {})
    folder = Path(out_dir) / f"{algo}-{type(model.policy).__name__}-{env_name(env_id)}"
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{str(folder)!r} exists; pass overwrite=True to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save(staging / f"{algo}-{env_name(env_id)}.zip")
        if vec_normalize is not None:
            vec_normalize.save(str(staging / "vec_normalize.pkl"))
        (staging / "config.yml").write_text(yaml.safe_dump(_json_ready(config), sort_keys=False))
        (staging / "env_kwargs.yml").write_text(yaml.safe_dump(_json_ready(env_kwargs)))
        args = {
            **args,
            "algo": algo,
            "env": env_id,
            "env_kwargs": env_kwargs,
            "seed": config.get("seed"),
            "gym_packages": sorted({*args.get("gym_packages", []), "sb3_spiking"}),
        }
        (staging / "args.yml").write_text(yaml.safe_dump(_json_ready(args), sort_keys=True))
        _metrics_zip(source, staging / "train_eval_metrics.zip")
        loaded, env = load_local(staging, seed=seed, device="cpu")
        mean, std = evaluate_policy(loaded, env, n_eval_episodes=n_eval_episodes, deterministic=True)
        if energy is None and estimate_energy:
            energy = _estimate_energy(loaded, env)
        results: dict[str, Any] = {
            "mean_reward": float(mean),
            "std_reward": float(std),
            "is_deterministic": True,
            "n_eval_episodes": n_eval_episodes,
            "eval_datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        if energy:
            results["energy"] = energy
        results = _json_ready(results)
        (staging / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False) + "\n")
        card = model_card(
            loaded,
            algo,
            env_id,
            repo_id or f"{DEFAULT_ORG}/{folder.name}",
            results,
            config,
            n_timesteps=_run_budget(args),
            command=command,
            energy=results.get("energy"),
            extra=extra_card,
        )
        card.save(staging / "README.md")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
