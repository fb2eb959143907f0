"""NIR export of the seed 003 LIF recurrent core (RecurrentTD3, RecurrentDQN, QMIX, RecurrentPPO): the graph written and
read with nir reproduces the core's spikes step by step, imported by snnTorch (which reads only the NIR file) and run
by an interpreter written here from the NIR node definitions; the policy's host parts around the imported core give
the policy's actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.env_util import make_vec_env

from sb3_spiking import RecurrentDQN, RecurrentTD3
from sb3_spiking.export import export_nir, load_host, to_nir
from sb3_spiking.marl import QMIX

nir = pytest.importorskip("nir")


def spread() -> object:
    from mpe2 import simple_spread_v3

    return simple_spread_v3.parallel_env(N=3, max_cycles=25, continuous_actions=False)


def lif_core_model(family: str, **cell: float) -> tuple[object, torch.nn.Module]:
    """A model of ``family`` with a 2-layer LIF core (seed 003 baseline) and that core, weights and biases raised so
    that both layers fire on inputs in [-3, 3]."""
    kwargs = dict(beta=0.5, **cell)
    if family == "recurrent_td3":
        policy_kwargs = dict(core="lif", hidden_size=16, core_kwargs=dict(num_layers=2, **kwargs))
        model = RecurrentTD3("RecurrentPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu", seed=0)
        core = model.policy.network("actor").core
    elif family == "recurrent_dqn":
        policy_kwargs = dict(core="lif", hidden_size=16, core_kwargs=dict(num_layers=2, **kwargs))
        model = RecurrentDQN("GRSNPolicy", "CartPole-v1", policy_kwargs=policy_kwargs, device="cpu", seed=0)
        core = model.policy.network("q_net").core
    elif family == "qmix":
        agent_kwargs = dict(hidden_dim=16, num_layers=2, core_kwargs=kwargs)
        model = QMIX("lif", spread(), agent_kwargs=agent_kwargs, device="cpu", seed=0)
        core = model.policy.agent_net.core
    else:
        policy_kwargs = dict(lstm_hidden_size=16, n_lstm_layers=2, cell_kwargs=kwargs)
        model = RecurrentPPO("LIFRecurrentPolicy", "CartPole-v1", n_steps=8, policy_kwargs=policy_kwargs, device="cpu")
        core = model.policy.lstm_actor
    with torch.no_grad():
        for cell in core.cells:
            cell.fc.weight.mul_(6.0)
            cell.fc.bias.fill_(1.0)
    return model, core


def nir_lif_reference(graph: object, inputs: np.ndarray) -> np.ndarray:
    """
    The graph run step by step from the NIR definitions (float64): ``Affine`` y = W x + b; ``LIF`` one forward-Euler
    step ``v <- v + dt / tau (v_leak - v + r I)``, ``z = v > v_threshold``, ``v <- v_reset`` where ``z``.

    :param inputs: (steps, batch, input size), every sequence starting from zero state
    :return: output spikes (steps, batch, output size)
    """
    dt = float(graph.metadata["dt"])
    order, node = [], "input"
    while node != "output":
        (node,) = [b for a, b in graph.edges if a == node]
        order.append(node)
    volts: dict[str, np.ndarray] = {}
    outputs = []
    for x in inputs.astype(np.float64):
        for name in order[:-1]:
            n = graph.nodes[name]
            if isinstance(n, nir.Affine):
                x = x @ n.weight.astype(np.float64).T + n.bias
            else:
                assert isinstance(n, nir.LIF)
                v = volts.get(name, np.zeros_like(x))
                v = v + dt / n.tau * (n.v_leak - v + n.r * x)
                x = (v > n.v_threshold).astype(np.float64)
                volts[name] = np.where(x > 0, n.v_reset, v)
        outputs.append(x)
    return np.stack(outputs)


def core_spikes(core: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return core(torch.as_tensor(inputs))[0].numpy()


@pytest.mark.parametrize("family", ["recurrent_td3", "recurrent_dqn", "qmix", "recurrent_ppo"])
def test_snntorch_import_reproduces_the_core_spikes(tmp_path, family: str) -> None:
    import_nir = pytest.importorskip("snntorch.import_nir")
    pytest.importorskip("nirtorch")
    model, core = lif_core_model(family)
    path, host_path = export_nir(model, tmp_path / "core.nir")
    graph = nir.read(path)

    # seed 003 Eq. 1-5 as NIR's LIF at dt = 1e-4: tau = dt / (1 - beta), r = 1, v_leak = 0, v_reset = u_r
    assert graph.edges == [("input", "fc0"), ("fc0", "lif0"), ("lif0", "fc1"), ("fc1", "lif1"), ("lif1", "output")]
    lif = graph.nodes["lif1"]
    assert isinstance(lif, nir.LIF) and isinstance(graph.nodes["fc0"], nir.Affine)
    np.testing.assert_allclose(lif.tau, 1e-4 / (1 - 0.5))
    assert np.all(lif.r == 1) and np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0) and np.all(lif.v_threshold == 1)
    np.testing.assert_array_equal(graph.nodes["fc1"].weight, core.cells[1].fc.weight.detach().numpy())
    host = load_host(host_path)  # the layers around the core stay on the host; the core's weights are in the graph
    assert not any(np.array_equal(value, graph.nodes["fc0"].weight) for value in host.values())
    assert len(host) > 0

    inputs = np.random.default_rng(0).uniform(-3, 3, (20, 256, core.input_size)).astype(np.float32)
    ours = core_spikes(core, inputs)
    imported = import_nir.import_from_nir(graph)
    state, theirs = None, []
    with torch.no_grad():
        for frame in inputs:
            spikes, state = imported(torch.as_tensor(frame), state)
            theirs.append(spikes.numpy())
    theirs = np.stack(theirs)

    assert 0.05 < ours.mean() < 0.95  # a non-trivial case
    np.testing.assert_array_equal(theirs, ours)


@pytest.mark.parametrize("beta", [0.5, 0.8])
def test_nir_definitions_reproduce_the_core_spikes_with_a_reset_potential(beta: float) -> None:
    """snnTorch's importer resets to 0 only; an interpreter of the NIR definitions checks v_reset = u_r and beta."""
    model, core = lif_core_model("recurrent_td3", reset_potential=0.25)
    for cell in core.cells:
        cell.beta = beta
    graph = to_nir(model)
    np.testing.assert_allclose(graph.nodes["lif0"].tau, 1e-4 / (1 - beta))
    assert np.all(graph.nodes["lif0"].v_reset == 0.25)
    inputs = np.random.default_rng(1).uniform(-3, 3, (20, 128, core.input_size)).astype(np.float32)
    ours = core_spikes(core, inputs)
    assert 0.05 < ours.mean() < 0.95
    np.testing.assert_array_equal(nir_lif_reference(graph, inputs), ours)


def test_host_parts_around_the_imported_core_give_the_policy_actions() -> None:
    """RecurrentTD3: embeddings (host) -> imported NIR core -> head (host) equals model.predict over an episode."""
    import_nir = pytest.importorskip("snntorch.import_nir")
    model, _ = lif_core_model("recurrent_td3")
    actor = model.policy.network("actor")
    imported = import_nir.import_from_nir(to_nir(model.policy))
    env = model._wrap_env(make_vec_env(lambda: gym.make("Pendulum-v1"), n_envs=1, seed=0))
    obs, state, start = env.reset(), None, np.ones(1, dtype=bool)
    core_state, ours, theirs = None, [], []
    for _ in range(40):
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        with torch.no_grad():
            embedded, obs_embedding = actor.embed(torch.as_tensor(obs, dtype=torch.float32))
            spikes, core_state = imported(embedded, core_state)
            theirs.append(model.policy.unscale_action(actor.head(torch.cat([spikes, obs_embedding], -1)).numpy()))
        ours.append(action)
        obs, _, start, _ = env.step(action)
    assert not start.any()  # one episode segment: the core state is never reset
    assert np.std(ours) > 0
    np.testing.assert_allclose(np.concatenate(theirs), np.concatenate(ours), atol=1e-5)


def test_cores_nir_cannot_represent_are_refused() -> None:
    grsn = RecurrentTD3("RecurrentPolicy", "Pendulum-v1", policy_kwargs=dict(hidden_size=8), device="cpu")
    with pytest.raises(ValueError, match=r"actor\.core.*GRSN cell's gates.*soft reset"):
        to_nir(grsn)
    gru = QMIX("gru", spread(), agent_kwargs=dict(hidden_dim=8), device="cpu")
    with pytest.raises(ValueError, match=r"agent_net\.core.*non-spiking core GRUCore"):
        to_nir(gru)


def test_export_command_on_a_lif_core_agent(tmp_path) -> None:
    """`sb3-spiking export AGENT -o core.nir` on a packaged RecurrentDQN agent with a LIF core: the graph file holds
    the core, the NIR definitions run on it reproduce the core's spikes."""
    from sb3_spiking.cli import main
    from sb3_spiking.hub import package

    model, core = lif_core_model("recurrent_dqn")
    folder = package(model, "CartPole-v1", tmp_path / "agents", n_eval_episodes=1, estimate_energy=False)
    assert main(["export", str(folder), "-o", str(tmp_path / "core.nir")]) == 0
    graph = nir.read(tmp_path / "core.nir")
    assert (tmp_path / "core.host.npz").is_file()
    inputs = np.random.default_rng(2).uniform(-3, 3, (12, 64, core.input_size)).astype(np.float32)
    ours = core_spikes(core, inputs)
    assert 0.05 < ours.mean() < 0.95
    np.testing.assert_array_equal(nir_lif_reference(graph, inputs), ours)
