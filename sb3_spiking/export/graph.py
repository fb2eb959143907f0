"""
Pop-SAN actors as NIR graphs (Neuromorphic Intermediate Representation, package ``nir``, extra ``[nir]``).

The spiking layers become ``Input -> Affine -> CubaLIF -> ... -> Affine -> CubaLIF -> Output``. Pop-SAN's discrete
current-based LIF (seed 000, Eq. 11-13) with current decay ``alpha = d_c`` and voltage decay ``beta = d_v`` is the
forward-Euler step ``dt`` of NIR's ``CubaLIF`` with::

    tau_syn = dt / (1 - alpha),  tau_mem = dt / (1 - beta),  w_in = tau_syn / dt,  r = tau_mem / dt,
    v_leak = 0,  v_reset = 0,  v_threshold = threshold,  reset to v_reset after a spike (hard reset)

so that ``I <- alpha I + W o + b`` and ``v <- beta v + I``, one step per Pop-SAN timestep. The encoder and the decoder
stay on the host (:mod:`sb3_spiking.export.host`).

The LIF core of seed 003 (Eq. 1-5; ``core="lif"`` of RecurrentTD3 / RecurrentDQN / QMIX, RecurrentPPO's
``LIFRecurrentPolicy``) becomes ``Input -> Affine -> LIF -> ... -> Affine -> LIF -> Output``: its update
``u_t = beta u_hat_(t-1) + (1 - beta) c_t`` (Eq. 1) with ``c_t = W o + b`` (Eq. 2), ``o_t = H(u_t - theta)`` (Eq. 4) and
the hard reset to ``u_r`` (Eq. 3) is the forward-Euler step ``dt`` of NIR's ``LIF`` with::

    tau = dt / (1 - beta),  r = 1,  v_leak = 0,  v_threshold = theta,  v_reset = u_r

run for one step per env step, its state kept across steps and set to zero at every episode start (the core
has no recurrent weights: its memory is the membrane potential). The embeddings and heads around the core stay on
the host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking.algos.recurrent_off_policy import RecurrentOffPolicyPolicy
from sb3_spiking.export.host import core_host_parameters, host_parameters, save_host
from sb3_spiking.marl.policies import QMIXPolicy
from sb3_spiking.policies.grsn import SpikingRecurrentActorCriticPolicy
from sb3_spiking.policies.popsan import SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.snn.neurons import GRSNCell, LIFCell
from sb3_spiking.snn.recurrent import SpikingRecurrent
from sb3_spiking.validation import check_float

try:
    import nir
except ImportError:  # the optional extra [nir]
    nir = None

NOT_REPRESENTABLE = {
    "CVTCPolicy": "CVTC neurons, whose spike times are the closed-form root of seed 001 Eq. 9 (no NIR node computes "
    "it)",
}
GRSN_NOT_REPRESENTABLE = (
    "the GRSN cell's gates (sigmoid forget gate and ReLU input gate on the input current, seed 003 Eq. 13-14; no NIR "
    "node multiplies a current by a gate) and its soft reset (Eq. 12, subtracting the threshold; NIR's neurons reset "
    "to v_reset)"
)


def _require_nir() -> Any:
    if nir is None:
        raise ImportError("NIR export needs the package nir: pip install 'sb3-spiking[nir]'")
    return nir


def recurrent_core(policy: Any) -> tuple[str, SpikingRecurrent] | None:
    """
    :param policy: a policy
    :return: ``(name, core)`` of the recurrent core that acts (RecurrentTD3 actor, RecurrentDQN Q-network, QMIX agent,
        RecurrentPPO actor), ``None`` for other policies; a core NIR cannot represent raises ``ValueError`` naming the
        part that does not map
    """
    if isinstance(policy, RecurrentOffPolicyPolicy):
        name = "actor" if "actor" in policy._modules else "q_net"
        name, core = f"{name}.core", policy.network(name).core
    elif isinstance(policy, QMIXPolicy):
        name, core = "agent_net.core", policy.agent_net.core
    elif isinstance(policy, SpikingRecurrentActorCriticPolicy):
        name, core = "lstm_actor", policy.lstm_actor
    else:
        return None
    cells = list(core.cells) if isinstance(core, SpikingRecurrent) else []
    if cells and all(type(cell) is LIFCell for cell in cells):
        return name, core
    if any(isinstance(cell, GRSNCell) for cell in cells):
        part = GRSN_NOT_REPRESENTABLE
    elif cells:
        part = f"the spiking cell {type(cells[0]).__name__}, which has no NIR mapping (only the LIF cell exports)"
    else:
        part = f"the non-spiking core {type(core).__name__} (a GRU or MLP is not a spiking network)"
    raise ValueError(f"cannot export {type(policy).__name__} ({name}) to NIR: {part}")


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
            f"to_nir exports SpikingPopPolicy actors (TD3, DDPG, SAC) and the LIF cores of RecurrentTD3, RecurrentDQN, "
            f"QMIX and RecurrentPPO (LIFRecurrentPolicy), or their models; got {type(policy).__name__}"
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


def _lif_core_graph(name: str, core: SpikingRecurrent, dt: float) -> Any:
    """The LIF core as ``Input -> Affine -> LIF -> ... -> Output`` (mapping in the module docstring)."""
    nir_module = _require_nir()
    nodes: dict[str, Any] = {"input": nir_module.Input(input_type={"input": np.array([core.input_size])})}
    edges, last = [], "input"
    for i, cell in enumerate(core.cells):
        nodes[f"fc{i}"] = nir_module.Affine(  # Eq. 2
            weight=cell.fc.weight.detach().cpu().numpy().astype(np.float32),
            bias=cell.fc.bias.detach().cpu().numpy().astype(np.float32),
        )
        full = np.ones(cell.hidden_size, dtype=np.float64)
        nodes[f"lif{i}"] = nir_module.LIF(  # Eq. 1, 3, 4
            tau=full * _tau("beta", cell.beta, dt),
            r=full,
            v_leak=full * 0.0,
            v_threshold=full * cell.threshold,
            v_reset=full * cell.reset_potential,
        )
        edges += [(last, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        last = f"lif{i}"
    nodes["output"] = nir_module.Output(output_type={"output": np.array([core.hidden_size])})
    edges.append((last, "output"))
    metadata = {
        "dt": dt,
        "core": name,
        "steps": "one graph step per env step; state kept across steps, zero at every episode start",
        "source": "sb3-spiking LIF core (seed 003, Eq. 1-5)",
    }
    return nir_module.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def to_nir(policy: Any, dt: float = 1e-4) -> Any:
    """
    The spiking layers of a policy as a NIR graph:

    - a Pop-SAN actor: ``Input`` (the encoder's spikes, obs_dim x P_enc) -> ``Affine`` -> ``CubaLIF`` -> ... ->
      ``Output`` (the output population's spikes, act_dim x P_dec), to be run for ``T = graph.metadata["spike_ts"]``
      steps from zero state for each observation;
    - a LIF recurrent core (RecurrentTD3 actor, RecurrentDQN Q-network, QMIX agent, RecurrentPPO
      ``LIFRecurrentPolicy`` actor): ``Input`` (the core input the policy computes on the host, e.g. the embeddings)
      -> ``Affine`` -> ``LIF`` -> ... -> ``Output`` (the core's spikes), one step per env step, state zero at each
      episode start.

    :param policy: a ``SpikingPopPolicy`` (TD3, DDPG, SAC) with ``neuron="lif"``, a policy with a LIF core, or a model
    :param dt: the time step the discrete neuron is the forward-Euler step of (1e-4 is what snnTorch's importer
        assumes)
    :return: the ``nir.NIRGraph``
    """
    dt = check_float("dt", dt, minimum=0.0, strict=True)
    found = recurrent_core(policy.policy if isinstance(policy, BaseAlgorithm) else policy)
    if found is not None:
        return _lif_core_graph(*found, dt)
    policy = popsan_policy(policy)
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
    Write the NIR graph of a policy (:func:`to_nir`) and, beside it, what stays on the host: for a Pop-SAN actor the
    observation normalisation, encoder, decoder and action bounds (:func:`~sb3_spiking.export.host.host_parameters`,
    read by ``host_encode`` / ``host_decode``); for a LIF core the observation normalisation and the parameters of
    every layer outside the core, by module path (:func:`~sb3_spiking.export.host.core_host_parameters`).

    :param policy: a ``SpikingPopPolicy`` with ``neuron="lif"``, a policy with a LIF core, or a model
    :param path: the graph file (e.g. ``policy.nir``); the host file is ``<path without suffix>.host.npz``
    :param vec_normalize: the observation normalisation the policy was trained with, if any
    :param dt: see :func:`to_nir`
    :return: the graph file and the host file
    """
    graph = to_nir(policy, dt)
    path = Path(path)
    _require_nir().write(path, graph)
    plain = policy.policy if isinstance(policy, BaseAlgorithm) else policy
    found = recurrent_core(plain)
    if found is not None:
        params = core_host_parameters(plain, found[1], vec_normalize)
    else:
        params = host_parameters(popsan_policy(plain), vec_normalize)
    return path, save_host(params, path.with_suffix(".host.npz"))
