"""
The parts of an exported Pop-SAN actor that stay on the host (as in Pop-SAN's Loihi deployment): the observation
normalisation, the Gaussian population encoder and the population decoder, in NumPy only, so a deployment needs
neither torch nor this package's models.

``host_encode(params, obs)`` gives the input frames of the exported graph (T, batch, obs_dim * P_enc);
``host_decode(params, spikes)`` turns the graph's output spikes (T, batch, act_dim * P_dec) into env actions.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from sb3_spiking.policies.popsan import SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.snn.coding import ENCODER_THRESHOLD

HostParams = dict[str, np.ndarray]


def host_parameters(
    policy: SpikingPopPolicy | SpikingPopSACPolicy, vec_normalize: VecNormalize | None = None
) -> HostParams:
    """
    :param policy: a Pop-SAN policy
    :param vec_normalize: the observation normalisation the policy was trained with, if any
    :return: the host-side parameters (plain arrays), as :func:`save_host` writes them
    """
    net = policy.actor.net
    encoder, decoder = net.encoder, net.decoder
    params: HostParams = {
        "encoder_mean": encoder.mean.detach().cpu().double().numpy(),
        "encoder_std": encoder.std.detach().cpu().double().numpy(),
        "encoder_real": np.array(encoder.mode == "real"),
        "encoder_threshold": np.array(ENCODER_THRESHOLD),
        "spike_ts": np.array(encoder.spike_ts),
        "decoder_weight": decoder.weight.detach().cpu().double().numpy(),
        "decoder_bias": decoder.bias.detach().cpu().double().numpy(),
        "action_low": np.asarray(policy.action_space.low, dtype=np.float64),
        "action_high": np.asarray(policy.action_space.high, dtype=np.float64),
    }
    return {**params, **_normalisation(vec_normalize)}


def _normalisation(vec_normalize: VecNormalize | None) -> HostParams:
    """:return: the observation normalisation's statistics (none without ``VecNormalize`` or with ``norm_obs=False``)"""
    if vec_normalize is None or not vec_normalize.norm_obs:
        return {}
    return {
        "obs_mean": np.asarray(vec_normalize.obs_rms.mean, dtype=np.float64),
        "obs_var": np.asarray(vec_normalize.obs_rms.var, dtype=np.float64),
        "clip_obs": np.array(vec_normalize.clip_obs, dtype=np.float64),
        "obs_epsilon": np.array(vec_normalize.epsilon, dtype=np.float64),
    }


def core_host_parameters(policy: nn.Module, core: nn.Module, vec_normalize: VecNormalize | None = None) -> HostParams:
    """
    What stays on the host around an exported recurrent core: every parameter and buffer of ``policy`` outside
    ``core`` (embeddings, heads, critics), keyed by its path in the policy, and the observation
    normalisation.

    :param policy: a policy with a LIF core
    :param core: its exported core
    :param vec_normalize: the observation normalisation the policy was trained with, if any
    :return: the host-side parameters (plain arrays)
    """
    in_core = {id(tensor) for tensor in itertools.chain(core.parameters(), core.buffers())}
    tensors = itertools.chain(policy.named_parameters(), policy.named_buffers())
    params = {name: tensor.detach().cpu().numpy() for name, tensor in tensors if id(tensor) not in in_core}
    return {**params, **_normalisation(vec_normalize)}


def save_host(params: HostParams, path: str | Path) -> Path:
    """Write the host parameters as a NumPy ``.npz`` file (no pickle)."""
    path = Path(path)
    with open(path, "wb") as file:
        np.savez(file, **params)
    return path


def load_host(path: str | Path) -> HostParams:
    """Read the host parameters written by :func:`save_host`."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def host_encode(params: HostParams, obs: np.ndarray) -> np.ndarray:
    """
    Observations to the input frames of the exported graph: normalisation (when the policy was trained with
    ``VecNormalize``), receptive fields ``A = exp(-0.5 ((s - mu) / sigma)^2)`` (seed 000, Eq. 7) and the
    deterministic integrate-and-fire encoder (Eq. 8-10); with the ``"real"`` encoder, ``A`` at every step.

    :param params: host parameters
    :param obs: observations (batch, obs_dim) as the env returns them
    :return: input frames (T, batch, obs_dim * P_enc)
    """
    obs = np.asarray(obs, dtype=np.float64)
    if "obs_mean" in params:
        clip = float(params["clip_obs"])
        obs = np.clip((obs - params["obs_mean"]) / np.sqrt(params["obs_var"] + params["obs_epsilon"]), -clip, clip)
    mean, std = params["encoder_mean"], params["encoder_std"]
    stimulus = np.exp(-0.5 * (obs[..., None] - mean) ** 2 / std**2).reshape(obs.shape[0], -1)  # Eq. 7
    spike_ts = int(params["spike_ts"])
    if bool(params["encoder_real"]):
        return np.broadcast_to(stimulus, (spike_ts, *stimulus.shape)).copy()
    threshold = float(params["encoder_threshold"])
    frames, volt = [], np.zeros_like(stimulus)
    for _ in range(spike_ts):
        volt = volt + stimulus  # Eq. 8
        spikes = (volt > threshold).astype(np.float64)  # Eq. 9
        volt = volt - threshold * spikes  # Eq. 10
        frames.append(spikes)
    return np.stack(frames)


def host_decode(params: HostParams, spikes: np.ndarray) -> np.ndarray:
    """
    Output spikes of the exported graph to env actions: firing rates (seed 000, Eq. 14-15), one linear readout
    per action dimension (Eq. 16), ``tanh`` and the action bounds, as ``model.predict(obs, deterministic=True)``.

    :param params: host parameters
    :param spikes: output population spikes (T, batch, act_dim * P_dec)
    :return: actions (batch, act_dim)
    """
    weight = params["decoder_weight"]
    rate = np.asarray(spikes, dtype=np.float64).mean(0).reshape(-1, *weight.shape)  # Eq. 14-15
    squashed = np.tanh((rate * weight).sum(-1) + params["decoder_bias"])  # Eq. 16, then the actor's tanh
    low, high = params["action_low"], params["action_high"]
    return low + 0.5 * (squashed + 1.0) * (high - low)
