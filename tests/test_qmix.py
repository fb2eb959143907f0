"""QMIX with spiking agents (sb3_spiking.marl): mixer, targets, agents, masks, learn, save/load, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from gymnasium import spaces
from mpe2 import simple_speaker_listener_v4, simple_spread_v3
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, StopTrainingOnMaxEpisodes
from stable_baselines3.common.logger import configure

from sb3_spiking.marl import QMIX, QMixer, RecurrentAgent
from sb3_spiking.marl.learner import td_lambda_targets
from sb3_spiking.snn.neurons import GRSNCell, LIFCell
from sb3_spiking.snn.recurrent import SpikingRecurrent

FAST = dict(batch_size=4, buffer_size=50, exploration_steps=100, target_update_interval=5)


def spread_env() -> Any:
    return simple_spread_v3.parallel_env(N=3, local_ratio=0.5, max_cycles=25, continuous_actions=False)


class MaskedEnv:
    """Tiny cooperative ParallelEnv with Dict observations carrying random action masks, no global state."""

    metadata: dict[str, Any] = {"name": "masked_v0"}

    def __init__(self, episode_length: int = 6, n_actions: int = 5) -> None:
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.episode_length = episode_length
        self.n_actions = n_actions
        self.seen_actions: list[tuple[int, np.ndarray]] = []
        self._obs_space = spaces.Dict(
            {
                "observation": spaces.Box(-1.0, 1.0, (3,), np.float32),
                "action_mask": spaces.MultiBinary(n_actions),
            }
        )

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(self.n_actions)

    def _observe(self) -> dict[str, Any]:
        self.masks = {}
        out = {}
        for agent in self.possible_agents:
            mask = (self.rng.random(self.n_actions) < 0.4).astype(np.int8)
            mask[self.rng.integers(self.n_actions)] = 1
            self.masks[agent] = mask
            out[agent] = {"observation": self.rng.uniform(-1, 1, 3).astype(np.float32), "action_mask": mask}
        return out

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        for agent, action in actions.items():
            self.seen_actions.append((action, self.masks[agent]))
        self.t += 1
        rewards = {a: float(actions[a] == 0) for a in self.agents}
        done = self.t >= self.episode_length
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        obs = self._observe()
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, {a: {} for a in self.possible_agents}


def _random_mixer(n_agents: int = 3, state_dim: int = 7, seed: int = 0) -> QMixer:
    torch.manual_seed(seed)
    mixer = QMixer(n_agents, state_dim, embed_dim=8, hypernet_hidden=16).double()
    with torch.no_grad():
        for p in mixer.parameters():
            p.normal_(0.0, 1.0)  # large signed weights: monotonicity must come from abs(), not from init
    return mixer


def test_mixer_monotonic_autograd() -> None:
    mixer = _random_mixer()
    qs = torch.randn(256, 3, dtype=torch.float64, requires_grad=True) * 5
    qs.retain_grad()
    states = torch.randn(256, 7, dtype=torch.float64)
    q_tot = mixer(qs, states)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()
    assert (grad > 0).any()


def test_mixer_monotonic_finite_differences() -> None:
    mixer = _random_mixer(seed=1)
    qs = torch.randn(256, 3, dtype=torch.float64) * 5
    states = torch.randn(256, 7, dtype=torch.float64)
    with torch.no_grad():
        base = mixer(qs, states)
        for a in range(3):
            for h in (1e-3, 0.5, 10.0):
                bumped = qs.clone()
                bumped[:, a] += h
                assert (mixer(bumped, states) - base >= -1e-12).all()


def test_mixer_matches_formula() -> None:
    mixer = _random_mixer(n_agents=2, state_dim=4, seed=2)
    rng = np.random.default_rng(0)
    qs = rng.normal(size=(5, 6, 2))
    states = rng.normal(size=(5, 6, 4))
    out = mixer(torch.as_tensor(qs), torch.as_tensor(states)).detach().numpy()
    assert out.shape == (5, 6, 1)

    p = {k: v.detach().numpy() for k, v in mixer.state_dict().items()}
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    elu = lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0.0)) - 1.0)  # noqa: E731
    for i in range(5):
        for j in range(6):
            s, q = states[i, j], qs[i, j]
            w1 = np.abs(
                p["hyper_w1.2.weight"] @ relu(p["hyper_w1.0.weight"] @ s + p["hyper_w1.0.bias"]) + p["hyper_w1.2.bias"]
            )
            w1 = w1.reshape(2, 8)
            b1 = p["hyper_b1.weight"] @ s + p["hyper_b1.bias"]
            hidden = elu(q @ w1 + b1)
            w2 = np.abs(
                p["hyper_w2.2.weight"] @ relu(p["hyper_w2.0.weight"] @ s + p["hyper_w2.0.bias"]) + p["hyper_w2.2.bias"]
            )
            v = p["value.2.weight"] @ relu(p["value.0.weight"] @ s + p["value.0.bias"]) + p["value.2.bias"]
            np.testing.assert_allclose(out[i, j, 0], hidden @ w2 + v[0], rtol=1e-10, atol=1e-10)


def _lambda_return_reference(
    rewards: np.ndarray, values: np.ndarray, length: int, terminal: bool, gamma: float, lam: float
) -> np.ndarray:
    """Forward view: weighted average of n-step returns; values[t] = V(s_{t+1}); V = 0 after a terminal."""
    boot = values[:length].copy()
    if terminal:
        boot[length - 1] = 0.0
    out = np.zeros(length)
    for t in range(length):
        horizon = length - t
        n_step = [
            sum(gamma**k * rewards[t + k] for k in range(n)) + gamma**n * boot[t + n - 1] for n in range(1, horizon + 1)
        ]
        weights = [(1 - lam) * lam ** (n - 1) for n in range(1, horizon)] + [lam ** (horizon - 1)]
        out[t] = sum(w * g for w, g in zip(weights, n_step, strict=True))
    return out


@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_td_lambda_targets_match_forward_view(lam: float) -> None:
    rng = np.random.default_rng(3)
    horizon, lengths, terminal = 7, [7, 4, 1, 5], [False, True, True, False]
    rewards = rng.normal(size=(horizon, 4))
    values = rng.normal(size=(horizon, 4))
    mask = np.zeros((horizon, 4))
    terminated = np.zeros((horizon, 4))
    for b, (length, term) in enumerate(zip(lengths, terminal, strict=True)):
        mask[:length, b] = 1
        terminated[length - 1, b] = float(term)
    got = td_lambda_targets(*(torch.as_tensor(x) for x in (rewards, terminated, mask, values)), 0.9, lam).numpy()
    for b, (length, term) in enumerate(zip(lengths, terminal, strict=True)):
        ref = _lambda_return_reference(rewards[:, b], values[:, b], length, term, 0.9, lam)
        np.testing.assert_allclose(got[:length, b], ref, rtol=1e-10)


@pytest.mark.parametrize("core", ["grsn", "gru"])
def test_loss_matches_per_agent_reference(core: str) -> None:
    """Inputs (last action, agent id), recurrence per agent, masked double-Q targets, terminals, padding."""
    env = MaskedEnv(episode_length=4)
    model = QMIX(core, env, seed=0, batch_size=6, buffer_size=50, exploration_steps=10)
    model.learn(4 * 6)
    with torch.no_grad():
        for p in model.target_agent_net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    env.episode_length = 2
    model.learn(2 * 3, reset_num_timesteps=False)  # shorter episodes: the batch is padded
    batch = model.replay_buffer.sample(len(model.replay_buffer), np.random.default_rng(0))
    loss = model.learner.loss(batch).loss

    spec = model.env_spec
    assert spec is not None
    n, n_actions = spec.n_agents, spec.n_actions
    errors = []
    with torch.no_grad():
        for b in range(batch.mask.shape[1]):
            length = int(batch.mask[:, b].sum())
            q = {"online": [], "target": []}
            for name, net in (("online", model.agent_net), ("target", model.target_agent_net)):
                for i in range(n):
                    state, values = None, []
                    for t in range(length + 1):
                        last = np.zeros(n_actions) if t == 0 else np.eye(n_actions)[int(batch.actions[t - 1, b, i])]
                        x = np.concatenate([batch.obs[t, b, i].numpy(), last, np.eye(n)[i]])
                        out, state = net(torch.tensor(x, dtype=torch.float32).view(1, 1, -1), state)
                        values.append(out[0, 0])
                    q[name].append(torch.stack(values))
            online, target = torch.stack(q["online"], 1), torch.stack(q["target"], 1)  # (length + 1, n, A)
            for t in range(length):
                chosen = torch.stack([online[t, i, batch.actions[t, b, i]] for i in range(n)])
                next_q = []
                for i in range(n):
                    avail = batch.avail_actions[t + 1, b, i]
                    best = max((a for a in range(n_actions) if avail[a]), key=lambda a, i=i: online[t + 1, i, a])
                    next_q.append(target[t + 1, i, best])
                bootstrap = model.target_mixer(torch.stack(next_q), batch.states[t + 1, b])[0]
                y = batch.rewards[t, b] + model.gamma * (1 - batch.terminated[t, b]) * bootstrap
                errors.append(model.mixer(chosen, batch.states[t, b])[0] - y)
    assert batch.terminated.sum() > 0 and batch.mask.sum() < batch.mask.numel()
    torch.testing.assert_close(loss.detach(), torch.stack(errors).pow(2).mean(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("core", ["grsn", "gru", "lif", "mlp"])
def test_agent_shapes_and_stepwise_equals_sequence(core: str) -> None:
    torch.manual_seed(0)
    agent = RecurrentAgent(10, 5, core=core, hidden_dim=16, fc_dim=12)
    x = torch.randn(6, 4, 10) * 3
    starts = torch.zeros(6, 4)
    starts[3, 1] = 1.0
    q_seq, state = agent(x, episode_starts=starts)
    assert q_seq.shape == (6, 4, 5)
    assert len(state) == agent.n_state_tensors and all(s.shape == (1, 4, 16) for s in state)
    step_state = None
    for t in range(6):
        q_t, step_state = agent(x[t : t + 1], step_state, starts[t : t + 1])
        torch.testing.assert_close(q_t[0], q_seq[t])
    fresh, _ = agent(x[3:, 1:2])  # the reset column restarts from zero state at t = 3
    torch.testing.assert_close(fresh[:, 0], q_seq[3:, 1])


def test_spiking_agent_reuses_the_shared_cells() -> None:
    grsn = RecurrentAgent(10, 5, core="grsn", core_kwargs={"surrogate": "fast_sigmoid"})
    lif = RecurrentAgent(10, 5, core="lif")
    assert isinstance(grsn.core, SpikingRecurrent) and isinstance(grsn.core.cells[0], GRSNCell)
    assert isinstance(lif.core, SpikingRecurrent) and isinstance(lif.core.cells[0], LIFCell)
    assert type(grsn.core.cells[0].spike).__name__.lower().startswith("fast")


def test_action_masks_respected_in_learning_and_predict() -> None:
    env = MaskedEnv()
    model = QMIX("grsn", env, seed=0, **FAST)
    assert model.env_spec is not None and model.env_spec.state_source == "concat"
    assert model.env_spec.state_dim == 6
    model.learn(60)
    assert model._n_updates > 0
    assert len(env.seen_actions) >= 120
    assert all(mask[action] == 1 for action, mask in env.seen_actions)
    obs, _ = env.reset(seed=5)
    state = None
    for deterministic in (True, False, True):
        actions, state = model.predict(obs, state, deterministic=deterministic)
        for agent, action in actions.items():
            assert obs[agent]["action_mask"][action] == 1
        obs = env._observe()


def test_predict_with_info_masks() -> None:
    model = QMIX("gru", spread_env(), seed=0)
    assert model.env_spec is not None and (model.env_spec.state_source, model.env_spec.state_dim) == ("env", 54)
    concat = QMIX("gru", spread_env(), global_state="concat").env_spec
    assert concat is not None and (concat.state_source, concat.state_dim) == ("concat", 54)
    obs, _ = spread_env().reset(seed=0)
    masks = {a: np.eye(5, dtype=np.int8)[3] for a in obs}
    actions, _ = model.predict(obs, action_masks=masks)
    assert actions == {a: 3 for a in obs}


class CountingCallback(BaseCallback):
    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.stop_at = stop_at
        self.started = False

    def _on_training_start(self) -> None:
        self.started = True

    def _on_step(self) -> bool:
        assert self.num_timesteps == self.model.num_timesteps
        return self.stop_at is None or self.n_calls < self.stop_at


def test_short_learn_on_simple_spread_logs_and_callbacks(tmp_path: Any) -> None:
    model = QMIX("grsn", spread_env(), seed=0, **FAST)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = CountingCallback()
    model.learn(250, callback=callback, log_interval=5, progress_bar=True)
    assert model.num_timesteps == 250 and callback.n_calls == 250 and callback.started
    assert model._episode_num == 10 and model._n_updates == 7
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"rollout/ep_rew_mean", "train/loss", "time/total_timesteps"} <= set(header)

    stopper = CountingCallback(stop_at=30)
    model.learn(1000, callback=stopper)
    assert model.num_timesteps == 30

    checkpoints = CheckpointCallback(25, str(tmp_path / "ckpt"), name_prefix="qmix")
    model.learn(1000, callback=[checkpoints, StopTrainingOnMaxEpisodes(2)])
    assert model.num_timesteps == 50
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["qmix_25_steps.zip", "qmix_50_steps.zip"]
    assert QMIX.load(tmp_path / "ckpt" / "qmix_50_steps.zip").num_timesteps == 50


def test_training_changes_the_spiking_core() -> None:
    model = QMIX("grsn", spread_env(), seed=0, **FAST)
    before = {k: v.clone() for k, v in model.agent_net.core.state_dict().items()}
    model.learn(125)
    changed = [k for k, v in model.agent_net.core.state_dict().items() if not torch.equal(v, before[k])]
    assert {"cells.0.forget_gate.weight", "cells.0.input_gate.weight", "cells.0.beta_logit"} <= set(changed)


def test_reproducible_with_seed() -> None:
    def run(seed: int) -> list[torch.Tensor]:
        model = QMIX("grsn", spread_env(), seed=seed, **FAST)
        model.learn(125)
        assert model._n_updates == 2
        return [p.detach().clone() for p in model.policy.parameters()]

    first, second, other = run(1), run(1), run(2)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("core", ["grsn", "gru"])
def test_save_load_predict_round_trip(tmp_path: Any, core: str) -> None:
    model = QMIX(core, spread_env(), seed=0, agent_kwargs={"hidden_dim": 32}, td_lambda=0.5, **FAST)
    model.learn(150)
    model.save(tmp_path / "qmix")
    loaded = QMIX.load(tmp_path / "qmix.zip", device="cpu")
    assert loaded.agent == core and loaded.td_lambda == 0.5 and loaded.num_timesteps == 150
    for name in ("agent_net", "mixer", "target_agent_net"):
        for (k, a), b in zip(
            getattr(model, name).state_dict().items(), getattr(loaded, name).state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), k

    env = spread_env()
    obs, _ = env.reset(seed=3)
    state_a = state_b = None
    for t in range(25):
        act_a, state_a = model.predict(obs, state_a, episode_start=t == 0)
        act_b, state_b = loaded.predict(obs, state_b, episode_start=t == 0)
        assert act_a == act_b
        for x, y in zip(state_a, state_b, strict=True):
            np.testing.assert_array_equal(x, y)
        obs, *_ = env.step(act_a)
    assert any(np.abs(s).sum() > 0 for s in state_a[:-1])

    with pytest.raises(ValueError, match="no environment"):
        loaded.learn(10)
    QMIX.load(tmp_path / "qmix.zip", env=spread_env()).learn(50, reset_num_timesteps=False)
    with pytest.raises(ValueError, match="does not match"):
        QMIX.load(tmp_path / "qmix.zip", env=simple_spread_v3.parallel_env(N=4, continuous_actions=False))


def test_bad_envs_and_arguments() -> None:
    with pytest.raises(ValueError, match="Discrete"):
        QMIX("grsn", simple_spread_v3.parallel_env(continuous_actions=True))
    with pytest.raises(ValueError, match="same Discrete action space"):
        QMIX("grsn", simple_speaker_listener_v4.parallel_env(continuous_actions=False))
    with pytest.raises(ValueError, match="ParallelEnv"):
        QMIX("grsn", object())
    with pytest.raises(ValueError, match=r"allowed: \['grsn', 'gru', 'lif', 'mlp'\]"):
        QMIX("lstm", spread_env())
    with pytest.raises(ValueError, match="rmsprop"):
        QMIX("grsn", spread_env(), optimizer="sgd")
    with pytest.raises(ValueError, match="concat"):
        QMIX("grsn", spread_env(), global_state="obs")
    with pytest.raises(ValueError, match="global_state='env'"):
        QMIX("grsn", MaskedEnv(), global_state="env")
    with pytest.raises(ValueError, match="td_lambda"):
        QMIX("grsn", spread_env(), td_lambda=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        QMIX("grsn", spread_env(), batch_size=64, buffer_size=32)
    with pytest.raises(ValueError, match="core_kwargs"):
        QMIX("gru", spread_env(), agent_kwargs={"core_kwargs": {"surrogate": "arctan"}})
    with pytest.raises(ValueError, match="needs an environment"):
        QMIX("grsn", None)
