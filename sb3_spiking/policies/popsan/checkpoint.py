"""Import of actors trained with the original Pop-SAN code (Tang et al., CoRL 2020) as SB3 TD3 models."""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize, unwrap_vec_normalize
from stable_baselines3.td3 import TD3

HIDDEN_KEY = re.compile(r"snn\.hidden_layers\.(\d+)\.weight")
STATE_DICT_CONTENT = (
    "a torch state dict of the original PopSpikeActor: encoder.mean and encoder.std (1, obs_dim, P_enc), "
    "snn.hidden_layers.{k}.weight|bias, snn.out_pop_layer.weight|bias, decoder.decoder.weight (act_dim, 1, P_dec), "
    "decoder.decoder.bias (act_dim,)"
)


def _read_state_dict(model_path: Path) -> dict[str, torch.Tensor]:
    """The original actor's state dict; refuses other files, naming what was expected."""
    if zipfile.is_zipfile(model_path):
        with zipfile.ZipFile(model_path) as archive:
            if "policy.pth" in archive.namelist():
                raise ValueError(
                    f"model_path {str(model_path)!r} is a Stable-Baselines3 model zip (load it with TD3.load), "
                    f"expected {STATE_DICT_CONTENT}"
                )
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise ValueError(
            f"model_path {str(model_path)!r} could not be read by torch.load ({err.__class__.__name__}); expected "
            f"{STATE_DICT_CONTENT}. Were model_path and mean_var_path swapped?"
        ) from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"model_path {str(model_path)!r} holds a {type(state).__name__}, expected {STATE_DICT_CONTENT}"
        )
    return dict(state)


def _actor_sizes(state: dict[str, torch.Tensor], model_path: Path) -> dict[str, Any]:
    """obs_dim, act_dim, P_enc, P_dec and hidden sizes of the original actor, with every shape checked."""
    n_hidden = sum(1 for key in state if HIDDEN_KEY.fullmatch(key))
    names = [f"snn.hidden_layers.{k}" for k in range(n_hidden)] + ["snn.out_pop_layer"]
    required = ["encoder.mean", "encoder.std", "decoder.decoder.weight", "decoder.decoder.bias"]
    required += [f"{name}.{part}" for name in names for part in ("weight", "bias")]
    missing = [key for key in required if key not in state]
    if missing:
        raise ValueError(f"model_path {str(model_path)!r} lacks the keys {missing}; expected {STATE_DICT_CONTENT}")
    mean, decoder = state["encoder.mean"], state["decoder.decoder.weight"]
    if mean.dim() != 3 or mean.shape[0] != 1 or state["encoder.std"].shape != mean.shape or decoder.dim() != 3:
        raise ValueError(
            f"model_path {str(model_path)!r}: encoder.mean {tuple(mean.shape)}, encoder.std "
            f"{tuple(state['encoder.std'].shape)}, decoder.decoder.weight {tuple(decoder.shape)}; "
            f"expected {STATE_DICT_CONTENT}"
        )
    obs_dim, encoder_pop_dim = mean.shape[1:]
    act_dim, _, decoder_pop_dim = decoder.shape
    n_in = obs_dim * encoder_pop_dim
    for name in names:
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        if weight.dim() != 2 or weight.shape[1] != n_in or bias.shape != weight.shape[:1]:
            raise ValueError(
                f"model_path {str(model_path)!r}: {name}.weight {tuple(weight.shape)} and .bias {tuple(bias.shape)} "
                f"do not follow a layer of {n_in} inputs; expected {STATE_DICT_CONTENT}"
            )
        n_in = weight.shape[0]
    if n_in != act_dim * decoder_pop_dim or state["decoder.decoder.bias"].shape != (act_dim,):
        raise ValueError(
            f"model_path {str(model_path)!r}: snn.out_pop_layer has {n_in} neurons, decoder.decoder.weight "
            f"{tuple(decoder.shape)} needs act_dim * P_dec = {act_dim * decoder_pop_dim}; expected {STATE_DICT_CONTENT}"
        )
    hidden = [int(state[f"{name}.weight"].shape[0]) for name in names[:-1]]
    return dict(obs_dim=int(obs_dim), act_dim=int(act_dim), encoder_pop_dim=int(encoder_pop_dim),
                decoder_pop_dim=int(decoder_pop_dim), hidden_sizes=hidden, names=names)  # fmt: skip


def _read_mean_var(mean_var_path: Path, obs_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The original's running observation mean and variance; refuses other files, naming what was expected."""
    content = f"a pickle of [mean, var], two arrays of obs_dim = {obs_dim} finite numbers, var >= 0"
    try:
        with open(mean_var_path, "rb") as file:
            loaded = pickle.load(file)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as err:
        raise ValueError(
            f"mean_var_path {str(mean_var_path)!r} is not a readable pickle ({err.__class__.__name__}); "
            f"expected {content}. Were model_path and mean_var_path swapped?"
        ) from err
    if not isinstance(loaded, (list, tuple)) or len(loaded) != 2:
        raise ValueError(f"mean_var_path {str(mean_var_path)!r} holds {type(loaded).__name__}, expected {content}")
    arrays = []
    for name, value in zip(("mean", "var"), loaded, strict=True):
        array = np.asarray(value)
        if array.shape != (obs_dim,) or not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise ValueError(
                f"mean_var_path {str(mean_var_path)!r}: {name} is {value!r} (shape {array.shape}), expected {content}"
            )
        arrays.append(array)
    if (arrays[1] < 0).any():
        raise ValueError(
            f"mean_var_path {str(mean_var_path)!r}: var has negative entries {arrays[1]}, expected {content}"
        )
    return arrays[0], arrays[1]


def _as_vec_env(env: VecEnv | gym.Env | str) -> VecEnv:
    """The env as a VecEnv; refuses one that already normalises its observations."""
    if isinstance(env, str):
        env = gym.make(env)
    if isinstance(env, VecEnv):
        if unwrap_vec_normalize(env) is not None:
            raise ValueError(
                "env is already wrapped in VecNormalize: its observations would be normalised twice. Pass the "
                "unnormalised env; load_popsan_checkpoint wraps it in a VecNormalize with the checkpoint's statistics"
            )
        return env
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be a gymnasium env, an env id or a VecEnv, got {env!r} ({type(env).__name__})")
    return DummyVecEnv([lambda single=env: single])


def load_popsan_checkpoint(
    model_path: str | Path, mean_var_path: str | Path, env: VecEnv | gym.Env | str, device: str = "auto"
) -> tuple[TD3, VecNormalize]:
    """
    Import a TD3 actor trained with the original Pop-SAN code (Tang et al., CoRL 2020).

    The actor's sizes (P_enc, hidden layers, P_dec) are read from the state dict; T = 5, mean_range (-3, 3),
    rectangular surrogate and the deterministic encoder are the original's test-time settings. The critic
    is freshly initialised (the original does not ship it).

    :param model_path: torch state dict of the original ``PopSpikeActor``
    :param mean_var_path: pickle of ``[mean, var]``, the original's running observation statistics
    :param env: the environment (a gymnasium env, an env id or a VecEnv) without observation normalisation, with
        symmetric action bounds equal in every dimension (the original's ``act_limit``)
    :param device: torch device of the model
    :return: ``(model, venv)``: a TD3 model with ``SpikingPopPolicy`` and a frozen ``VecNormalize`` around
        ``env`` holding the checkpoint's statistics (clip 3, eps = float32 machine epsilon, no reward
        normalisation). ``model.predict(venv.normalize_obs(obs))`` acts exactly like the original actor;
        ``model.get_env()`` is ``venv``, so ``evaluate_policy(model, venv)`` works directly.
    """
    model_path, mean_var_path = Path(model_path), Path(mean_var_path)
    state = _read_state_dict(model_path)
    sizes = _actor_sizes(state, model_path)
    obs_dim, act_dim = sizes["obs_dim"], sizes["act_dim"]
    mean, var = _read_mean_var(mean_var_path, obs_dim)
    env = _as_vec_env(env)
    obs_space, act_space = env.observation_space, env.action_space
    if (
        not isinstance(obs_space, spaces.Box)
        or not isinstance(act_space, spaces.Box)
        or obs_space.shape != (obs_dim,)
        or act_space.shape != (act_dim,)
    ):
        raise ValueError(f"checkpoint is for obs_dim={obs_dim}, act_dim={act_dim}; env has {obs_space}, {act_space}")
    if not (np.all(act_space.high == act_space.high.flat[0]) and np.all(act_space.low == -act_space.high)):
        raise ValueError(
            f"the original actor outputs act_limit * tanh with one act_limit; env's action bounds {act_space.low}, "
            f"{act_space.high} are not symmetric and equal in every dimension"
        )
    venv = VecNormalize(
        env, training=False, norm_obs=True, norm_reward=False, clip_obs=3.0, epsilon=float(np.finfo(np.float32).eps)
    )
    venv.obs_rms.mean, venv.obs_rms.var = mean, var  # dtypes as the original's
    policy_kwargs = dict(
        spike_ts=5,
        encoder_pop_dim=sizes["encoder_pop_dim"],
        decoder_pop_dim=sizes["decoder_pop_dim"],
        hidden_sizes=sizes["hidden_sizes"],
        encoder="deterministic",
        surrogate="rectangular",
    )
    model = TD3("SpikingPopPolicy", venv, policy_kwargs=policy_kwargs, learning_starts=0, device=device)
    encoder_pop_dim, decoder_pop_dim = sizes["encoder_pop_dim"], sizes["decoder_pop_dim"]
    net_state = {
        "encoder.mean": state["encoder.mean"].reshape(obs_dim, encoder_pop_dim),
        "encoder.std": state["encoder.std"].reshape(obs_dim, encoder_pop_dim),
        "decoder.weight": state["decoder.decoder.weight"].reshape(act_dim, decoder_pop_dim),
        "decoder.bias": state["decoder.decoder.bias"],
    }
    for i, name in enumerate(sizes["names"]):
        net_state[f"layers.{i}.weight"] = state[f"{name}.weight"]
        net_state[f"layers.{i}.bias"] = state[f"{name}.bias"]
    for actor in (model.policy.actor, model.policy.actor_target):
        actor.net.load_state_dict(net_state)
    return model, venv
