"""sb3_spiking.energy: operation counts checked by hand on tiny networks with fixed weights, whose spikes each test
derives itself from the seeds' equations (Pop-SAN seed 000 Eq. 8-13, seed 003 LIF Eq. 1-5, CVTC seed 001 Eq. 4, 9)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import DQN, TD3

from sb3_spiking import RecurrentTD3
from sb3_spiking.energy import EnergyReport, estimate

AC, MAC = 0.9, 4.6


class ConstantEnv(gym.Env):
    """Observation ``value`` at every step, reward 0, episodes of ``length`` steps."""

    def __init__(self, value: float = 0.0, length: int = 3, discrete: bool = False) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2) if discrete else spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.value, self.length, self.t = value, length, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.full(1, self.value, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.full(1, self.value, np.float32), 0.0, self.t >= self.length, False, {}


def popsan_model(hidden_weight: list[list[float]], hidden_bias: list[float], encoder_mean: list[float]) -> TD3:
    """Pop-SAN actor 1 obs x 2 encoder neurons -> 2 LIF -> 2 output neurons (1 action x 2), T = 4, fixed weights."""
    kwargs = dict(encoder_pop_dim=2, hidden_sizes=[2], decoder_pop_dim=2, spike_ts=4, net_arch=[4])
    model = TD3("SpikingPopPolicy", ConstantEnv(), policy_kwargs=kwargs, device="cpu")
    net = model.policy.actor.net
    with torch.no_grad():
        net.encoder.mean.copy_(torch.tensor([encoder_mean]))
        net.encoder.std.fill_(1.0)
        net.layers[0].weight.copy_(torch.tensor(hidden_weight))
        net.layers[0].bias.copy_(torch.tensor(hidden_bias))
        net.layers[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
        net.layers[1].bias.zero_()
    return model


def lif_spikes(drive: list[np.ndarray], d_c: float = 0.5, d_v: float = 0.75, threshold: float = 0.5) -> np.ndarray:
    """Pop-SAN current-based LIF (seed 000, Eq. 11-13), step by step from zero state."""
    c = v = o = np.zeros_like(drive[0])
    spikes = []
    for x in drive:
        c = d_c * c + x
        v = d_v * v * (1.0 - o) + c
        o = (v > threshold).astype(np.float64)
        spikes.append(o)
    return np.array(spikes)


def encoder_spikes(stimulus: np.ndarray, steps: int) -> np.ndarray:
    """Deterministic population encoder (seed 000, Eq. 8-10): integrate, fire above 1 - 1e-3, subtract."""
    volt, spikes = np.zeros_like(stimulus), []
    for _ in range(steps):
        volt = volt + stimulus
        spike = (volt > 1.0 - 1e-3).astype(np.float64)
        volt = volt - spike * (1.0 - 1e-3)
        spikes.append(spike)
    return np.array(spikes)


def test_popsan_counts_by_hand() -> None:
    weight, bias = [[0.3, 0.0], [0.1, 0.0]], [0.0, 0.05]
    model = popsan_model(weight, bias, encoder_mean=[0.0, 3.0])
    # obs 0: stimulus exp(-0.5 (0 - mu)^2) = [1, exp(-4.5)]; neuron 0 fires every step, neuron 1 never in 4 steps
    stimulus = np.array([1.0, math.exp(-4.5)])
    enc = encoder_spikes(stimulus, 4)
    assert enc.sum() == 4
    hidden = lif_spikes([np.array(weight) @ s + np.array(bias) for s in enc])
    out = lif_spikes([np.array([[1.0, 0.0], [0.5, 0.5]]) @ h for h in hidden])
    assert 0 < hidden.sum() < hidden.size and out.sum() > 0  # the case exercises partial firing

    report = estimate(model, ConstantEnv(), n_decisions=5)

    assert report.decisions == 5
    layers = {layer.name: layer for layer in report.layers}
    assert layers["encoder (receptive fields)"].macs == 1 * 2  # one MAC per receptive field
    assert layers["layers.0"].sops == enc.sum() * 2 and layers["layers.0"].macs == 0
    assert layers["layers.0"].firing_rate == pytest.approx(enc.mean())
    assert layers["layers.1"].sops == hidden.sum() * 2
    assert layers["layers.1"].firing_rate == pytest.approx(hidden.mean())
    assert layers["decoder"].macs == 1 * 2 and layers["decoder"].sops == 0  # one weight per output-neuron rate
    sops = (enc.sum() + hidden.sum()) * 2
    assert report.sops == sops and report.macs == 4
    assert report.energy_pj == pytest.approx(sops * AC + 4 * MAC)
    # equivalent MLP actor [1, 2, 1]: 1 x 2 + 2 x 1 MACs
    assert [layer.macs for layer in report.ann_layers] == [2, 2]
    assert report.ann_energy_pj == pytest.approx(4 * MAC)
    assert report.ratio == pytest.approx(report.energy_pj / (4 * MAC))


def test_silent_network_costs_only_its_dense_parts() -> None:
    # encoder fields far from the observation (no input spike in T = 4 steps), hidden layer driven below threshold
    model = popsan_model([[1.0, 1.0], [1.0, 1.0]], [-5.0, -5.0], encoder_mean=[3.0, 3.0])
    report = estimate(model, ConstantEnv(), n_decisions=3, ac_pj=2.0, mac_pj=10.0)
    assert report.sops == 0
    assert [layer.firing_rate for layer in report.layers if layer.firing_rate is not None] == [0.0, 0.0]
    assert report.energy_pj == pytest.approx((2 + 2) * 10.0)  # encoder fields and decoder weights
    assert (report.ac_pj, report.mac_pj) == (2.0, 10.0)


def test_recurrent_lif_counts_by_hand() -> None:
    """RecurrentTD3 with a seed 003 LIF core: embeddings, real gates, the head fed by spikes and the obs embedding."""
    kwargs = dict(core="lif", hidden_size=2, net_arch=[2], embed_dims=(1, 1, 1), core_kwargs=dict(beta=0.5))
    model = RecurrentTD3("RecurrentPolicy", ConstantEnv(value=0.5, length=4), policy_kwargs=kwargs, device="cpu")
    actor = model.policy.network("actor")
    with torch.no_grad():
        for layer, w, b in ((actor.obs_embedding[0], 2.0, 0.0), (actor.action_embedding[0], 0.0, 0.25),
                            (actor.reward_embedding[0], 0.0, 0.5)):  # fmt: skip
            layer.weight.fill_(w)
            layer.bias.fill_(b)
        fc = actor.core.cells[0].fc
        fc.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]]))
        fc.bias.zero_()
    # core input relu([2 * 0.5, 0.25, 0.5]) at every step (previous action and reward have zero weights)
    current = np.array([[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]]) @ np.array([1.0, 0.25, 0.5])
    u, spikes = np.zeros(2), []
    for step in range(10):  # seed 003 Eq. 1-5: u = beta u_hat + (1 - beta) c, hard reset to 0; state reset per episode
        if step % 4 == 0:
            u = np.zeros(2)
        u = 0.5 * u + 0.5 * current
        o = (u > 1.0).astype(float)
        u = (1 - o) * u
        spikes.append(o)
    spikes = np.array(spikes)
    assert 0 < spikes.sum() < spikes.size

    report = estimate(model, ConstantEnv(value=0.5, length=4), n_decisions=10)

    assert report.decisions == 10
    layers = {layer.name: layer for layer in report.layers}
    assert layers["embeddings (obs, prev action, prev reward)"].macs == 1 + 1 + 1
    assert layers["core.cells.0.fc"].macs == 3 * 2 and layers["core.cells.0.fc"].sops == 0
    head = layers["head.0"]  # input [core spikes (2), obs embedding (1)] -> 2
    assert head.inputs == "spikes+real"
    assert head.sops == pytest.approx(spikes.sum() * 2 / 10)
    assert head.firing_rate == pytest.approx(spikes.mean())
    assert head.macs == 1 * 2
    assert layers["head.2"].macs == 2 * 1
    assert report.macs == 3 + 6 + 2 + 2
    # the equivalent GRU actor: same embeddings and head, GRU 3 x (3 x 2 + 2 x 2)
    assert report.ann_macs == 3 + 3 * (3 * 2 + 2 * 2) + 3 * 2 + 2 * 1


def test_cvtc_counts_by_hand() -> None:
    """Every CVTC neuron fires once (beta > 0); with beta = 0 a neuron whose summed weight stays below 1 never fires."""
    kwargs = dict(hidden_sizes=[2], n_neurons=2, beta=1e-3)
    model = DQN("CVTCPolicy", ConstantEnv(discrete=True), policy_kwargs=kwargs, device="cpu")
    q_net = model.policy.q_net
    with torch.no_grad():
        q_net.layers[0].weight.copy_(torch.tensor([[2.0, 2.0], [-1.0, -1.0]]))
        q_net.layers[1].weight.fill_(2.0)

    report = estimate(model, ConstantEnv(discrete=True), n_decisions=4)
    layers = {layer.name: layer for layer in report.layers}
    # 2 encoder spikes x fan-out 2, 2 hidden spikes x fan-out 2; one MAC per receptive field, one per neuron for the
    # self-incremental term beta z
    assert (layers["layers.0"].sops, layers["layers.1"].sops) == (4, 4)
    assert (layers["layers.0"].macs, layers["layers.1"].macs) == (2, 2)
    assert layers["encoder (receptive fields)"].macs == 2
    assert report.energy_pj == pytest.approx(8 * AC + 6 * MAC)
    assert report.ann_macs == 1 * 2 + 2 * 2

    model.policy.set_inference_mode("if")  # beta = 0: neuron 1 (W = -2 < 1) never fires, neuron 0 (W = 4) fires
    report = estimate(model, ConstantEnv(discrete=True), n_decisions=4)
    layers = {layer.name: layer for layer in report.layers}
    assert (layers["layers.0"].sops, layers["layers.1"].sops) == (4, 1 * 2)
    assert layers["layers.1"].firing_rate == 0.5
    assert report.macs == 2


def test_report_table_and_dict() -> None:
    model = popsan_model([[0.3, 0.0], [0.1, 0.0]], [0.0, 0.05], encoder_mean=[0.0, 3.0])
    report = estimate(model, ConstantEnv(), n_decisions=2, ac_pj=1.5, mac_pj=7.0)
    assert isinstance(report, EnergyReport)
    text = str(report)
    for part in ("layers.0", "decoder", "ANN total", "AC 1.5 pJ", "MAC 7.0 pJ", "MLP actor [1, 2, 1]", "NeuroBench"):
        assert part in text
    data = report.to_dict()
    assert data["energy_pj_per_decision"] == pytest.approx(report.sops * 1.5 + report.macs * 7.0)
    assert data["ac_pj"] == 1.5 and data["mac_pj"] == 7.0
    assert [layer["name"] for layer in data["layers"]] == [layer.name for layer in report.layers]
    assert f"{report.energy_pj:,.0f} pJ" in report.to_markdown()


def test_bad_arguments() -> None:
    model = popsan_model([[0.3, 0.0], [0.1, 0.0]], [0.0, 0.05], encoder_mean=[0.0, 3.0])
    with pytest.raises(TypeError, match="BaseAlgorithm"):
        estimate(model.policy, ConstantEnv())
    with pytest.raises(ValueError, match="n_decisions"):
        estimate(model, ConstantEnv(), n_decisions=0)
    with pytest.raises(ValueError, match="mac_pj"):
        estimate(model, ConstantEnv(), mac_pj=-1.0)
    with pytest.raises(TypeError, match="with TD3Policy"):
        estimate(TD3("MlpPolicy", ConstantEnv(), device="cpu"), ConstantEnv())


def core_spike_counter(core: torch.nn.Module) -> tuple[list[float], Any]:
    """Spikes emitted by a core, summed from its outputs (an independent record of what feeds the next layer)."""
    spikes: list[float] = []
    handle = core.register_forward_hook(lambda _m, _i, out: spikes.append(float(out[0].sum())))
    return spikes, handle


def test_recurrent_ppo_grsn_counts() -> None:
    from sb3_contrib import RecurrentPPO

    kwargs = dict(lstm_hidden_size=8, n_lstm_layers=1, net_arch=dict(pi=[4], vf=[4]), cell_kwargs=dict(input_bias=1.0))
    model = RecurrentPPO("GRSNPolicy", ConstantEnv(value=0.5, length=5), n_steps=8, policy_kwargs=kwargs, device="cpu")
    spikes, handle = core_spike_counter(model.policy.lstm_actor)
    report = estimate(model, ConstantEnv(value=0.5, length=5), n_decisions=12)
    handle.remove()
    layers = {layer.name: layer for layer in report.layers}
    assert report.decisions == 12 and sum(spikes) > 0
    # both GRSN gates act on the real observation: 1 x 8 MACs each (seed 003 Eq. 14)
    assert layers["lstm_actor.cells.0.forget_gate"].macs == 8 and layers["lstm_actor.cells.0.input_gate"].macs == 8
    assert layers["mlp_extractor.policy_net.0"].sops == pytest.approx(sum(spikes) * 4 / 12)
    assert layers["mlp_extractor.policy_net.0"].macs == 0 and layers["action_net"].macs == 4 * 1
    assert report.ann_macs == 3 * (1 * 8 + 8 * 8) + 8 * 4 + 4 * 1  # GRU actor at the same widths


def test_qmix_grsn_counts_one_decision_per_agent() -> None:
    from mpe2 import simple_spread_v3

    from sb3_spiking.marl import QMIX

    def spread() -> Any:
        return simple_spread_v3.parallel_env(N=3, max_cycles=25, continuous_actions=False)

    agent_kwargs = dict(fc_dim=6, hidden_dim=5, core_kwargs=dict(input_bias=3.0))
    model = QMIX("grsn", spread(), agent_kwargs=agent_kwargs, device="cpu", seed=0)
    net = model.policy.agent_net
    spikes, handle = core_spike_counter(net.core)
    report = estimate(model, spread(), n_decisions=30)
    handle.remove()
    layers = {layer.name: layer for layer in report.layers}
    n_in, n_actions = net.fc_in.in_features, net.fc_out.out_features
    assert report.decisions == 30 and sum(spikes) > 0  # 10 steps of 3 agents
    assert layers["fc_in"].macs == n_in * 6
    assert layers["core.cells.0.forget_gate"].macs == 6 * 5
    assert layers["fc_out"].sops == pytest.approx(sum(spikes) * n_actions / report.decisions)
    assert report.ann_macs == n_in * 6 + 3 * (6 * 5 + 5 * 5) + 5 * n_actions


def test_mlp_critics_cost_sum_in_out_per_decision() -> None:
    """networks="all": SB3's twin MLP critics on [obs, action], one evaluation per decision, sum(in x out) MACs."""
    model = popsan_model([[0.3, 0.0], [0.1, 0.0]], [0.0, 0.05], encoder_mean=[0.0, 3.0])  # critics net_arch [4]
    actor = estimate(model, ConstantEnv(), n_decisions=5)
    report = estimate(model, ConstantEnv(), n_decisions=5, networks="all")

    assert report.networks == "all" and actor.networks == "actor"
    critic = {layer.name: layer for layer in report.layers if layer.name.startswith("critic.")}
    # each critic: [obs (1), action (1)] -> 4 -> 1, all real-valued inputs
    assert {name: layer.macs for name, layer in critic.items()} == {
        "critic.qf0.0": 2 * 4, "critic.qf0.2": 4 * 1, "critic.qf1.0": 2 * 4, "critic.qf1.2": 4 * 1,
    }  # fmt: skip
    assert all(layer.sops == 0 and layer.inputs == "real" for layer in critic.values())
    assert report.sops == actor.sops and report.macs == actor.macs + 24
    assert report.energy_pj == pytest.approx(actor.energy_pj + 24 * MAC)
    assert report.ann_macs == actor.ann_macs + 24  # the MLP critics are the same in the ANN agent
    assert "2 MLP critics" in report.network and not any(layer.name.startswith("critic") for layer in actor.layers)


def test_recurrent_lif_critics_counted_with_their_cores() -> None:
    """RecurrentTD3 critics: each has its own LIF core, stepped once per decision with the episode resets."""
    kwargs = dict(core="lif", hidden_size=2, net_arch=[2], embed_dims=(1, 1, 1), core_kwargs=dict(beta=0.5))
    model = RecurrentTD3("RecurrentPolicy", ConstantEnv(value=0.5, length=4), policy_kwargs=kwargs, device="cpu")
    critic_weights = ([[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]], [[0.5, 0.5, 0.0], [2.0, 1.0, 0.0]])
    with torch.no_grad():
        for q_net, weight in zip(model.policy.critic.q_networks, critic_weights, strict=True):
            for layer, w, b in ((q_net.obs_embedding[0], 2.0, 0.0), (q_net.action_embedding[0], 0.0, 0.25),
                                (q_net.reward_embedding[0], 0.0, 0.5)):  # fmt: skip
                layer.weight.fill_(w)
                layer.bias.fill_(b)
            q_net.core.cells[0].fc.weight.copy_(torch.tensor(weight))
            q_net.core.cells[0].fc.bias.zero_()
    embedded = np.array([1.0, 0.25, 0.5])  # relu of the embeddings of o = 0.5 and the zero-weight a_prev, r_prev
    expected_spikes = []
    for weight in critic_weights:  # seed 003 Eq. 1-5 per step, state reset at each episode start (every 4 steps)
        u, total = np.zeros(2), 0.0
        for step in range(10):
            u = np.zeros(2) if step % 4 == 0 else u
            u = 0.5 * u + 0.5 * (np.array(weight) @ embedded)
            o = (u > 1.0).astype(float)
            u, total = (1 - o) * u, total + o.sum()
        expected_spikes.append(total)
    assert expected_spikes[0] != expected_spikes[1] and min(expected_spikes) > 0

    report = estimate(model, ConstantEnv(value=0.5, length=4), n_decisions=10, networks="all")

    layers = {layer.name: layer for layer in report.layers}
    for i, spikes in enumerate(expected_spikes):
        head = layers[f"critic.qf{i}.head.0"]  # [core spikes (2), obs embedding (1), action (1)] -> 2
        assert head.inputs == "spikes+real"
        assert head.sops == pytest.approx(spikes * 2 / 10)
        assert head.macs == (1 + 1) * 2
        assert layers[f"critic.qf{i}.core.cells.0.fc"].macs == 3 * 2
        assert layers[f"critic.qf{i}.embeddings (obs, prev action, prev reward)"].macs == 3
    # actor 3 + 6 + 2 + 2 (test_recurrent_lif_counts_by_hand), each critic 3 + 6 + 4 + 2
    assert report.macs == 13 + 2 * 15
    # each critic's GRU twin: embeddings 3, GRU 3 x (3 x 2 + 2 x 2), head 4 x 2 + 2 x 1
    assert report.ann_macs == 3 + 30 + 6 + 2 + 2 * (3 + 30 + 8 + 2)


def test_recurrent_ppo_value_path_counts() -> None:
    from sb3_contrib import RecurrentPPO

    kwargs = dict(lstm_hidden_size=8, n_lstm_layers=1, net_arch=dict(pi=[4], vf=[3]), cell_kwargs=dict(input_bias=1.0))
    model = RecurrentPPO("GRSNPolicy", ConstantEnv(value=0.5, length=5), n_steps=8, policy_kwargs=kwargs, device="cpu")
    spikes, handle = core_spike_counter(model.policy.lstm_critic)
    report = estimate(model, ConstantEnv(value=0.5, length=5), n_decisions=12, networks="all")
    handle.remove()
    layers = {layer.name: layer for layer in report.layers}
    assert sum(spikes) > 0
    assert layers["lstm_critic.cells.0.forget_gate"].macs == 8 and layers["lstm_critic.cells.0.input_gate"].macs == 8
    assert layers["mlp_extractor.value_net.0"].sops == pytest.approx(sum(spikes) * 3 / 12)
    assert layers["value_net"].macs == 3 * 1
    actor_ann = 3 * (1 * 8 + 8 * 8) + 8 * 4 + 4 * 1
    assert report.ann_macs == actor_ann + 3 * (1 * 8 + 8 * 8) + 8 * 3 + 3 * 1


def test_qmix_mixer_counted_per_decision() -> None:
    from mpe2 import simple_spread_v3

    from sb3_spiking.marl import QMIX

    def spread() -> Any:
        return simple_spread_v3.parallel_env(N=3, max_cycles=25, continuous_actions=False)

    model = QMIX("gru", spread(), agent_kwargs=dict(fc_dim=6, hidden_dim=5),
                 mixer_kwargs=dict(embed_dim=4, hypernet_hidden=7), device="cpu", seed=0)  # fmt: skip
    actor = estimate(model, spread(), n_decisions=30)
    report = estimate(model, spread(), n_decisions=30, networks="all")
    s = model.policy.mixer.hyper_b1.in_features  # global state: the 3 agents' observations
    # one mixer call per team step = 3 decisions: hypernetworks, then q . |W1| (3 x 4) and hidden . |W2| (4)
    team_step = (s * 7 + 7 * 3 * 4) + s * 4 + (s * 7 + 7 * 4) + (s * 4 + 4 * 1) + 3 * 4 + 4
    mixer = sum(layer.macs for layer in report.layers if layer.name.startswith("mixer"))
    assert mixer == pytest.approx(team_step / 3)
    assert report.macs == pytest.approx(actor.macs + team_step / 3)
    assert report.ann_macs == pytest.approx(actor.ann_macs + team_step / 3)


def test_networks_argument() -> None:
    model = popsan_model([[0.3, 0.0], [0.1, 0.0]], [0.0, 0.05], encoder_mean=[0.0, 3.0])
    with pytest.raises(ValueError, match=r"networks.*'critics'.*actor.*all"):
        estimate(model, ConstantEnv(), networks="critics")
    cvtc = DQN("CVTCPolicy", ConstantEnv(discrete=True), policy_kwargs=dict(hidden_sizes=[2], n_neurons=2))
    # the online Q-network is the only network of DQN: "all" counts the same layers
    names = [[layer.name for layer in estimate(cvtc, ConstantEnv(discrete=True), n_decisions=2, networks=n).layers]
             for n in ("actor", "all")]  # fmt: skip
    assert names[0] == names[1]
