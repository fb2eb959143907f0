"""
Pop-SAN actors as NIR graphs (Neuromorphic Intermediate Representation, package ``nir``, extra ``[nir]``).

The spiking layers become ``Input -> Affine -> CubaLIF -> ... -> Affine -> CubaLIF -> Output``. Pop-SAN's discrete
current-based LIF (seed 000, Eq. 11-13) with current decay ``alpha = d_c`` and voltage decay ``beta = d_v`` is the
forward-Euler step ``dt`` of NIR's ``CubaLIF`` with::

    tau_syn = dt / (1 - alpha),  tau_mem = dt / (1 - beta),  w_in = tau_syn / dt,  r = tau_mem / dt,
    v_leak = 0,  v_reset = 0,  v_threshold = threshold,  reset to v_reset after a spike (hard reset)

so that ``I <- alpha I + W o + b`` and ``v <- beta v + I``, one step per Pop-SAN timestep. The encoder and the decoder
stay on the host (:mod:`sb3_spiking.export.host`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking.export.host import host_parameters, save_host
from sb3_spiking.policies.popsan import SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.validation import check_float

try:
    import nir
except ImportError:  # the optional extra [nir]
    nir = None

NOT_REPRESENTABLE = {
    "CVTCPolicy": "CVTC neurons, whose spike times are the closed-form root of seed 001 Eq. 9 (no NIR node computes "
    "it)",
    "GRSNPolicy": "the GRSN cell's gates (sigmoid forget gate and ReLU input gate on the input current, seed 003 "
    "Eq. 13-14; no NIR node gates a current)",
    "LIFRecurrentPolicy": "the recurrent LIF policy's MLP heads and its real-valued core input (only Pop-SAN actors "
    "are exported)",
    "RecurrentTD3Policy": "the recurrent actor's embeddings, core and MLP head (only Pop-SAN actors are exported)",
    "RecurrentDQNPolicy": "the recurrent Q-network's embeddings, core and MLP head (only Pop-SAN actors are exported)",
    "QMIXPolicy": "the QMIX agent network's core and linear layers (only Pop-SAN actors are exported)",
}


def _require_nir() -> Any:
    if nir is None:
        raise ImportError("NIR export needs the package nir: pip install 'sb3-spiking[nir]'")
    return nir


def popsan_policy(policy: Any) -> SpikingPopPolicy | SpikingPopSACPolicy:
    """
    :param policy: a model or its policy
    :return: the Pop-SAN policy with LIF neurons; other models raise ``ValueError`` / ``TypeError`` naming the part
        that NIR cannot represent
    """
    if isinstance(policy, BaseAlgorithm):
        policy = policy.policy
    if not isinstance(policy, (SpikingPopPolicy, SpikingPopSACPolicy)):
        for cls in type(policy).__mro__:
            if cls.__name__ in NOT_REPRESENTABLE:
                raise ValueError(f"cannot export {type(policy).__name__} to NIR: {NOT_REPRESENTABLE[cls.__name__]}")
        raise TypeError(
            f"to_nir exports SpikingPopPolicy actors (TD3, DDPG, SAC) or their models, got {type(policy).__name__}"
        )
    if policy.config.neuron != "lif":
        raise ValueError(
            f"cannot export the {policy.config.neuron!r} neuron to NIR: MDC-SAN's dynamic neuron (quadratic voltage "
            f"term and recovery variable) has no NIR node; only neuron='lif' (Pop-SAN's current-based LIF) exports"
        )
    return policy


def _tau(name: str, decay: float, dt: float) -> float:
    if decay >= 1.0:
        raise ValueError(f"{name} = {decay} never decays: NIR's CubaLIF needs a finite time constant (decay < 1)")
    return dt / (1.0 - decay)


def to_nir(policy: Any, dt: float = 1e-4) -> Any:
    """
    The spiking layers of a Pop-SAN actor as a NIR graph, ``Input`` (the encoder's spikes, obs_dim x P_enc) ->
    ``Affine`` -> ``CubaLIF`` -> ... -> ``Output`` (the output population's spikes, act_dim x P_dec), to be run
    for ``T = graph.metadata["spike_ts"]`` steps from zero state for each observation.

    :param policy: a ``SpikingPopPolicy`` (TD3, DDPG, SAC) with ``neuron="lif"`` or its model
    :param dt: the time step the discrete neuron is the forward-Euler step of (1e-4 is what snnTorch's importer
        assumes)
    :return: the ``nir.NIRGraph``
    """
    policy = popsan_policy(policy)
    dt = check_float("dt", dt, minimum=0.0, strict=True)
    net, config = policy.actor.net, policy.config
    tau_syn = _tau("current_decay", config.current_decay, dt)
    tau_mem = _tau("voltage_decay", config.voltage_decay, dt)
    nir_module = _require_nir()
    nodes: dict[str, Any] = {"input": nir_module.Input(input_type={"input": np.array([net.encoder.num_neurons])})}
    edges, last = [], "input"
    for i, layer in enumerate(net.layers):
        size = layer.out_features
        nodes[f"fc{i}"] = nir_module.Affine(
            weight=layer.weight.detach().cpu().numpy().astype(np.float32),
            bias=layer.bias.detach().cpu().numpy().astype(np.float32),
        )
        full = np.ones(size, dtype=np.float32)
        nodes[f"lif{i}"] = nir_module.CubaLIF(
            tau_syn=full * tau_syn,
            tau_mem=full * tau_mem,
            r=full * (tau_mem / dt),
            v_leak=full * 0.0,
            v_threshold=full * config.threshold,
            v_reset=full * 0.0,
            w_in=full * (tau_syn / dt),
        )
        edges += [(last, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        last = f"lif{i}"
    nodes["output"] = nir_module.Output(output_type={"output": np.array([net.layers[-1].out_features])})
    edges.append((last, "output"))
    metadata = {"spike_ts": config.spike_ts, "dt": dt, "source": "sb3-spiking Pop-SAN actor (seed 000, Eq. 11-13)"}
    return nir_module.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def export_nir(
    policy: Any, path: str | Path, vec_normalize: VecNormalize | None = None, dt: float = 1e-4
) -> tuple[Path, Path]:
    """
    Write the NIR graph of a Pop-SAN actor (:func:`to_nir`) and, beside it, the host-side parameters (observation
    normalisation, encoder, decoder, action bounds; :func:`~sb3_spiking.export.host.host_parameters`).

    :param policy: a ``SpikingPopPolicy`` with ``neuron="lif"`` or its model
    :param path: the graph file (e.g. ``policy.nir``); the host file is ``<path without suffix>.host.npz``
    :param vec_normalize: the observation normalisation the policy was trained with, if any
    :param dt: see :func:`to_nir`
    :return: the graph file and the host file
    """
    graph = to_nir(policy, dt)
    path = Path(path)
    _require_nir().write(path, graph)
    host = save_host(host_parameters(popsan_policy(policy), vec_normalize), path.with_suffix(".host.npz"))
    return path, host
