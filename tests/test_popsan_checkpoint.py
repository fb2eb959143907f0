"""Importing a checkpoint of the original Pop-SAN code: the imported TD3 model acts like the original actor; bad
files and envs are refused naming the file and what it should hold."""

import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_spiking.policies.popsan import load_popsan_checkpoint

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "popsan_halfcheetah_v3"
MODEL, MEAN_VAR = FIXTURE / "model0_e100.pt", FIXTURE / "model0_e100_mean_var.p"
needs_fixture = pytest.mark.skipif(not MODEL.exists(), reason="Pop-SAN checkpoint fixture not available")
SHIPPED_ZIP = (
    Path(__file__).resolve().parents[1] / "trained_agents/td3-SpikingPopPolicy-Pendulum-v1/td3-Pendulum-v1.zip"
)


def original_normalise(raw: np.ndarray, mean_var: Path = MEAN_VAR) -> np.ndarray:
    with open(mean_var, "rb") as file:
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


@needs_fixture
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


@needs_fixture
def test_checkpoint_for_another_env_is_rejected() -> None:
    with pytest.raises(ValueError, match="obs_dim=17, act_dim=6"):
        load_popsan_checkpoint(MODEL, MEAN_VAR, "Hopper-v5")


def write_checkpoint(
    tmp_path: Path, obs_dim: int = 3, act_dim: int = 1, pop: int = 4, hidden: int = 8
) -> tuple[Path, Path]:
    """A small checkpoint in the original format (two hidden layers) and its [mean, var] pickle."""
    gen = torch.Generator().manual_seed(0)
    state = {
        "encoder.mean": torch.linspace(-3, 3, pop).repeat(1, obs_dim, 1),
        "encoder.std": torch.full((1, obs_dim, pop), 0.15**0.5),
        "snn.hidden_layers.0.weight": torch.randn(hidden, obs_dim * pop, generator=gen),
        "snn.hidden_layers.0.bias": torch.randn(hidden, generator=gen) * 0.3,
        "snn.hidden_layers.1.weight": torch.randn(hidden, hidden, generator=gen),
        "snn.hidden_layers.1.bias": torch.randn(hidden, generator=gen) * 0.3,
        "snn.out_pop_layer.weight": torch.randn(act_dim * pop, hidden, generator=gen),
        "snn.out_pop_layer.bias": torch.randn(act_dim * pop, generator=gen) * 0.3,
        "decoder.decoder.weight": torch.randn(act_dim, 1, pop, generator=gen),
        "decoder.decoder.bias": torch.randn(act_dim, generator=gen) * 0.1,
    }
    model_path, mean_var_path = tmp_path / "model.pt", tmp_path / "mean_var.p"
    torch.save(state, model_path)
    with open(mean_var_path, "wb") as file:
        pickle.dump([np.array([0.1, -0.2, 0.5], np.float32), np.array([0.3, 0.4, 9.0], np.float32)], file)
    return model_path, mean_var_path


def test_small_checkpoint_acts_like_the_original(tmp_path: Path) -> None:
    model_path, mean_var_path = write_checkpoint(tmp_path)
    model, venv = load_popsan_checkpoint(model_path, mean_var_path, "Pendulum-v1")
    raw = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], (32, 3)).astype(np.float32)
    normalised = original_normalise(raw, mean_var_path)
    np.testing.assert_allclose(venv.normalize_obs(raw), normalised.astype(np.float32), rtol=0, atol=1e-6)
    state = torch.load(model_path, weights_only=True)
    with torch.no_grad():
        expected = original_actor(state, torch.as_tensor(normalised, dtype=torch.float32), act_limit=2.0).numpy()
    actions = model.predict(venv.normalize_obs(raw), deterministic=True)[0]
    np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)
    assert np.std(actions) > 0.05


def write_pickle(path: Path, value: object) -> Path:
    with open(path, "wb") as file:
        pickle.dump(value, file)
    return path


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ([np.float32(0.5), np.float32(1.0)], r"mean is .*0\.5.* \(shape \(\)\)"),  # one value
        ([np.zeros(3), np.array([1.0, -0.1, 1.0])], "var has negative entries"),
        ({"mean": np.zeros(3), "var": np.ones(3)}, "holds dict"),
        ([np.zeros(3), np.ones(3), np.ones(3)], "holds list"),
        ([np.zeros(3), np.array([1.0, np.nan, 1.0])], "var is"),
        ([np.zeros(4), np.ones(4)], r"shape \(4,\)"),
        ([["a", "b", "c"], np.ones(3)], "mean is"),
    ],
)
def test_bad_mean_var_file_is_refused(tmp_path: Path, content: object, match: str) -> None:
    model_path, _ = write_checkpoint(tmp_path)
    bad = write_pickle(tmp_path / "bad.p", content)
    with pytest.raises(ValueError, match=match) as info:
        load_popsan_checkpoint(model_path, bad, "Pendulum-v1")
    assert "bad.p" in str(info.value) and "[mean, var]" in str(info.value) and "obs_dim = 3" in str(info.value)


def test_swapped_or_foreign_files_are_refused(tmp_path: Path) -> None:
    model_path, mean_var_path = write_checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"model_path .*mean_var\.p.*swapped"):
        load_popsan_checkpoint(mean_var_path, model_path, "Pendulum-v1")
    with pytest.raises(ValueError, match=r"mean_var_path .*model\.pt.*swapped"):
        load_popsan_checkpoint(model_path, model_path, "Pendulum-v1")
    with pytest.raises(ValueError, match="Stable-Baselines3 model zip"):
        load_popsan_checkpoint(SHIPPED_ZIP, mean_var_path, "Pendulum-v1")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds a list, expected a torch state dict"):
        load_popsan_checkpoint(tmp_path / "list.pt", mean_var_path, "Pendulum-v1")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda state: state.pop("snn.out_pop_layer.bias"), r"lacks the keys \['snn.out_pop_layer.bias'\]"),
        (lambda state: state.update({"encoder.std": torch.ones(1, 3, 5)}), "encoder.std"),
        (lambda state: state.update({"snn.hidden_layers.1.weight": torch.ones(8, 7)}), "snn.hidden_layers.1"),
        (lambda state: state.update({"decoder.decoder.weight": torch.ones(1, 1, 3)}), "act_dim \\* P_dec"),
    ],
)
def test_inconsistent_state_dict_is_refused(tmp_path: Path, change, match: str) -> None:
    model_path, mean_var_path = write_checkpoint(tmp_path)
    state = torch.load(model_path, weights_only=True)
    change(state)
    torch.save(state, model_path)
    with pytest.raises(ValueError, match=match) as info:
        load_popsan_checkpoint(model_path, mean_var_path, "Pendulum-v1")
    assert "model.pt" in str(info.value)


def test_unsuitable_env_is_refused(tmp_path: Path) -> None:
    model_path, mean_var_path = write_checkpoint(tmp_path)
    normalised = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    with pytest.raises(ValueError, match="already wrapped in VecNormalize"):
        load_popsan_checkpoint(model_path, mean_var_path, normalised)
    asymmetric = gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), min_action=-1.0, max_action=3.0)
    with pytest.raises(ValueError, match="not symmetric"):
        load_popsan_checkpoint(model_path, mean_var_path, asymmetric)
    with pytest.raises(ValueError, match="obs_dim=3, act_dim=1"):
        load_popsan_checkpoint(model_path, mean_var_path, "CartPole-v1")
    with pytest.raises(TypeError, match="env must be"):
        load_popsan_checkpoint(model_path, mean_var_path, 42)
