"""NIR export of Pop-SAN actors: the graph written and read with nir, imported by an independent consumer (snnTorch's
importer, which reads only the NIR file), reproduces our output spikes and, through the host decoder, our actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import DQN, TD3
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import sb3_spiking  # noqa: F401  (registers the policy names)
from sb3_spiking.export import export_nir, host_decode, host_encode, load_host, to_nir
from sb3_spiking.export import graph as export_graph


def popsan(encoder: str = "deterministic", **kwargs: object) -> TD3:
    policy_kwargs = dict(hidden_sizes=[16, 12], encoder=encoder, **kwargs)
    return TD3("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu", seed=0)


@pytest.mark.parametrize("encoder", ["deterministic", "real"])
def test_snntorch_import_reproduces_spikes_and_actions(tmp_path, encoder: str) -> None:
    nir = pytest.importorskip("nir")
    pytest.importorskip("nirtorch")
    import_nir = pytest.importorskip("snntorch.import_nir")
    model = popsan(encoder)
    net = model.policy.actor.net
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), training=False)
    venv.obs_rms.mean = np.array([0.1, -0.2, 0.5])
    venv.obs_rms.var = np.array([0.5, 0.4, 9.0])

    graph_path, host_path = export_nir(model, tmp_path / "policy.nir", vec_normalize=venv)
    graph = nir.read(graph_path)

    # the chain and the CUBA-LIF mapping of the spec, at dt = 1e-4: alpha = d_c = 0.5, beta = d_v = 0.75
    assert graph.edges == [("input", "fc0"), ("fc0", "lif0"), ("lif0", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"),
                           ("fc2", "lif2"), ("lif2", "output")]  # fmt: skip
    assert int(graph.metadata["spike_ts"]) == 5
    lif = graph.nodes["lif1"]
    assert isinstance(lif, nir.CubaLIF) and isinstance(graph.nodes["fc1"], nir.Affine)
    np.testing.assert_allclose(lif.tau_syn, 1e-4 / (1 - 0.5))
    np.testing.assert_allclose(lif.tau_mem, 1e-4 / (1 - 0.75))
    np.testing.assert_allclose(lif.w_in, lif.tau_syn / 1e-4)
    np.testing.assert_allclose(lif.r, lif.tau_mem / 1e-4)
    assert np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0) and np.all(lif.v_threshold == 0.5)
    np.testing.assert_array_equal(graph.nodes["fc1"].weight, net.layers[1].weight.detach().numpy())

    obs = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], (256, 3)).astype(np.float32)
    normalized = venv.normalize_obs(obs)
    host = load_host(host_path)
    frames = host_encode(host, obs)
    with torch.no_grad():
        ours_frames = net.encoder(torch.as_tensor(normalized)).numpy()
    np.testing.assert_allclose(frames, ours_frames, atol=1e-6 if encoder == "real" else 0)

    output: list[torch.Tensor] = []
    hook = net.neurons[-1].register_forward_hook(lambda _m, _i, out: output.append(out))
    actions, _ = model.predict(normalized, deterministic=True)
    hook.remove()
    ours = output[0].numpy()  # (T, 256, act_dim x P_dec)

    imported = import_nir.import_from_nir(graph)
    state, theirs = None, []
    with torch.no_grad():
        for frame in frames:
            spikes, state = imported(torch.as_tensor(frame, dtype=torch.float32), state)
            theirs.append(spikes.numpy())
    theirs = np.stack(theirs)

    assert 0 < ours.sum() < ours.size  # a non-trivial case
    np.testing.assert_array_equal(theirs.sum(0), ours.sum(0))
    np.testing.assert_allclose(host_decode(host, theirs), actions, atol=1e-5)


def test_models_nir_cannot_represent_are_refused() -> None:
    with pytest.raises(ValueError, match="dynamic neuron"):
        to_nir(popsan(neuron="dynamic"))
    with pytest.raises(ValueError, match=r"current_decay = 1\.0"):
        to_nir(popsan(current_decay=1.0))
    cvtc = DQN("CVTCPolicy", "CartPole-v1", policy_kwargs=dict(hidden_sizes=[4], obs_range=3.0), device="cpu")
    with pytest.raises(ValueError, match=r"CVTC neurons.*Eq\. 9"):
        to_nir(cvtc)
    grsn = RecurrentPPO("GRSNPolicy", "CartPole-v1", n_steps=8, batch_size=8, device="cpu")
    with pytest.raises(ValueError, match="GRSN cell's gates"):
        to_nir(grsn.policy)
    with pytest.raises(TypeError, match="SpikingPopPolicy"):
        to_nir(TD3("MlpPolicy", "Pendulum-v1", device="cpu"))
    with pytest.raises(ValueError, match="dt"):
        to_nir(popsan(), dt=0.0)


def test_without_nir_the_error_names_the_extra(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(export_graph, "nir", None)
    with pytest.raises(ImportError, match=r"sb3-spiking\[nir\]"):
        export_nir(popsan(), tmp_path / "policy.nir")


def test_export_command_keeps_the_agents_normalisation(tmp_path) -> None:
    nir = pytest.importorskip("nir")
    from sb3_spiking.cli import main
    from sb3_spiking.hub import load_local
    from sb3_spiking.resources import data_dir

    folder = data_dir("trained_agents") / "td3-SpikingPopPolicy-Pendulum-v1"
    assert main(["export", str(folder), "-o", str(tmp_path / "policy.nir")]) == 0
    graph = nir.read(tmp_path / "policy.nir")
    host = load_host(tmp_path / "policy.host.npz")
    model, env = load_local(folder, seed=0, device="cpu")
    np.testing.assert_array_equal(graph.nodes["fc0"].weight, model.policy.actor.net.layers[0].weight.detach().numpy())
    np.testing.assert_allclose(host["obs_mean"], env.obs_rms.mean)
    obs = np.random.default_rng(1).uniform([-1, -1, -8], [1, 1, 8], (64, 3)).astype(np.float32)
    with torch.no_grad():
        frames = model.policy.actor.net.encoder(torch.as_tensor(env.normalize_obs(obs))).numpy()
    np.testing.assert_array_equal(host_encode(host, obs), frames)
