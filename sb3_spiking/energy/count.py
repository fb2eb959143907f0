"""
Operation counts of the network that acts at deployment, measured with forward hooks on real rollouts of the
model in its env (deterministic actions), for every policy family of the package:

- ``SpikingPopPolicy`` (TD3 / DDPG / SAC; both neurons, all encoders): the actor's ``PopSpikingNetwork``;
- ``CVTCPolicy`` (DQN / DoubleDQN): the online Q-network, each neuron firing at most once;
- ``GRSNPolicy`` / ``LIFRecurrentPolicy`` (RecurrentPPO): the actor's core, MLP and action head;
- ``RecurrentTD3`` / ``RecurrentDQN``: the actor / Q ``SequenceNetwork``;
- ``QMIX``: the shared agent network (one decision = one agent's action).

With ``networks="all"``, the networks used only in training are counted too, each evaluated once per env step on
the rollout's observations and actions (:func:`training_networks`): SB3's MLP critics of the Pop-SAN policies,
RecurrentTD3's critics with their cores, the RecurrentPPO value path, QMIX's mixer. Target networks (copies) and the
training updates themselves (batches, backward passes) are not counted.

Each layer is described by :class:`Synapses` (its module, the fan-out of each input, which inputs carry spikes);
a hook on the module counts, per call, the spikes among its spiking inputs (one accumulate per spike per fan-out,
seed 003 Eq. 15) and the dense multiply-accumulates of its real-valued inputs (seed 003 Eq. 16).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.type_aliases import GymEnv
from torch import Tensor, nn

from sb3_spiking.algos.recurrent_off_policy import RecurrentOffPolicyPolicy, SequenceNetwork
from sb3_spiking.algos.recurrent_td3.policies import RecurrentTD3Policy
from sb3_spiking.energy.report import EnergyReport, LayerEnergy
from sb3_spiking.marl.env_utils import read_state
from sb3_spiking.marl.policies import QMIXPolicy
from sb3_spiking.policies.cvtc import CVTCPolicy
from sb3_spiking.policies.grsn import SpikingRecurrentActorCriticPolicy
from sb3_spiking.policies.popsan import SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.snn.cores import GRUCore, MLPCore
from sb3_spiking.snn.recurrent import SpikingRecurrent
from sb3_spiking.snn.temporal import NO_SPIKE_Z
from sb3_spiking.validation import check_choice, check_float, check_int


def _nonzero(x: Tensor) -> Tensor:
    return x != 0


def _cvtc_fired(z: Tensor) -> Tensor:
    return z < NO_SPIKE_Z  # an input neuron that never fired (beta = 0) sends no event


def _rows(x: Tensor) -> int:
    return x.numel() // x.shape[-1]


def _rows_once_per_window(x: Tensor) -> int:
    return x[0].numel() // x.shape[-1]  # (T, batch, features) read once per decision (a decoder of firing rates)


@dataclasses.dataclass
class Synapses:
    """
    One layer to count, through a forward hook on ``module`` (its first positional input is the layer input).

    :param name: the layer's name in the report
    :param module: the module whose input is the layer input
    :param fan_out: synapses each input element feeds (``out_features``; 3 x for a GRU's gates); 0 for a layer whose
        operations are all in ``extra_macs``
    :param n_spiking: number of leading input features that carry spikes (one accumulate per spike per fan-out);
        the other features are real-valued (one multiply-accumulate per feature per fan-out and evaluation)
    :param extra_macs: multiply-accumulates per evaluation besides those of the inputs (a GRU's recurrent weights, the
        CVTC self-incremental term, embeddings computed inside their network's forward)
    :param fired: which spiking inputs carry a spike (default: non-zero)
    :param evaluations: number of evaluations in one call from the input (default: all rows of its last axis)

    The other fields are what :meth:`hook` has counted so far (spikes, spiking input slots, synaptic operations,
    multiply-accumulates, evaluations, input width).
    """

    name: str
    module: nn.Module
    fan_out: int
    n_spiking: int = 0
    extra_macs: int = 0
    fired: Callable[[Tensor], Tensor] = _nonzero
    evaluations: Callable[[Tensor], int] = _rows
    spikes: float = 0.0
    spike_slots: float = 0.0
    sops: float = 0.0
    macs: float = 0.0
    calls: int = 0
    n_features: int = 0

    def hook(self, _module: nn.Module, args: tuple[Any, ...]) -> None:
        """Forward pre-hook: count the operations of one call on its input ``args[0]`` (..., features)."""
        x = args[0]
        n_eval = self.evaluations(x)
        self.calls += n_eval
        self.n_features = x.shape[-1]
        n_real = self.n_features - self.n_spiking
        if self.n_spiking:
            spikes = float(self.fired(x[..., : self.n_spiking]).sum())
            self.spikes += spikes
            self.spike_slots += _rows(x) * self.n_spiking
            self.sops += spikes * self.fan_out
        self.macs += (n_eval * n_real * self.fan_out) + n_eval * self.extra_macs

    def energy(self, decisions: int, ac_pj: float, mac_pj: float) -> LayerEnergy:
        """:return: this layer's operations per decision"""
        if self.n_spiking == 0:
            inputs = "real"
        else:
            inputs = "spikes" if self.n_features == self.n_spiking else "spikes+real"
        sops, macs = self.sops / decisions, self.macs / decisions
        rate = self.spikes / self.spike_slots if self.spike_slots else None
        return LayerEnergy(self.name, inputs, rate, sops, macs, sops * ac_pj + macs * mac_pj)


@dataclasses.dataclass
class Counted:
    """
    The acting network of a policy, as layers to count and its equivalent ANN.

    :param network: description of the network
    :param layers: the layers; decisions are the evaluations of the first one
    :param ann: description of the equivalent ANN
    :param ann_macs: ``(layer name, MACs per decision)`` of the equivalent ANN
    :param uncompiled: ``(object, attribute, callable)`` to swap in while counting: a module's ``__call__`` for its
        ``forward`` (hooks run only when a module is called), the plain function for a ``torch.compile``-d one
    """

    network: str
    layers: list[Synapses]
    ann: str
    ann_macs: list[tuple[str, float]]
    uncompiled: list[tuple[Any, str, Callable[..., Any]]] = dataclasses.field(default_factory=list)


def _linear(name: str, layer: nn.Linear, spiking: bool | int = False) -> Synapses:
    n_spiking = layer.in_features if spiking is True else int(spiking)
    return Synapses(name, layer, layer.out_features, n_spiking=n_spiking)


def _mlp(prefix: str, layers: nn.Module, first_spiking: bool | int) -> list[Synapses]:
    """Linear layers of a Sequential MLP; only the first can take spikes (the others follow an activation)."""
    linears = [(f"{prefix}.{name}", m) for name, m in layers.named_modules() if isinstance(m, nn.Linear)]
    return [_linear(name, m, first_spiking if i == 0 else False) for i, (name, m) in enumerate(linears)]


def _mlp_macs(prefix: str, layers: nn.Module) -> list[tuple[str, int]]:
    """:return: ``(name, in x out)`` of the Linear layers of an MLP"""
    return [(f"{prefix}.{name}", m.in_features * m.out_features) for name, m in layers.named_modules()
            if isinstance(m, nn.Linear)]  # fmt: skip


def _mlp_dims(layers: nn.Module) -> list[int]:
    linears = [m for m in layers.modules() if isinstance(m, nn.Linear)]
    return [linears[0].in_features, *(m.out_features for m in linears)] if linears else []


def _dense_macs(prefix: str, dims: list[int]) -> list[tuple[str, int]]:
    return [(f"{prefix}.{i}", n_in * n_out) for i, (n_in, n_out) in enumerate(itertools.pairwise(dims))]


def is_spiking(core: nn.Module) -> bool:
    """:return: whether a core from :func:`~sb3_spiking.snn.cores.make_core` emits spikes"""
    return isinstance(core, SpikingRecurrent)


def _core(prefix: str, core: nn.Module) -> list[Synapses]:
    """The layers of a recurrent core fed by real-valued inputs."""
    if isinstance(core, SpikingRecurrent):
        layers = []
        for i, cell in enumerate(core.cells):  # every Linear of a cell acts on the cell input (Eq. 2, Eq. 14)
            for name, module in cell.named_modules():
                if isinstance(module, nn.Linear):
                    layers.append(_linear(f"{prefix}.cells.{i}.{name}", module, spiking=i > 0))
        return layers
    if isinstance(core, GRUCore):
        hidden, n_layers = core.hidden_size, core.num_layers
        extra_macs = 3 * hidden * hidden * n_layers + 3 * hidden * hidden * (n_layers - 1)
        return [Synapses(f"{prefix} (GRU)", core.gru, 3 * hidden, extra_macs=extra_macs)]
    if isinstance(core, MLPCore):
        return _mlp(f"{prefix}.net", core.net, False)
    raise ValueError(
        f"cannot count the operations of the core {type(core).__name__}: sb3_spiking.energy knows SpikingRecurrent "
        f"(grsn, lif and cells registered on it), GRUCore and MLPCore"
    )


def _gru_macs(prefix: str, n_in: int, hidden: int, n_layers: int) -> list[tuple[str, int]]:
    """A GRU's input and recurrent weights, 3 gates each, per step."""
    return [(f"{prefix} (GRU)", 3 * (n_in * hidden + hidden * hidden) + 3 * 2 * hidden * hidden * (n_layers - 1))]


def _core_shape(core: nn.Module) -> tuple[int, int, int]:
    """:return: input size, hidden size and number of layers of a core"""
    return core.input_size, core.hidden_size, core.num_layers


def _popsan(policy: SpikingPopPolicy | SpikingPopSACPolicy) -> Counted:
    actor = policy.actor
    net = actor.net
    config = net.config
    encoder = net.encoder
    spikes_in = encoder.mode != "real"  # bernoulli encoders give the deterministic spikes in eval mode
    # Eq. 7, one receptive field per obs component and encoder neuron, counted at the network's input
    layers = [Synapses("encoder (receptive fields)", net, encoder.pop_dim)]
    for i, layer in enumerate(net.layers):
        layers.append(_linear(f"layers.{i}", layer, spiking=spikes_in or i > 0))
    decoder = net.decoder
    layers.append(Synapses("decoder", decoder, 1, evaluations=_rows_once_per_window))  # Eq. 16, one weight per rate
    dims = [encoder.obs_dim, *config.hidden_sizes, decoder.act_dim]
    return Counted(
        network=f"{type(policy).__name__} actor (neuron {config.neuron}, encoder {config.encoder}, T = "
        f"{config.spike_ts})",
        layers=layers,
        ann=f"MLP actor {dims}",
        ann_macs=_dense_macs("fc", dims),
        uncompiled=[(actor, "run_net", net.__call__)],  # called as a module, so that its hooks run
    )


def _cvtc(policy: CVTCPolicy) -> Counted:
    q_net = policy.q_net
    encoder = q_net.encoder
    layers = [Synapses("encoder (receptive fields)", encoder, encoder.n_neurons)]  # seed 001 Eq. 14
    for i, layer in enumerate(q_net.layers):
        # one event per input spike per fan-out; the self-incremental term beta z (seed 001 Eq. 7, 9): one MAC per
        # neuron and decision while beta > 0
        layers.append(
            Synapses(f"layers.{i}", layer, layer.out_features, n_spiking=layer.in_features,
                     extra_macs=layer.out_features if layer.beta > 0 else 0, fired=_cvtc_fired)
        )  # fmt: skip
    dims = [q_net.features_dim, *policy.config.hidden_sizes, int(policy.action_space.n)]
    return Counted(
        network=f"CVTCPolicy Q-network (inference mode {policy.inference_mode})",
        layers=layers,
        ann=f"MLP Q-network {dims}",
        ann_macs=_dense_macs("fc", dims),
        uncompiled=[(q_net, "_run_layers", q_net._encode_and_fire)] if q_net.compile_network else [],
    )


def _recurrent_ppo(policy: SpikingRecurrentActorCriticPolicy) -> Counted:
    if not isinstance(policy.pi_features_extractor, FlattenExtractor):
        raise ValueError(
            f"cannot count the features extractor {type(policy.pi_features_extractor).__name__}; sb3_spiking.energy "
            f"counts RecurrentPPO policies with the default FlattenExtractor"
        )
    core = policy.lstm_actor
    spiking = is_spiking(core)
    layers = _core("lstm_actor", core)
    policy_net = policy.mlp_extractor.policy_net
    layers += _mlp("mlp_extractor.policy_net", policy_net, spiking)
    head_spiking = spiking and not any(isinstance(m, nn.Linear) for m in policy_net.modules())
    layers.append(_linear("action_net", policy.action_net, head_spiking))
    n_in, hidden, n_layers = _core_shape(core)
    mlp_dims = _mlp_dims(policy_net)
    ann_macs = _gru_macs("lstm_actor", n_in, hidden, n_layers) + _mlp_macs("mlp_extractor.policy_net", policy_net)
    ann_macs.append(("action_net", policy.action_net.in_features * policy.action_net.out_features))
    return Counted(
        network=f"{type(policy).__name__} actor (core {policy.cell})",
        layers=layers,
        ann=f"GRU actor ({n_in} -> {hidden} x {n_layers} -> MLP {mlp_dims or [hidden]} -> action)",
        ann_macs=ann_macs,
    )


def _sequence_layers(prefix: str, net: SequenceNetwork) -> tuple[list[Synapses], list[tuple[str, float]]]:
    """
    :param prefix: prefix of the layer names (``""`` for the acting network, ``"critic.qf0."`` for a critic)
    :param net: a sequence network
    :return: its layers to count and the layers of the same network with a GRU core
    """
    embeddings = [net.obs_embedding[0], net.action_embedding[0], net.reward_embedding[0]]
    layers = [
        # the three embeddings run as one block-diagonal layer inside the network's forward: counted at its input
        Synapses(
            f"{prefix}embeddings (obs, prev action, prev reward)",
            net,
            0,
            extra_macs=sum(layer.in_features * layer.out_features for layer in embeddings),
        ),
        *_core(f"{prefix}core", net.core),
        # [core output, obs embedding (, current action of a critic)]
        *_mlp(f"{prefix}head", net.head, net.core.hidden_size if is_spiking(net.core) else False),
    ]
    n_in, hidden, n_layers = _core_shape(net.core)
    ann_macs = [
        (f"{prefix}obs_embedding", net.obs_embedding[0].in_features * net.obs_embedding[0].out_features),
        (f"{prefix}action_embedding", net.action_embedding[0].in_features * net.action_embedding[0].out_features),
        (f"{prefix}reward_embedding", net.reward_embedding[0].out_features),
        *_gru_macs(f"{prefix}core", n_in, hidden, n_layers),
        *_mlp_macs(f"{prefix}head", net.head),
    ]
    return layers, ann_macs


def _sequence_network(name: str, policy: RecurrentOffPolicyPolicy, net: SequenceNetwork) -> Counted:
    layers, ann_macs = _sequence_layers("", net)
    n_in, hidden, n_layers = _core_shape(net.core)
    return Counted(
        network=f"{type(policy).__name__} {name} (core {policy.core})",
        layers=layers,
        ann=f"GRU {name} (embeddings -> GRU {n_in} -> {hidden} x {n_layers} -> MLP head {_mlp_dims(net.head)})",
        ann_macs=ann_macs,
    )


def _qmix(policy: QMIXPolicy) -> Counted:
    agent = policy.agent_net
    spiking = is_spiking(agent.core)
    layers = [_linear("fc_in", agent.fc_in), *_core("core", agent.core), _linear("fc_out", agent.fc_out, spiking)]
    n_in, hidden, n_layers = _core_shape(agent.core)
    ann_macs = [
        ("fc_in", agent.fc_in.in_features * agent.fc_in.out_features),
        *_gru_macs("core", n_in, hidden, n_layers),
        ("fc_out", agent.fc_out.in_features * agent.fc_out.out_features),
    ]
    return Counted(
        network=f"QMIX agent network (core {agent.core_type}; one decision = one agent's action)",
        layers=layers,
        ann=f"GRU agent network ({agent.fc_in.in_features} -> {n_in} -> GRU {hidden} x {n_layers} -> "
        f"{agent.fc_out.out_features})",
        ann_macs=ann_macs,
    )


def acting_network(model: BaseAlgorithm) -> Counted:
    """
    :param model: a model of one of the package's policy families
    :return: the layers of the network that acts at deployment and its equivalent ANN
    """
    policy = model.policy
    if isinstance(policy, (SpikingPopPolicy, SpikingPopSACPolicy)):
        return _popsan(policy)
    if isinstance(policy, CVTCPolicy):
        return _cvtc(policy)
    if isinstance(policy, SpikingRecurrentActorCriticPolicy):
        return _recurrent_ppo(policy)
    if isinstance(policy, RecurrentOffPolicyPolicy):
        name = "actor" if "actor" in policy._modules else "q_net"
        return _sequence_network(name, policy, policy.network(name))
    if isinstance(policy, QMIXPolicy):
        return _qmix(policy)
    raise TypeError(
        f"sb3_spiking.energy counts SpikingPopPolicy (TD3, DDPG, SAC), CVTCPolicy (DQN, DoubleDQN), GRSNPolicy / "
        f"LIFRecurrentPolicy (RecurrentPPO), RecurrentTD3, RecurrentDQN and QMIX models; got a "
        f"{type(model).__name__} with {type(policy).__name__}"
    )


Evaluate = Callable[[Any, np.ndarray, np.ndarray], None]


@dataclasses.dataclass
class Training:
    """
    The networks of a policy used only in training, evaluated once per env step during the rollout.

    :param network: description of the networks
    :param layers: the layers to count
    :param ann_macs: ``(layer name, MACs per decision)`` of the same networks in the equivalent ANN
    :param evaluate: ``evaluate(obs, actions, episode_starts)``: one evaluation of the networks on the observation
        the acting network just saw, its actions and the episode starts it was given (keeping any recurrent state)
    :param capture: forward hooks ``(module, hook)`` to register while counting (values the evaluation needs from
        the acting network, e.g. the chosen utilities of QMIX's agents)
    """

    network: str
    layers: list[Synapses]
    ann_macs: list[tuple[str, float]]
    evaluate: Evaluate
    capture: list[tuple[nn.Module, Callable[..., None]]] = dataclasses.field(default_factory=list)


def _tensor(policy: Any, x: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=policy.device)


def _mlp_critics(policy: SpikingPopPolicy | SpikingPopSACPolicy) -> Training:
    """SB3's ``ContinuousCritic`` (TD3 / DDPG / SAC): ``n_critics`` MLPs on ``[obs, scaled action]``."""
    critic = policy.critic
    if not isinstance(critic.features_extractor, FlattenExtractor):
        raise ValueError(
            f"cannot count the critic's features extractor {type(critic.features_extractor).__name__}; "
            f"sb3_spiking.energy counts critics with the default FlattenExtractor"
        )
    layers, ann_macs = [], []
    for i, q_net in enumerate(critic.q_networks):
        layers += _mlp(f"critic.qf{i}", q_net, False)
        ann_macs += _mlp_macs(f"critic.qf{i}", q_net)

    def evaluate(obs: np.ndarray, actions: np.ndarray, _starts: np.ndarray) -> None:
        critic(policy.obs_to_tensor(obs)[0], _tensor(policy, policy.scale_action(actions)))

    dims = _mlp_dims(critic.q_networks[0])
    return Training(f"{len(critic.q_networks)} MLP critics {dims}", layers, ann_macs, evaluate)


def _recurrent_critics(policy: RecurrentTD3Policy) -> Training:
    """RecurrentTD3's critics, each a sequence network with its own core, stepped once per env step."""
    q_networks = policy.critic.q_networks
    layers, ann_macs = [], []
    for i, q_net in enumerate(q_networks):
        net_layers, net_macs = _sequence_layers(f"critic.qf{i}.", q_net)
        layers += net_layers
        ann_macs += net_macs
    states: list[Any] = [None] * len(q_networks)

    def evaluate(obs: np.ndarray, actions: np.ndarray, starts: np.ndarray) -> None:
        obs_t = policy.obs_to_tensor(obs)[0].unsqueeze(0)
        actions_t = _tensor(policy, policy.scale_action(actions)).unsqueeze(0)
        starts_t = _tensor(policy, starts).unsqueeze(0)
        for i, q_net in enumerate(q_networks):
            _, states[i] = q_net(obs_t, states[i], starts_t, actions_t)

    return Training(f"{len(q_networks)} critics (core {policy.core})", layers, ann_macs, evaluate)


def _value_path(policy: SpikingRecurrentActorCriticPolicy) -> Training:
    """
    RecurrentPPO's value path (sb3-contrib 2.9 ``RecurrentActorCriticPolicy.predict_values``): the critic core (or
    the actor core's output with ``shared_lstm``, or a Linear layer), ``mlp_extractor.value_net``, ``value_net``.
    """
    core = policy.lstm_critic
    if core is not None:
        spiking, layers = is_spiking(core), _core("lstm_critic", core)
        n_in, hidden, n_layers = _core_shape(core)
        ann_macs = _gru_macs("lstm_critic", n_in, hidden, n_layers)
    elif policy.shared_lstm:
        spiking, layers, ann_macs = is_spiking(policy.lstm_actor), [], []
    else:
        spiking, layers = False, [_linear("critic", policy.critic)]
        ann_macs = [("critic", policy.critic.in_features * policy.critic.out_features)]
    value_net = policy.mlp_extractor.value_net
    layers += _mlp("mlp_extractor.value_net", value_net, spiking)
    head_spiking = spiking and not any(isinstance(m, nn.Linear) for m in value_net.modules())
    layers.append(_linear("value_net", policy.value_net, head_spiking))
    ann_macs += _mlp_macs("mlp_extractor.value_net", value_net)
    ann_macs.append(("value_net", policy.value_net.in_features * policy.value_net.out_features))
    latest: dict[str, Any] = {"state": None}

    def keep_actor_output(_module: nn.Module, _args: Any, output: tuple[Tensor, Any]) -> None:
        latest["actor_output"] = output[0]  # (seq_len = 1, n_envs, hidden)

    def evaluate(obs: np.ndarray, _actions: np.ndarray, starts: np.ndarray) -> None:
        obs_t = policy.obs_to_tensor(obs)[0]
        if core is not None:
            features = policy.extract_features(obs_t, policy.vf_features_extractor)
            if latest["state"] is None:
                latest["state"] = tuple(core.initial_state(features.shape[0], features.device, features.dtype))
            latent, latest["state"] = policy._process_sequence(features, latest["state"], _tensor(policy, starts),
                                                                core)  # fmt: skip
        elif policy.shared_lstm:
            latent = latest["actor_output"].flatten(0, 1)
        else:
            latent = policy.critic(policy.extract_features(obs_t, policy.vf_features_extractor))
        policy.value_net(policy.mlp_extractor.forward_critic(latent))

    kind = f"core {policy.cell}" if core is not None else ("shared core" if policy.shared_lstm else "Linear critic")
    capture = [(policy.lstm_actor, keep_actor_output)] if policy.shared_lstm else []
    return Training(f"value path ({kind})", layers, ann_macs, evaluate, capture)


def _mixer(model: BaseAlgorithm, policy: QMIXPolicy) -> Training:
    """QMIX's mixer on the agents' chosen utilities and the global state, once per team step."""
    mixer = policy.mixer
    n_agents, embed = mixer.n_agents, mixer.embed_dim
    products = n_agents * embed + embed  # q . |W1(s)| and hidden . |W2(s)| (two bmm)
    layers = [
        Synapses("mixer (products with the hypernetwork weights)", mixer, 0, extra_macs=products),
        *_mlp("mixer.hyper_w1", mixer.hyper_w1, False),
        _linear("mixer.hyper_b1", mixer.hyper_b1),
        *_mlp("mixer.hyper_w2", mixer.hyper_w2, False),
        *_mlp("mixer.value", mixer.value, False),
    ]
    team_macs = [("mixer (products with the hypernetwork weights)", products)]
    for name in ("hyper_w1", "hyper_b1", "hyper_w2", "value"):
        team_macs += _mlp_macs(f"mixer.{name}", getattr(mixer, name))
    latest: dict[str, Tensor] = {}

    def keep_utilities(_module: nn.Module, _args: Any, output: tuple[Tensor, Any]) -> None:
        latest["q"] = output[0]  # (1, n_envs * n_agents, n_actions)

    def evaluate(obs: dict[str, np.ndarray], actions: np.ndarray, _starts: np.ndarray) -> None:
        n_envs = actions.shape[0]
        q = latest["q"].reshape(n_envs, n_agents, -1)
        chosen = q.gather(-1, torch.as_tensor(actions, device=q.device).long().unsqueeze(-1)).squeeze(-1)
        states = [read_state(model.env_spec, {key: value[i] for key, value in obs.items()}) for i in range(n_envs)]
        mixer(chosen, _tensor(policy, np.stack(states)))

    return Training(
        f"mixer (embed {embed}, hypernetworks {mixer.hyper_w1[0].out_features}; one call per team step, "
        f"{n_agents} decisions)",
        layers,
        [(name, macs / n_agents) for name, macs in team_macs],  # per decision: one team step is n_agents decisions
        evaluate,
        [(policy.agent_net, keep_utilities)],
    )


def training_networks(model: BaseAlgorithm) -> Training | None:
    """
    :param model: a model of one of the package's policy families
    :return: the networks its policy uses only in training (critics, value path, mixer), ``None`` where the acting
        network is the only one (DQN / DoubleDQN with CVTC, RecurrentDQN: the online Q-network acts)
    """
    policy = model.policy
    if isinstance(policy, (SpikingPopPolicy, SpikingPopSACPolicy)):
        return _mlp_critics(policy)
    if isinstance(policy, SpikingRecurrentActorCriticPolicy):
        return _value_path(policy)
    if isinstance(policy, RecurrentTD3Policy):
        return _recurrent_critics(policy)
    if isinstance(policy, QMIXPolicy):
        return _mixer(model, policy)
    return None


def _layers(counted: Counted, training: Training | None) -> list[Synapses]:
    """:return: the layers counted: the acting network's, then those of the ``training`` networks (if any)"""
    return counted.layers + (training.layers if training is not None else [])


@contextlib.contextmanager
def _hooked(counted: Counted, training: Training | None) -> Iterator[None]:
    handles = [layer.module.register_forward_pre_hook(layer.hook) for layer in _layers(counted, training)]
    if training is not None:
        handles += [module.register_forward_hook(hook) for module, hook in training.capture]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in counted.uncompiled]
    for obj, attr, plain in counted.uncompiled:
        setattr(obj, attr, plain)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for obj, attr, value in saved:
            setattr(obj, attr, value)


def _rollout(
    model: BaseAlgorithm, env: GymEnv | None, counted: Counted, training: Training | None, n_decisions: int, seed: int
) -> None:
    """
    Deterministic actions of ``model`` in ``env`` until the first layer has seen ``n_decisions`` inputs, with one
    evaluation of the ``training`` networks (if any) per step.
    """
    if env is None:
        env = model.get_env()
        if env is None:
            raise ValueError("env is None and the model has no env: pass the env to roll the model out in")
    else:
        env = model._wrap_env(env, verbose=0, monitor_wrapper=False)  # the algorithm's wrappers (VecPrevActionReward)
    env.seed(seed)
    obs = env.reset()
    state, starts = None, np.ones(env.num_envs, dtype=bool)
    first = counted.layers[0]
    layers = _layers(counted, training)
    with _hooked(counted, training), torch.no_grad():
        while first.calls < n_decisions:
            actions, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
            if training is not None:
                training.evaluate(obs, actions, starts)
            missed = [layer.name for layer in layers if layer.calls == 0]
            if missed:
                raise RuntimeError(
                    f"model.predict did not call the modules of {missed} in {counted.network}, so their operations "
                    f"cannot be counted (sb3_spiking.energy needs to follow a change of the network's forward)"
                )
            obs, _, starts, _ = env.step(actions)


NETWORKS = ("actor", "all")


def estimate(
    model: BaseAlgorithm,
    env: GymEnv | None = None,
    n_decisions: int = 1024,
    ac_pj: float = 0.9,
    mac_pj: float = 4.6,
    seed: int = 0,
    networks: str = "actor",
) -> EnergyReport:
    """
    Energy per decision of the network that acts at deployment (the actor or the online Q-network), counted on
    rollouts of ``model`` in ``env`` with deterministic actions, and of the ANN it replaces (the MLP actor / MLP
    Q-network, or the network with a GRU core, at the same widths).

    :param model: a model of one of the package's families (see :func:`acting_network`)
    :param env: the env to roll out in (``None``: ``model.get_env()``), with the observation normalisation the
        model was trained with; the algorithm adds its own wrappers (e.g. ``VecPrevActionReward``)
    :param n_decisions: decisions to count at least (the last env step may add a few: every env of a ``VecEnv``,
        every agent of a QMIX team)
    :param ac_pj: energy of one accumulate (pJ; 0.9 for a 32-bit float add at 45 nm, Horowitz 2014)
    :param mac_pj: energy of one multiply-accumulate (pJ; 4.6 for 32-bit float at 45 nm, Horowitz 2014)
    :param seed: seed of the env resets
    :param networks: ``"actor"``: the acting network only; ``"all"``: also the networks used only in training
        (critics, RecurrentPPO's value path, QMIX's mixer; :func:`training_networks`), each evaluated once per env
        step on the rollout's observations and actions, as extra layers of the report (and of its ANN)
    :return: the report (``str(report)`` is a table, ``report.to_dict()`` plain values)
    """
    if not isinstance(model, BaseAlgorithm):
        raise TypeError(f"model must be a Stable-Baselines3 model (BaseAlgorithm), got {type(model).__name__}")
    n_decisions = check_int("n_decisions", n_decisions, minimum=1)
    ac_pj = check_float("ac_pj", ac_pj, minimum=0.0)
    mac_pj = check_float("mac_pj", mac_pj, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    networks = check_choice("networks", networks, NETWORKS)
    counted = acting_network(model)
    training = training_networks(model) if networks == "all" else None
    was_training = model.policy.training
    try:
        _rollout(model, env, counted, training, n_decisions, seed)
    finally:
        model.policy.set_training_mode(was_training)
    decisions = counted.layers[0].calls
    layers, ann_macs = _layers(counted, training), counted.ann_macs
    network, ann = counted.network, counted.ann
    if training is not None:
        ann_macs = ann_macs + training.ann_macs
        network, ann = f"{network} + {training.network}", f"{ann} + {training.network}"
    return EnergyReport(
        network=network,
        decisions=decisions,
        layers=tuple(layer.energy(decisions, ac_pj, mac_pj) for layer in layers),
        ann=ann,
        ann_layers=tuple(LayerEnergy(name, "real", None, 0.0, float(macs), macs * mac_pj) for name, macs in ann_macs),
        ac_pj=ac_pj,
        mac_pj=mac_pj,
        networks=networks,
    )
