"""SpikingPopPolicy inside SB3: construction by name, learning, save/load, VecNormalize."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

import sb3_spiking  # noqa: F401
from sb3_spiking.policies.popsan import PopSpikingActor, PopSpikingSACActor, SpikingPopPolicy
from sb3_spiking.snn.neurons import CurrentLIF, DynamicNeuron
from sb3_spiking.snn.schedules import set_sharpness
from sb3_spiking.snn.surrogate import make

SMALL = dict(hidden_sizes=[16], net_arch=[16], encoder_pop_dim=4, decoder_pop_dim=3)


@pytest.mark.parametrize("algo", [TD3, DDPG, SAC])
def test_learn_save_load(algo: type, tmp_path) -> None:
    policy_kwargs = dict(SMALL, surrogate=make("trapezoidal", w1=0.2, w2=0.6))
    model = algo(
        "SpikingPopPolicy", "Pendulum-v1", learning_starts=30, batch_size=16, policy_kwargs=policy_kwargs, seed=0
    )
    assert isinstance(model.actor, PopSpikingSACActor if algo is SAC else PopSpikingActor)
    before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(60)
    changed = [not torch.equal(b, p) for b, p in zip(before, model.actor.parameters(), strict=True)]
    assert all(changed), "every actor parameter (mu, sigma, weights, readout) is trained"
    obs = np.random.default_rng(0).uniform(-1, 1, (8, 3)).astype(np.float32)
    actions = model.predict(obs, deterministic=True)[0]
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", device="cpu")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    saved = loaded.policy._get_constructor_parameters()["surrogate"]
    assert saved == {"name": "trapezoidal", "w1": 0.2, "w2": 0.6, "height": None}
    assert loaded.policy.actor.net.neurons[0].spike.w1 == 0.2


def test_dynamic_neuron_policy_round_trip(tmp_path) -> None:
    policy_kwargs = dict(SMALL, neuron="dynamic", dynamic_params=dict(theta_s=0.2, u_sign=-1.0))
    model = TD3("SpikingPopPolicy", "Pendulum-v1", learning_starts=10, batch_size=8, policy_kwargs=policy_kwargs)
    model.learn(20)
    neuron = model.policy.actor.net.neurons[0]
    assert isinstance(neuron, DynamicNeuron) and neuron.theta_s == 0.2 and neuron.u_sign == -1.0
    assert model.policy.actor.net.encoder.mode == "real"
    model.save(tmp_path / "model")
    loaded = TD3.load(tmp_path / "model")
    obs = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    assert loaded.policy.actor.net.neurons[0].theta_s == 0.2


def test_vecnormalize_round_trip(tmp_path) -> None:
    env = VecNormalize(make_vec_env("Pendulum-v1", 2, seed=0), norm_reward=False, clip_obs=3.0)
    model = TD3("SpikingPopPolicy", env, learning_starts=20, batch_size=8, policy_kwargs=SMALL, seed=1)
    model.learn(40)
    model.save(tmp_path / "model")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    raw = np.array([[1.0, 0.0, 5.0], [-0.5, 0.8, -7.0]], np.float32)
    expected = model.predict(env.normalize_obs(raw))[0]

    new_env = VecNormalize.load(str(tmp_path / "vecnormalize.pkl"), make_vec_env("Pendulum-v1", 2, seed=5))
    new_env.training = False
    loaded = TD3.load(tmp_path / "model", env=new_env)
    normalised = new_env.normalize_obs(raw)
    assert np.abs(normalised).max() <= 3.0
    np.testing.assert_array_equal(loaded.predict(normalised)[0], expected)
    assert isinstance(loaded.policy.actor.net.neurons[0], CurrentLIF)


def test_surrogates_are_separate_instances_in_actor_and_target() -> None:
    model = TD3("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=SMALL)
    spikes = [m.spike for m in model.policy.modules() if isinstance(m, CurrentLIF)]
    assert len(spikes) == 4 and len({id(s) for s in spikes}) == 4


def test_discrete_env_is_rejected() -> None:
    with pytest.raises((ValueError, AssertionError), match="Box"):
        TD3("SpikingPopPolicy", "CartPole-v1")


def test_compile_option_is_saved_and_lazy(tmp_path) -> None:
    """``torch.compile`` is lazy: building and saving must not compile (no forward pass here)."""
    model = TD3("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL, compile_network=True))
    assert model.policy.actor.compile_network and model.policy.actor.run_net != model.policy.actor.net.forward
    assert set(model.policy.actor.state_dict()) == set(
        TD3("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=SMALL).actor.state_dict()
    )
    model.save(tmp_path / "model")
    assert TD3.load(tmp_path / "model").policy.actor.compile_network


def test_schedules_reach_every_spiking_layer() -> None:
    model = TD3("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=SMALL)
    set_sharpness(model.policy, 4.0)
    neurons = [m for m in model.policy.modules() if isinstance(m, CurrentLIF)]
    assert len(neurons) == 4 and all(n.spike.a == 0.25 for n in neurons)


# the Pendulum agent as shipped before policies/popsan.py became a package (class path sb3_spiking.policies.popsan.*)
SHIPPED = Path(__file__).resolve().parent / "data" / "td3-Pendulum-v1-before-0.2.zip"


def shipped_actor_reference(state: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
    """Pop-SAN's test-time forward (deterministic encoder, LIF d_c = 0.5, d_v = 0.75, v_th = 0.5, T = 5) written per
    timestep from the weights stored in the zip, in float64; returns tanh of the readout."""
    state = {k: v.double() for k, v in state.items()}
    mean, std = state["actor.net.encoder.mean"], state["actor.net.encoder.std"]
    stim = torch.exp(-0.5 * ((obs[:, :, None] - mean) / std) ** 2).flatten(1)  # Eq. 7
    n_layers = sum(1 for k in state if k.startswith("actor.net.layers.") and k.endswith(".weight"))
    currents, volts, spikes = [0.0] * n_layers, [0.0] * n_layers, [0.0] * n_layers
    enc_volt, count = torch.zeros_like(stim), 0.0
    for _ in range(5):
        enc_volt = enc_volt + stim  # Eq. 8
        x = (enc_volt > 1 - 1e-3).double()  # Eq. 9
        enc_volt = enc_volt - x * (1 - 1e-3)  # Eq. 10
        for k in range(n_layers):
            weight, bias = state[f"actor.net.layers.{k}.weight"], state[f"actor.net.layers.{k}.bias"]
            currents[k] = 0.5 * currents[k] + x @ weight.T + bias  # Eq. 11
            volts[k] = 0.75 * volts[k] * (1 - spikes[k]) + currents[k]  # Eq. 12
            spikes[k] = (volts[k] > 0.5).double()  # Eq. 13
            x = spikes[k]
        count = count + x
    weight, bias = state["actor.net.decoder.weight"], state["actor.net.decoder.bias"]
    rate = (count / 5).view(obs.shape[0], *weight.shape)  # Eq. 14-15
    return torch.tanh((rate * weight).sum(-1) + bias)  # Eq. 16


def test_shipped_agent_loads_and_acts_like_its_weights() -> None:
    """The agent saved before policies/popsan.py became a package (class path
    ``sb3_spiking.policies.popsan.SpikingPopPolicy``) loads and acts as its stored weights say."""
    with zipfile.ZipFile(SHIPPED) as archive:
        assert "sb3_spiking.policies.popsan" in archive.read("data").decode()
        with archive.open("policy.pth") as file:
            state = torch.load(io.BytesIO(file.read()), map_location="cpu", weights_only=True)
    model = TD3.load(SHIPPED, device="cpu")
    assert isinstance(model.policy, SpikingPopPolicy)
    assert model.policy.config.hidden_sizes == (64, 64) and model.policy.config.surrogate["name"] == "trapezoidal"
    obs = np.random.default_rng(0).uniform(-3, 3, (64, 3)).astype(np.float32)  # VecNormalize(clip_obs=3) range
    actions = model.predict(obs, deterministic=True)[0]
    expected = 2.0 * shipped_actor_reference(state, torch.as_tensor(obs, dtype=torch.float64)).numpy()  # bounds +-2
    np.testing.assert_allclose(actions, expected, atol=1e-4, rtol=0)
    assert np.std(actions) > 0.1
