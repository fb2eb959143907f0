"""The fast paths of the Pop-SAN / MDC-SAN actor against straightforward references: the closed-form deterministic
encoder against the per-step loop of seed 000's Eq. 8-10, the plain-operation spikes that ``torch.compile`` fuses
against the surrogate formulas and the hand-written backward passes (in eager mode, without compiling), and
``predict`` (no autograd) against the training forward, for every neuron, encoder and surrogate."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from sb3_spiking.policies.popsan import PopSANConfig, SpikingPopPolicy, SpikingPopSACPolicy
from sb3_spiking.policies.popsan import network as network_module
from sb3_spiking.snn.coding import (
    ENCODER_THRESHOLD,
    PopulationEncoder,
    _regular_spikes,
    _RegularSpikes,
    _straight_through_spikes,
)
from sb3_spiking.snn.neurons import CurrentLIF, _lif_steps
from sb3_spiking.snn.surrogate import SURROGATES, make

OBS, ACT = 17, 6  # HalfCheetah sizes
T = 5


def loop_spikes(stimulus: torch.Tensor, spike_ts: int) -> torch.Tensor:
    """Eq. 8-10 step by step: integrate, fire above 1 - 1e-3, subtract the threshold."""
    volt, spikes = torch.zeros_like(stimulus), []
    for _ in range(spike_ts):
        volt = volt + stimulus  # Eq. 8
        spike = (volt > ENCODER_THRESHOLD).to(stimulus.dtype)  # Eq. 9
        volt = volt - ENCODER_THRESHOLD * spike  # Eq. 10
        spikes.append(spike)
    return torch.stack(spikes)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spike_ts", [1, 5, 8, 40])
def test_closed_form_encoder_matches_per_step_loop(dtype: torch.dtype, spike_ts: int) -> None:
    stimulus = torch.rand(20000, dtype=dtype, generator=torch.Generator().manual_seed(spike_ts))
    stimulus[:4] = torch.tensor([0.0, 1.0, 0.5, ENCODER_THRESHOLD], dtype=dtype)
    got = _regular_spikes(stimulus, spike_ts)
    torch.testing.assert_close(got, loop_spikes(stimulus, spike_ts), atol=0, rtol=0)
    assert 0 < float(got.mean()) < 1


def test_closed_form_encoder_hand_worked() -> None:
    """A = 0.5: the voltage goes 0.5, 1.0 (fires, 0.001 left), 0.501, 1.001 (fires), 0.502; A = 1 fires every step;
    A = 0.999 (the threshold itself, not above it in float64) fires from the second step on."""
    stimulus = torch.tensor([0.5, 1.0, 0.0, 0.999], dtype=torch.float64)
    want = torch.tensor([[0, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=torch.float64)
    torch.testing.assert_close(_regular_spikes(stimulus, T), want.T, atol=0, rtol=0)


def test_encoder_refuses_steps_beyond_one_spike_per_step() -> None:
    with pytest.raises(ValueError, match=r"spike_ts must be at most 999 with the 'deterministic' encoder .*, got 1000"):
        PopulationEncoder(3, 4, 1000)
    with pytest.raises(ValueError, match="spike_ts must be at most 999 with the 'bernoulli' encoder"):
        PopSANConfig(spike_ts=1000, encoder="probabilistic")
    assert PopSANConfig(spike_ts=1000, encoder="real").spike_ts == 1000


def surrogate_formula(name: str, x: torch.Tensor) -> torch.Tensor:
    """The default surrogates' derivatives, written out (seed 000, Eq. 17; seed 003, Eq. 6; snnTorch; logistic)."""
    if name == "rectangular":  # a = 0.5, height 1 / (2a)
        return (x.abs() < 0.5).double()
    if name == "triangular":  # a = 0.5, height 1 / a
        return 2.0 * torch.clamp(1.0 - x.abs() / 0.5, min=0.0)
    if name == "trapezoidal":  # w1 = 0.25, w2 = 0.5, height 1 / (w1 + w2)
        return torch.clamp((0.5 - x.abs()) / 0.25, 0.0, 1.0) / 0.75
    if name == "arctan":  # alpha = 2
        return 2.0 / (2.0 * (1.0 + (torch.pi / 2.0 * 2.0 * x) ** 2))
    if name == "fast_sigmoid":  # k = 25
        return 1.0 / (1.0 + 25.0 * x.abs()) ** 2
    return 4.0 * torch.sigmoid(4.0 * x) * (1.0 - torch.sigmoid(4.0 * x))  # sigmoid, k = 4


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_straight_through_spike_has_the_surrogate_gradient(name: str) -> None:
    """On a grid through the kinks of every window (+-0.25, +-0.5) and 0: Heaviside forward, exactly g(x) backward,
    the same as the autograd Function's."""
    x = torch.cat([torch.linspace(-1.0, 1.0, 401), torch.tensor([-0.5, -0.25, 0.0, 0.25, 0.5])]).double()
    surrogate = make(name)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    plain, function = surrogate.straight_through(x1), surrogate(x2)
    torch.testing.assert_close(plain, (x > 0).double(), atol=0, rtol=0)
    plain.sum().backward()
    function.sum().backward()
    torch.testing.assert_close(x1.grad, surrogate_formula(name, x), atol=1e-15, rtol=0)
    torch.testing.assert_close(x1.grad, x2.grad, atol=0, rtol=0)
    assert (x1.grad > 0).any() and (x1.grad == 0).any() == (name in ("rectangular", "triangular", "trapezoidal"))


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_plain_lif_steps_match_the_hand_written_backward(name: str) -> None:
    """The operations compiled by torch.compile, run eagerly: same spikes and gradient as the fused scan."""
    lif = CurrentLIF(name, current_decay=0.4, voltage_decay=0.8, threshold=0.6)
    drive = torch.randn(T, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    upstream = torch.randn(T, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    plain = _lif_steps(drive, lambda v: lif.spike.straight_through(v - 0.6), 0.4, 0.8)
    fused = lif(drive)
    torch.testing.assert_close(plain, fused, atol=0, rtol=0)
    assert 0.1 < float(fused.detach().mean()) < 0.9
    (got,) = torch.autograd.grad((plain * upstream).sum(), drive)
    (want,) = torch.autograd.grad((fused * upstream).sum(), drive)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    assert want.abs().sum() > 0


def test_plain_encoder_spikes_match_the_custom_function() -> None:
    stimulus = torch.rand(6, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    upstream = torch.randn(T, 6, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    plain, function = _straight_through_spikes(stimulus, T), _RegularSpikes.apply(stimulus, T)
    torch.testing.assert_close(plain, function, atol=0, rtol=0)
    (got,) = torch.autograd.grad((plain * upstream).sum(), stimulus)
    (want,) = torch.autograd.grad((function * upstream).sum(), stimulus)
    gains = torch.tensor(
        [sum((1 - ENCODER_THRESHOLD) ** j for j in range(k + 1)) for k in range(T)], dtype=torch.float64
    )
    # the reset's gradient is kept: dv_t/dA = 1 + (1 - theta) dv_(t-1)/dA, a geometric sum
    torch.testing.assert_close(want, torch.tensordot(gains, upstream, dims=1), atol=1e-12, rtol=0)  # do_t/dA = g_t
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def lr(_: float) -> float:
    return 1e-3


def policy(cls: type, neuron: str, encoder: str, surrogate: str) -> SpikingPopPolicy | SpikingPopSACPolicy:
    """A HalfCheetah-sized policy whose layers fire at varied rates."""
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-3, 3, (OBS,), np.float32)
    high = np.arange(1, ACT + 1, dtype=np.float32)
    act_space = gym.spaces.Box(-high, high, dtype=np.float32)
    model = cls(obs_space, act_space, lr, neuron=neuron, encoder=encoder, surrogate=surrogate, net_arch=[8])
    with torch.no_grad():
        for layer in model.actor.net.layers:
            layer.weight.mul_(3.0 if neuron == "lif" else 2.0)
    return model


def layer_rates(model: SpikingPopPolicy, obs: torch.Tensor) -> list[float]:
    rates, net = [], model.actor.net
    with torch.no_grad():
        frames = net.encoder(obs)
        for layer, neuron in zip(net.layers, net.neurons, strict=True):
            frames = neuron(layer(frames))
            rates.append(float(frames.mean()))
    return rates


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("encoder", ["deterministic", "bernoulli", "real"])
@pytest.mark.parametrize("neuron", ["lif", "dynamic"])
def test_predict_gives_the_actions_of_the_training_forward(
    neuron: str, encoder: str, surrogate: str, batch: int
) -> None:
    """``predict`` (no autograd, inference mode) against the actor's autograd forward in eval mode (where the
    Bernoulli encoder gives the deterministic spikes), actions rescaled to the bounds by hand."""
    model = policy(SpikingPopPolicy, neuron, encoder, surrogate)
    obs = np.random.default_rng(batch).uniform(-3, 3, (batch, OBS)).astype(np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    model.actor.eval()
    squashed = model.actor(torch.as_tensor(obs))
    assert squashed.requires_grad
    np.testing.assert_array_equal(actions, model.unscale_action(squashed.detach().numpy()))
    rates = layer_rates(model, torch.as_tensor(obs))
    assert all(0.01 < rate < 0.99 for rate in rates), rates
    assert np.std(actions / model.action_space.high) > 0.05


@pytest.mark.parametrize("neuron, encoder", [("lif", "deterministic"), ("dynamic", "real")])
def test_sac_predict_gives_the_squashed_mean_of_the_training_forward(neuron: str, encoder: str) -> None:
    model = policy(SpikingPopSACPolicy, neuron, encoder, "triangular")
    obs = np.random.default_rng(0).uniform(-3, 3, (5, OBS)).astype(np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    mean, _, _ = model.actor.get_action_dist_params(torch.as_tensor(obs))
    assert mean.requires_grad
    np.testing.assert_array_equal(actions, model.unscale_action(torch.tanh(mean).detach().numpy()))
    assert np.std(actions / model.action_space.high) > 0.05


@pytest.mark.parametrize("encoder, taken", [("deterministic", True), ("bernoulli", True), ("real", False)])
def test_predict_takes_the_scripted_lif_path_unless_hooked(
    encoder: str, taken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``predict`` of a LIF actor runs the one-function inference path (the actions above are checked against the
    training forward); a forward hook on any submodule turns it off so that the hook runs (the energy count uses
    them), and the actions stay the same."""
    model = policy(SpikingPopPolicy, "lif", encoder, "rectangular")
    calls: list[int] = []
    original = network_module._lif_inference

    def counted(*args: object) -> torch.Tensor:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(network_module, "_lif_inference", counted)
    obs = np.random.default_rng(3).uniform(-3, 3, (4, OBS)).astype(np.float32)
    fast, _ = model.predict(obs, deterministic=True)
    assert len(calls) == int(taken)
    seen: list[torch.Tensor] = []
    handle = model.actor.net.neurons[1].register_forward_hook(lambda _m, _i, out: seen.append(out))
    hooked, _ = model.predict(obs, deterministic=True)
    handle.remove()
    assert len(calls) == int(taken) and len(seen) == 1  # the hooked call ran the modules
    np.testing.assert_array_equal(fast, hooked)
    with torch.no_grad():
        assert torch.equal(seen[0], layer_spikes(model, torch.as_tensor(obs), layer=1))


def layer_spikes(model: SpikingPopPolicy, obs: torch.Tensor, layer: int) -> torch.Tensor:
    """Spikes of one layer, running the modules one by one."""
    net = model.actor.net
    frames = net.encoder(obs)
    for k, (linear, neuron) in enumerate(zip(net.layers, net.neurons, strict=True)):
        frames = neuron(linear(frames))
        if k == layer:
            return frames
    raise IndexError(layer)
