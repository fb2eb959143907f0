"""Importing a checkpoint of the original Pop-SAN code: the imported TD3 model acts like the original actor."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sb3_spiking.policies.popsan import load_popsan_checkpoint

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "popsan_halfcheetah_v3"
MODEL, MEAN_VAR = FIXTURE / "model0_e100.pt", FIXTURE / "model0_e100_mean_var.p"
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="Pop-SAN checkpoint fixture not available")


def original_normalise(raw: np.ndarray) -> np.ndarray:
    with open(MEAN_VAR, "rb") as file:
        mean, var = pickle.load(file)
    return np.clip((raw - mean) / np.sqrt(var + np.finfo(np.float32).eps), -3, 3)


def original_actor(state: dict[str, torch.Tensor], obs: torch.Tensor, act_limit: float = 1.0) -> torch.Tensor:
    """The original PopSpikeActor's forward pass at test time, time-major, float32."""
    obs_dim, pop = state["encoder.mean"].shape[1:]
    stim = torch.exp(
        -(1.0 / 2.0) * (obs.view(-1, obs_dim, 1) - state["encoder.mean"]).pow(2) / state["encoder.std"].pow(2)
    )
    stim = stim.view(-1, obs_dim * pop)
    names = ["snn.hidden_layers.0", "snn.hidden_layers.1", "snn.out_pop_layer"]
    states = [[0.0, 0.0, 0.0] for _ in names]
    enc_volt, count = torch.zeros_like(stim), 0.0
    for _ in range(5):
        enc_volt = enc_volt + stim
        x = enc_volt.gt(1 - 1e-3).float()
        enc_volt = enc_volt - x * (1 - 1e-3)
        for k, name in enumerate(names):
            current, volt, spike = states[k]
            current = current * 0.5 + F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])
            volt = volt * 0.75 * (1.0 - spike) + current
            spike = volt.gt(0.5).float()
            states[k] = [current, volt, spike]
            x = spike
        count = count + x
    act_dim = state["decoder.decoder.bias"].shape[0]
    rate = (count / 5).view(-1, act_dim, state["decoder.decoder.weight"].shape[-1])
    readout = F.conv1d(rate, state["decoder.decoder.weight"], state["decoder.decoder.bias"], groups=act_dim)
    return act_limit * torch.tanh(readout.view(-1, act_dim))


def test_imported_checkpoint_acts_like_the_original() -> None:
    model, venv = load_popsan_checkpoint(MODEL, MEAN_VAR, "HalfCheetah-v5")
    state = torch.load(MODEL, map_location="cpu", weights_only=True)
    venv.seed(0)
    obs = venv.reset()
    raws, rewards = [], []
    for _ in range(150):
        raws.append(venv.get_original_obs()[0])
        action = model.predict(obs, deterministic=True)[0]
        obs, reward, _, _ = venv.step(action)
        rewards.append(reward[0])
    raw = np.stack(raws)
    normalised = original_normalise(raw)
    np.testing.assert_allclose(venv.normalize_obs(raw), normalised.astype(np.float32), rtol=0, atol=0)
    with torch.no_grad():
        expected = original_actor(state, torch.as_tensor(normalised, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(model.predict(venv.normalize_obs(raw))[0], expected, rtol=0, atol=1e-5)
    assert model.actor_target.net.layers[0].weight.equal(state["snn.hidden_layers.0.weight"])
    assert np.mean(rewards[50:]) > 5.0, "a trained cheetah runs forward (about 10 reward per step)"


def test_checkpoint_for_another_env_is_rejected() -> None:
    with pytest.raises(ValueError, match="obs_dim=17, act_dim=6"):
        load_popsan_checkpoint(MODEL, MEAN_VAR, "Hopper-v5")
