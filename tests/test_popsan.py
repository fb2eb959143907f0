"""Pop-SAN / MDC-SAN spiking actor: the layer-major network with hand-written LIF backward against a
straightforward per-timestep float64 loop of seed 000's equations (Eq. 7-16)."""

import math
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

from sb3_spiking.policies.popsan import PopSANConfig, PopSpikingNetwork, SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.snn.neurons import CurrentLIF, DynamicNeuron
from sb3_spiking.snn.surrogate import SURROGATES, make

OBS, ACT, P_ENC, P_DEC, T = 4, 2, 5, 3, 5
HIDDEN = [16, 12]
DYNAMIC = dict(theta_v=-0.172, theta_u=0.529, theta_r=0.021, theta_s=0.132, u_sign=1.0)


def straight_through(value: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    return spikes + value - value.detach()


def reference_actor(
    net: PopSpikingNetwork,
    obs: torch.Tensor,
    neuron: str,
    encoder: str,
    noise=None,
    dynamic: dict = DYNAMIC,
    act_dim: int = ACT,
) -> torch.Tensor:
    """Time-major loop over the seed's equations, autograd everywhere, library surrogate for H."""
    mu, sigma = net.encoder.mean, net.encoder.std
    stim = torch.exp(-0.5 * ((obs[:, :, None] - mu) / sigma) ** 2).reshape(obs.shape[0], -1)  # Eq. 7
    enc_v = torch.zeros_like(stim)
    n_layers = len(net.layers)
    state = [dict(c=0.0, v=0.0, u=0.0, o=0.0) for _ in range(n_layers)]
    count = 0.0
    for t in range(T):
        if encoder == "deterministic":
            enc_v = enc_v + stim  # Eq. 8
            x = straight_through(enc_v, (enc_v > 0.999).double())  # Eq. 9
            enc_v = enc_v - 0.999 * x  # Eq. 10
        elif encoder == "bernoulli":
            x = straight_through(stim, (noise[t] < stim).double())
        else:
            x = stim
        for k in range(n_layers):
            s, layer, cell = state[k], net.layers[k], net.neurons[k]
            if neuron == "lif":
                s["c"] = 0.5 * s["c"] + x @ layer.weight.T + layer.bias  # Eq. 11
                s["v"] = 0.75 * s["v"] * (1 - s["o"]) + s["c"]  # Eq. 12
                s["o"] = cell.spike(s["v"] - 0.5)  # Eq. 13
            else:
                v = s["v"] * (1 - s["o"]) + dynamic["theta_r"] * s["o"]
                u = s["u"] + dynamic["theta_s"] * s["o"]
                s["c"] = 0.5 * s["c"] + x @ layer.weight.T + layer.bias
                s["v"] = v + (v * v - v - u + s["c"])
                s["u"] = u + dynamic["u_sign"] * (dynamic["theta_v"] * v - dynamic["theta_u"] * u)
                s["o"] = cell.spike(s["v"] - 0.5)
            x = s["o"]
        count = count + x  # Eq. 14
    rate = (count / T).reshape(obs.shape[0], act_dim, P_DEC)  # Eq. 15
    return torch.stack([rate[:, i] @ net.decoder.weight[i] + net.decoder.bias[i] for i in range(act_dim)], 1)  # Eq. 16


def make_net(
    neuron: str, encoder: str, surrogate="rectangular", seed: int = 0, dynamic: dict = DYNAMIC
) -> PopSpikingNetwork:
    torch.manual_seed(seed)
    kwargs = dict(dynamic_params=dynamic) if neuron == "dynamic" else {}
    config = PopSANConfig(
        neuron=neuron, encoder=encoder, spike_ts=T, encoder_pop_dim=P_ENC, decoder_pop_dim=P_DEC,
        hidden_sizes=HIDDEN, surrogate=surrogate, **kwargs,
    )  # fmt: skip
    net = PopSpikingNetwork(OBS, ACT, config).double()
    scale = 1.0 if neuron == "dynamic" else 3.0  # enough drive for both spiking and silent neurons
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.mul_(scale)
        net.encoder.std.mul_(torch.empty_like(net.encoder.std).uniform_(0.7, 1.5))
    return net


def observations(batch: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.empty(batch, OBS, dtype=torch.float64).uniform_(-3, 3, generator=torch.Generator().manual_seed(seed))


def grads(net: PopSpikingNetwork, out: torch.Tensor, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    net.zero_grad()
    (out * weights).sum().backward()
    return {name: p.grad.clone() for name, p in net.named_parameters()}


@pytest.mark.parametrize("neuron", ["lif", "dynamic"])
@pytest.mark.parametrize("encoder", ["deterministic", "bernoulli", "real"])
def test_forward_and_gradients_match_reference(neuron: str, encoder: str) -> None:
    net = make_net(neuron, encoder)
    obs = observations()
    noise = None
    torch.manual_seed(123)
    out = net(obs)
    if encoder == "bernoulli":
        torch.manual_seed(123)
        noise = torch.rand(T, obs.shape[0], OBS * P_ENC, dtype=torch.float64)
    ref = reference_actor(net, obs, neuron, encoder, noise)
    assert out.shape == (16, ACT)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    weights = torch.randn(16, ACT, dtype=torch.float64)
    got, want = grads(net, out, weights), grads(net, ref, weights)
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-6, rtol=1e-6, msg=name)
        assert want[name].abs().sum() > 0, f"no gradient reaches {name}"
    assert {"encoder.mean", "encoder.std", "layers.0.weight", "decoder.weight"} <= set(want)


@pytest.mark.parametrize("encoder", ["deterministic", "real"])
def test_mdc_san_negative_u_sign_matches_reference(encoder: str) -> None:
    """``u_sign=-1`` flips the sign of the ``u`` update; forward and gradients follow the per-timestep loop."""
    dynamic = dict(DYNAMIC, u_sign=-1.0)
    net = make_net("dynamic", encoder, dynamic=dynamic)
    obs = observations()
    out = net(obs)
    ref = reference_actor(net, obs, "dynamic", encoder, dynamic=dynamic)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    plus = make_net("dynamic", encoder)  # same weights (same seed), u_sign=+1
    assert not torch.allclose(plus(obs), out), "the sign must matter for this network"
    weights = torch.randn(16, ACT, dtype=torch.float64)
    got, want = grads(net, out, weights), grads(net, ref, weights)
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-6, rtol=1e-6, msg=name)
        assert want[name].abs().sum() > 0, f"no gradient reaches {name}"


def test_network_is_active() -> None:
    """The reference comparison is only meaningful if neurons both fire and stay silent."""
    net = make_net("lif", "deterministic")
    frames = net.encoder(observations())
    for layer, neuron in zip(net.layers, net.neurons, strict=True):
        frames = neuron(layer(frames))
        assert 0.05 < frames.mean() < 0.95


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_lif_fast_backward_matches_autograd_loop(name: str) -> None:
    surrogate = make(name)
    lif = CurrentLIF(surrogate, current_decay=0.4, voltage_decay=0.8, threshold=0.6)
    drive = torch.randn(T, 7, 9, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(T, 7, 9, dtype=torch.float64)
    c = v = o = torch.zeros(7, 9, dtype=torch.float64)
    spikes = []
    for t in range(T):
        c = 0.4 * c + drive[t]
        v = 0.8 * v * (1 - o) + c
        o = surrogate(v - 0.6)
        spikes.append(o)
    (want,) = torch.autograd.grad((torch.stack(spikes) * upstream).sum(), drive)
    out = lif(drive)
    torch.testing.assert_close(out, torch.stack(spikes).detach(), atol=0, rtol=0)
    (got,) = torch.autograd.grad((out * upstream).sum(), drive)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(lif(drive), out.detach(), atol=0, rtol=0)


@pytest.mark.parametrize("neuron", ["lif", "dynamic"])
@pytest.mark.parametrize("encoder", ["deterministic", "bernoulli", "real"])
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inference_path_matches_autograd_path(neuron: str, encoder: str, surrogate: str, dtype: torch.dtype) -> None:
    """The no-autograd scans (``predict``, target networks) give exactly the training forward."""
    net = make_net(neuron, encoder, surrogate=surrogate).to(dtype).eval()
    obs = observations().to(dtype)
    out = net(obs)
    assert out.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(net(obs), out.detach(), atol=0, rtol=0)
    with torch.inference_mode():
        torch.testing.assert_close(net(obs[:1]), out[:1].detach(), atol=0, rtol=0)
        torch.testing.assert_close(net(obs), out.detach(), atol=0, rtol=0)


@pytest.mark.parametrize("encoder", ["deterministic", "bernoulli", "real"])
def test_encoder_linear_drive_matches_frames_through_layer(encoder: str) -> None:
    """The first layer fed by the encoder (fused for the deterministic encoder) equals ``layer(encoder(obs))``."""
    net = make_net("lif", encoder).eval()
    obs = observations()
    layer = net.layers[0]
    upstream = torch.randn(T, obs.shape[0], layer.out_features, dtype=torch.float64)
    fused = net.encoder.linear_drive(obs, layer)
    plain = layer(net.encoder(obs))
    torch.testing.assert_close(fused, plain, atol=1e-12, rtol=0)
    params = [net.encoder.mean, net.encoder.std, layer.weight, layer.bias]
    got = torch.autograd.grad((fused * upstream).sum(), params)
    want = torch.autograd.grad((plain * upstream).sum(), params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=1e-10)
        assert w.abs().sum() > 0


def test_first_call_under_inference_mode_then_training() -> None:
    """SB3 predicts before it trains: the cached current-decay matrix must still be usable by autograd."""
    steps, c_decay = 7, 0.35
    drive = torch.randn(steps, 5, 6, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(steps, 5, 6, dtype=torch.float64)
    lif = CurrentLIF(current_decay=c_decay, voltage_decay=0.8, threshold=0.6)
    dyn = DynamicNeuron(current_decay=c_decay, **DYNAMIC)
    with torch.inference_mode():
        first = [lif(drive.detach()), dyn(drive.detach())]
    c = v = u = o_lif = o_dyn = torch.zeros(5, 6, dtype=torch.float64)
    want_lif, want_dyn = [], []
    for t in range(steps):
        c = c_decay * c + drive[t]
        v = 0.8 * v * (1 - o_lif) + c
        o_lif = lif.spike(v - 0.6)
        want_lif.append(o_lif)
    v = torch.zeros(5, 6, dtype=torch.float64)
    c = torch.zeros(5, 6, dtype=torch.float64)
    for t in range(steps):
        v, u = v * (1 - o_dyn) + DYNAMIC["theta_r"] * o_dyn, u + DYNAMIC["theta_s"] * o_dyn
        c = c_decay * c + drive[t]
        v, u = v + (v * v - v - u + c), u + (DYNAMIC["theta_v"] * v - DYNAMIC["theta_u"] * u)
        o_dyn = dyn.spike(v - 0.5)
        want_dyn.append(o_dyn)
    for cell, want, early in zip((lif, dyn), (want_lif, want_dyn), first, strict=True):
        want = torch.stack(want)
        out = cell(drive)
        torch.testing.assert_close(out, want.detach(), atol=0, rtol=0)
        torch.testing.assert_close(early, want.detach(), atol=0, rtol=0)
        (got,) = torch.autograd.grad((out * upstream).sum(), drive)
        (ref,) = torch.autograd.grad((want * upstream).sum(), drive)
        torch.testing.assert_close(got, ref, atol=1e-12, rtol=1e-12)
        assert ref.abs().sum() > 0


def test_surrogate_changes_gradients_not_forward() -> None:
    nets = [make_net("lif", "deterministic", surrogate=s, seed=0) for s in ("rectangular", "triangular")]
    obs = observations()
    weights = torch.randn(16, ACT, dtype=torch.float64)
    outs = [net(obs) for net in nets]
    torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)
    g0, g1 = (grads(net, out, weights) for net, out in zip(nets, outs, strict=True))
    assert not torch.allclose(g0["layers.0.weight"], g1["layers.0.weight"])
    torch.testing.assert_close(g0["decoder.weight"], g1["decoder.weight"])


def test_bernoulli_is_deterministic_in_eval_mode() -> None:
    net = make_net("lif", "bernoulli")
    ref = make_net("lif", "deterministic")
    obs = observations()
    net.eval()
    torch.testing.assert_close(net(obs), ref(obs), atol=0, rtol=0)


def test_each_layer_owns_its_surrogate() -> None:
    net = make_net("lif", "deterministic")
    surrogates = [m.spike for m in net.modules() if isinstance(m, CurrentLIF)]
    assert len(surrogates) == len(HIDDEN) + 1 and len({id(s) for s in surrogates}) == len(surrogates)


@pytest.mark.parametrize("u_sign", [1.0, -1.0])
def test_dynamic_neuron_matches_per_step_loop(u_sign: float) -> None:
    """The dynamic neuron alone against the MDC-SAN update written out per timestep, both signs of ``u``."""
    params = dict(DYNAMIC, u_sign=u_sign)
    drive = (torch.randn(T, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) + 0.3) * 0.6
    drive.requires_grad_(True)
    neuron = DynamicNeuron(current_decay=0.5, threshold=0.5, **params)
    c = v = u = o = torch.zeros(3, 4, dtype=torch.float64)
    want = []
    for t in range(T):
        v, u = v * (1 - o) + params["theta_r"] * o, u + params["theta_s"] * o
        c = 0.5 * c + drive[t]
        v, u = v + (v * v - v - u + c), u + u_sign * (params["theta_v"] * v - params["theta_u"] * u)
        o = neuron.spike(v - 0.5)
        want.append(o)
    want = torch.stack(want)
    assert 0 < float(want.detach().mean()) < 1
    out = neuron(drive)
    torch.testing.assert_close(out, want.detach(), atol=0, rtol=0)
    upstream = torch.randn(T, 3, 4, dtype=torch.float64)
    (got,) = torch.autograd.grad((out * upstream).sum(), drive)
    (ref,) = torch.autograd.grad((want * upstream).sum(), drive)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=1e-12)
    with pytest.raises(ValueError, match="u_sign"):
        DynamicNeuron(u_sign=0.5)


def lr(_: float) -> float:
    return 1e-3


@pytest.mark.parametrize("act_dim", [1, 3])
def test_policy_actions_are_the_squashed_reference_rescaled(act_dim: int) -> None:
    """TD3 policy: actor = tanh(readout) of the per-timestep reference; predict rescales [-1, 1] to the bounds."""
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-3, 3, (OBS,), np.float32)
    low, high = np.linspace(-2.0, -0.5, act_dim), np.linspace(1.0, 3.0, act_dim)
    act_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
    policy = SpikingPopPolicy(
        obs_space, act_space, lr, hidden_sizes=HIDDEN, encoder_pop_dim=P_ENC, decoder_pop_dim=P_DEC, net_arch=[8]
    )
    net = policy.actor.net
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.mul_(3.0)
    obs = observations(7).float()
    with torch.no_grad():
        readout = reference_actor(net.double(), obs.double(), "lif", "deterministic", act_dim=act_dim).float()
        net.float()
        squashed = torch.tanh(readout)
        torch.testing.assert_close(policy.actor(obs), squashed, atol=1e-5, rtol=0)
    assert squashed.std() > 0.05, "the readout must vary with the observation"
    actions = policy.predict(obs.numpy(), deterministic=True)[0]
    expected = low + 0.5 * (squashed.numpy() + 1.0) * (high - low)
    np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0)


def test_discrete_action_space_is_rejected() -> None:
    obs_space = gym.spaces.Box(-1, 1, (5,), np.float32)
    with pytest.raises(ValueError, match="Box action space"):
        SpikingPopPolicy(obs_space, gym.spaces.Discrete(3), lr)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(neuron="izhikevich"), "allowed: \\['lif', 'dynamic'\\]"),
        (dict(encoder="poisson"), "deterministic"),
        (dict(surrogate="relu"), "rectangular"),
        (dict(surrogate=dict(name="trapezoidal", w1=0.6, w2=0.5)), "w1 < w2"),
        (dict(hidden_sizes=[]), "hidden_sizes"),
        (dict(spike_ts=0), "spike_ts"),
        (dict(mean_range=(3.0, -3.0)), "mean_range"),
        (dict(neuron="dynamic", dynamic_params=dict(theta_x=1.0)), "theta_v"),
        (dict(dynamic_params=dict(theta_v=1.0)), "neuron='dynamic'"),
        (dict(net_arch=dict(pi=[64], qf=[64])), "hidden_sizes"),
        (dict(voltage_decay=1.5), "voltage_decay"),
    ],
)
def test_bad_kwargs(kwargs: dict, match: str) -> None:
    obs_space = gym.spaces.Box(-1, 1, (5,), np.float32)
    act_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    with pytest.raises(ValueError, match=match):
        SpikingPopPolicy(obs_space, act_space, lr, **kwargs)


def test_encoder_initialisation() -> None:
    net = PopSpikingNetwork(3, 1, PopSANConfig(encoder_pop_dim=10))
    torch.testing.assert_close(net.encoder.mean[1], torch.linspace(-3, 3, 10))
    torch.testing.assert_close(net.encoder.std, torch.full((3, 10), math.sqrt(0.15)))


def test_sac_actor_log_prob_matches_squashed_gaussian() -> None:
    """SAC actor: mean = spiking readout (per-timestep reference), log-std = clamped MLP, log-probability of the
    squashed sample = Normal log-density of the pre-tanh sample minus sum log(1 - tanh^2 + 1e-6) (SB3's epsilon)."""
    torch.manual_seed(1)
    obs_space = gym.spaces.Box(-3, 3, (OBS,), np.float32)
    act_space = gym.spaces.Box(-1, 1, (ACT,), np.float32)
    policy = SpikingPopSACPolicy(
        obs_space, act_space, lr, hidden_sizes=HIDDEN, encoder_pop_dim=P_ENC, decoder_pop_dim=P_DEC, net_arch=[8],
        log_std_hidden_sizes=[6],
    )  # fmt: skip
    actor = policy.actor
    with torch.no_grad():
        for layer in actor.net.layers:
            layer.weight.mul_(3.0)
    obs = observations(9).float()
    actions, log_prob = actor.action_log_prob(obs)
    pre_tanh = actor.action_dist.gaussian_actions.detach().double()

    with torch.no_grad():
        mean = reference_actor(actor.net.double(), obs.double(), "lif", "deterministic")
        actor.net.float()
        first, second = actor.log_std[0], actor.log_std[2]
        hidden = torch.relu(obs.double() @ first.weight.double().T + first.bias.double())
        log_std = (hidden @ second.weight.double().T + second.bias.double()).clamp(-20.0, 2.0)
    normal = torch.distributions.Normal(mean, log_std.exp())
    want = normal.log_prob(pre_tanh).sum(1) - torch.log(1.0 - torch.tanh(pre_tanh) ** 2 + 1e-6).sum(1)
    torch.testing.assert_close(actions.detach().double(), torch.tanh(pre_tanh), atol=1e-6, rtol=0)
    torch.testing.assert_close(log_prob.detach().double(), want, atol=1e-4, rtol=1e-5)
    assert mean.std() > 0.05 and (pre_tanh - mean).abs().max() > 1e-3  # a real sample around a varying mean
    with torch.no_grad():
        torch.testing.assert_close(actor(obs, deterministic=True).double(), torch.tanh(mean), atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None, reason="torch.compile needs a C++ compiler"
)
@pytest.mark.parametrize("neuron", ["lif", "dynamic"])
def test_compiled_network_matches_eager(neuron: str) -> None:
    """``compile_network=True``: same actions and same gradients as the eager network with the same weights."""
    obs_space = gym.spaces.Box(-3, 3, (OBS,), np.float32)
    act_space = gym.spaces.Box(-1, 1, (ACT,), np.float32)
    kwargs = dict(hidden_sizes=HIDDEN, encoder_pop_dim=P_ENC, decoder_pop_dim=P_DEC, net_arch=[8], neuron=neuron)
    compiled = SpikingPopPolicy(obs_space, act_space, lr, compile_network=True, **kwargs)
    eager = SpikingPopPolicy(obs_space, act_space, lr, **kwargs)
    with torch.no_grad():
        for layer in compiled.actor.net.layers:
            layer.weight.mul_(3.0 if neuron == "lif" else 1.0)
    eager.load_state_dict(compiled.state_dict())
    obs = observations().float()
    out, out_eager = compiled.actor(obs), eager.actor(obs)
    torch.testing.assert_close(out, out_eager, atol=1e-6, rtol=0)
    upstream = torch.randn_like(out)
    grads = torch.autograd.grad((out * upstream).sum(), list(compiled.actor.parameters()))
    grads_eager = torch.autograd.grad((out_eager * upstream).sum(), list(eager.actor.parameters()))
    for g, g_eager in zip(grads, grads_eager, strict=True):
        torch.testing.assert_close(g, g_eager, rtol=1e-4, atol=1e-5)  # fused float32 sums round differently
    assert sum(float(g.abs().sum()) for g in grads_eager) > 0
    with torch.no_grad():
        torch.testing.assert_close(compiled.actor(obs), eager.actor(obs), atol=1e-6, rtol=0)  # the inference scan
