"""RecurrentPPO + GRSNPolicy / LIFRecurrentPolicy, RecurrentTD3, RecurrentDQN and the sequence replay buffer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from rl_zoo3.utils import create_test_env
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy

import sb3_spiking
from sb3_spiking.algos.sequence_buffer import SequenceReplayBuffer
from sb3_spiking.envs import VecPrevActionReward

SMALL = dict(learning_starts=30, seq_len=6, batch_size=4, buffer_size=1000, seed=0)


def _td3(core: str = "grsn", **kwargs) -> sb3_spiking.RecurrentTD3:
    policy_kwargs = dict(core=core, hidden_size=16, net_arch=[16])
    return sb3_spiking.RecurrentTD3("GRSNPolicy", "Pendulum-P-v0", policy_kwargs=policy_kwargs, **SMALL, **kwargs)


def _dqn(core: str = "grsn", **kwargs) -> sb3_spiking.RecurrentDQN:
    policy_kwargs = dict(core=core, hidden_size=16, net_arch=[16])
    return sb3_spiking.RecurrentDQN("GRSNPolicy", "CartPole-V-v0", policy_kwargs=policy_kwargs, **SMALL, **kwargs)


def _ppo(policy: str) -> RecurrentPPO:
    kwargs = dict(lstm_hidden_size=16, net_arch=[16])
    return RecurrentPPO(policy, "CartPole-P-v0", n_steps=16, batch_size=8, n_epochs=1, policy_kwargs=kwargs, seed=0)


# ---------------------------------------------------------------- sequence replay buffer


def _fill(buffer: SequenceReplayBuffer, lengths: list[list[int]], truncated: bool = False) -> list[dict]:
    """Adds episodes of the given lengths per env (obs / actions / rewards are unique numbers); returns them."""
    rng = np.random.default_rng(0)
    n_envs = len(lengths)
    queues = [list(ls) for ls in lengths]
    current = [{"obs": [rng.normal(size=3)], "act": [], "rew": [], "len": q.pop(0)} for q in queues]
    finished = []
    while all(c is not None for c in current):  # SB3 steps all envs together: stop when one has no episode left
        obs = np.stack([c["obs"][-1] for c in current])
        next_obs = rng.normal(size=(n_envs, 3))
        actions, rewards = rng.uniform(-1, 1, size=(n_envs, 1)), rng.normal(size=n_envs)
        dones = np.array([len(c["act"]) + 1 == c["len"] for c in current])
        buffer.add(obs, next_obs, actions, rewards, dones, [{"TimeLimit.truncated": truncated} for _ in current])
        for i, c in enumerate(current):
            c["obs"].append(next_obs[i])
            c["act"].append(actions[i])
            c["rew"].append(rewards[i])
            if dones[i]:
                c["terminated"] = not truncated
                finished.append(c)
                current[i] = (
                    {"obs": [rng.normal(size=3)], "act": [], "rew": [], "len": queues[i].pop(0)} if queues[i] else None
                )
    running = [c for c in current if c is not None and c["act"]]
    for c in running:
        c["terminated"] = False
    return finished + running


def _reference_sequence(episode: dict, first: int, burn_in: int, seq_len: int) -> dict:
    start = max(0, first - burn_in)
    width = burn_in + seq_len
    ref = {
        "obs": np.zeros((width + 1, 3)),
        "act": np.zeros((width, 1)),
        "rew": np.zeros(width),
        "term": np.zeros(width),
        "mask": np.zeros(width),
    }
    stop = min(len(episode["act"]), first + seq_len)  # steps after the trained ones are padding
    for t in range(width + 1):
        if start + t <= stop:
            ref["obs"][t] = episode["obs"][start + t]
    for t in range(width):
        i = start + t
        if i < stop:
            ref["act"][t], ref["rew"][t] = episode["act"][i], episode["rew"][i]
            ref["term"][t] = float(episode["terminated"] and i == len(episode["act"]) - 1)
            ref["mask"][t] = float(first <= i < first + seq_len)
    return ref


@pytest.mark.parametrize("burn_in, truncated", [(0, False), (3, True)])
def test_sequence_buffer_matches_reference(burn_in: int, truncated: bool) -> None:
    obs_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    buffer = SequenceReplayBuffer(1000, obs_space, spaces.Box(-1, 1, (1,)), "cpu", n_envs=2, seq_len=5, burn_in=burn_in)
    episodes = _fill(buffer, [[4, 9, 3, 30], [7, 2, 6, 40]], truncated=truncated)
    # the buffer orders finished episodes by completion time; the fill helper lists them the same way
    assert buffer.size() == sum(len(e["act"]) for e in episodes)
    starts = np.cumsum([0] + [len(e["act"]) for e in episodes])
    picks = np.arange(buffer.size())
    samples = buffer._get_samples(picks)
    for b, pick in enumerate(picks):
        e = np.searchsorted(starts, pick, side="right") - 1
        ref = _reference_sequence(episodes[e], pick - starts[e], burn_in, 5)
        np.testing.assert_allclose(samples.observations[:, b].numpy(), ref["obs"], rtol=1e-6)
        np.testing.assert_allclose(samples.actions[:, b].numpy(), ref["act"], rtol=1e-6)
        np.testing.assert_allclose(samples.rewards[:, b].numpy(), ref["rew"], rtol=1e-6)
        np.testing.assert_array_equal(samples.terminated[:, b].numpy(), ref["term"])
        np.testing.assert_array_equal(samples.mask[:, b].numpy(), ref["mask"])
    assert samples.observations.dtype == th.float32
    random = buffer.sample(8)
    assert random.observations.shape == (burn_in + 5 + 1, 8, 3) and random.mask.shape == (burn_in + 5, 8)


def test_sequence_buffer_drops_oldest_episodes() -> None:
    obs_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    buffer = SequenceReplayBuffer(20, obs_space, spaces.Discrete(2), "cpu", n_envs=1, seq_len=4)
    episodes = _fill(buffer, [[8, 9, 10]])
    assert buffer.size() == 19 and len(buffer.episodes) == 2
    np.testing.assert_allclose(buffer.episodes[0].observations, np.array(episodes[1]["obs"]), rtol=1e-6)
    with pytest.raises(ValueError, match="VecNormalize"):
        buffer.sample(2, env=object())


# ---------------------------------------------------------------- state across predict calls


def _obs_sequence(model, n: int = 12) -> np.ndarray:
    env = model.get_env()
    env.seed(3)
    obs = [env.reset()]
    for _ in range(n - 1):
        obs.append(env.step(np.array([env.action_space.sample()]))[0])
    return np.concatenate(obs)


@pytest.mark.parametrize("make", [lambda: _td3("grsn"), lambda: _td3("gru"), lambda: _dqn("lif")])
def test_off_policy_state_is_carried_and_reset(make) -> None:
    model = make()
    net = model.policy.actor if isinstance(model, sb3_spiking.RecurrentTD3) else model.policy.q_net
    obs = _obs_sequence(model)
    state, stepwise, states = None, [], []
    for t, o in enumerate(obs):
        action, state = model.predict(o[None], state, episode_start=np.array([t == 0]))
        stepwise.append(action)
        states.append(state)
    with th.no_grad():
        out = net(th.as_tensor(obs)[:, None])[0][:, 0]
    whole = (
        out.argmax(-1).numpy()
        if isinstance(model, sb3_spiking.RecurrentDQN)
        else model.policy.unscale_action(out.numpy())
    )
    np.testing.assert_allclose(np.concatenate(stepwise).reshape(whole.shape), whole, rtol=1e-5, atol=1e-6)
    assert not np.allclose(states[3][0], states[8][0])
    # episode_start resets: the same as starting from no state
    restarted, _ = model.predict(obs[5][None], states[4], episode_start=np.array([True]))
    fresh, _ = model.predict(obs[5][None], None)
    np.testing.assert_allclose(restarted, fresh)
    carried, _ = model.predict(obs[5][None], states[4], episode_start=np.array([False]))
    np.testing.assert_allclose(carried, stepwise[5], rtol=1e-6)


@pytest.mark.parametrize("policy", ["GRSNPolicy", "LIFRecurrentPolicy"])
def test_recurrent_ppo_state_is_carried_and_reset(policy: str) -> None:
    model = _ppo(policy)
    assert isinstance(model.policy.lstm_actor, sb3_spiking.snn.recurrent.SpikingRecurrent)
    assert model.policy.lstm_actor.cell == ("grsn" if policy == "GRSNPolicy" else "lif")
    obs = np.random.default_rng(0).normal(size=(10, 1, 2)).astype(np.float32) * 3
    state, states = None, []
    for t, o in enumerate(obs):
        _, state = model.predict(o, state, episode_start=np.array([t == 0]), deterministic=True)
        states.append(state)
    features = th.as_tensor(obs[:, 0])
    with th.no_grad():
        _, (u, c) = model.policy.lstm_actor(features[:, None])
    np.testing.assert_allclose(states[-1][0], u.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(states[-1][1], c.numpy(), rtol=1e-5, atol=1e-6)
    _, reset = model.predict(obs[4], states[3], episode_start=np.array([True]), deterministic=True)
    _, fresh = model.predict(obs[4], None, episode_start=np.array([True]), deterministic=True)
    np.testing.assert_allclose(reset[0], fresh[0])


# ---------------------------------------------------------------- learning, save / load


def _rollout(model, obs: np.ndarray) -> np.ndarray:
    state, actions = None, []
    for t, o in enumerate(obs):
        action, state = model.predict(o[None], state, episode_start=np.array([t == 0]), deterministic=True)
        actions.append(action)
    return np.concatenate(actions)


@pytest.mark.parametrize(
    "make",
    [lambda: _td3("grsn"), lambda: _td3("lif"), lambda: _dqn("grsn"), lambda: _dqn("gru")],
    ids=["td3-grsn", "td3-lif", "dqn-grsn", "dqn-gru"],
)
def test_off_policy_learn_save_load(make, tmp_path: Path) -> None:
    model = make()
    before = [p.detach().clone() for p in model.policy.parameters()]
    calls = []
    model.learn(60, callback=lambda _locals, _globals: calls.append(1) or True)
    assert model._n_updates > 0 and len(calls) == 60
    assert any(not th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    obs = _obs_sequence(model, 8)
    model.save(tmp_path / "model")
    loaded = type(model).load(tmp_path / "model")
    assert loaded.policy.core == model.policy.core
    np.testing.assert_allclose(_rollout(loaded, obs), _rollout(model, obs), rtol=1e-6)
    loaded.set_env(model.get_env())
    loaded.learn(5, reset_num_timesteps=False)
    model.policy.save(tmp_path / "policy.pt")
    policy = type(model.policy).load(tmp_path / "policy.pt")
    np.testing.assert_allclose(_rollout(policy, obs), _rollout(model, obs), rtol=1e-6)


@pytest.mark.parametrize("policy", ["GRSNPolicy", "LIFRecurrentPolicy"])
def test_recurrent_ppo_learn_save_load(policy: str, tmp_path: Path) -> None:
    model = _ppo(policy).learn(32)
    obs = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    model.save(tmp_path / "ppo")
    loaded = RecurrentPPO.load(tmp_path / "ppo")
    assert type(loaded.policy) is type(model.policy)
    np.testing.assert_allclose(_rollout(loaded, obs), _rollout(model, obs))
    model.policy.save(tmp_path / "policy.pt")
    policy = type(model.policy).load(tmp_path / "policy.pt")
    assert policy.lstm_actor.hidden_size == 16
    np.testing.assert_allclose(_rollout(policy, obs), _rollout(model, obs))


def test_recurrent_ppo_box_actions() -> None:
    model = RecurrentPPO("GRSNPolicy", "Pendulum-V-v0", n_steps=16, batch_size=8, n_epochs=1, seed=0)
    model.learn(16)
    action, state = model.predict(np.zeros((1, 1), dtype=np.float32))
    assert action.shape == (1, 1) and state[0].shape == (1, 1, 256)


# ---------------------------------------------------------------- losses against a per-step reference


def test_dqn_loss_matches_per_step_reference() -> None:
    model = _dqn("grsn", gamma=0.8)
    model.learn(40)
    data = model.replay_buffer.sample(4)
    data.mask[4:, 0] = 0.0  # also masked steps inside the window
    model.replay_buffer.sample = lambda *_args, **_kwargs: data
    q_net, q_target = model.q_net, model.q_net_target
    with th.no_grad():
        errors, weights = [], []
        for b in range(4):
            state = target_state = None
            q_seq, target_seq = [], []
            for t in range(data.observations.shape[0]):
                q, state = q_net(data.observations[t : t + 1, b : b + 1], state)
                qt, target_state = q_target(data.observations[t : t + 1, b : b + 1], target_state)
                q_seq.append(q[0, 0])
                target_seq.append(qt[0, 0])
            for t in range(data.actions.shape[0]):
                best = int(q_seq[t + 1].argmax())
                y = data.rewards[t, b] + 0.8 * (1 - data.terminated[t, b]) * target_seq[t + 1][best]
                diff = abs(float(q_seq[t][int(data.actions[t, b, 0])] - y))
                errors.append(0.5 * diff**2 if diff < 1 else diff - 0.5)
                weights.append(float(data.mask[t, b]))
    expected = float(np.dot(errors, weights) / sum(weights))
    model.train(1, 4)
    assert model.logger.name_to_value["train/loss"] == pytest.approx(expected, rel=1e-5)


def test_td3_critic_loss_matches_per_step_reference() -> None:
    model = _td3("lif", gamma=0.7, target_policy_noise=0.3, target_noise_clip=0.4)
    model.learn(40)
    data = model.replay_buffer.sample(3)
    model.replay_buffer.sample = lambda *_args, **_kwargs: data
    n_steps, batch = data.actions.shape[:2]
    th.manual_seed(7)
    noise = (th.randn(n_steps + 1, batch, 1) * 0.3).clamp(-0.4, 0.4)
    with th.no_grad():
        loss = 0.0
        for critic in (0, 1):
            num = 0.0
            for b in range(batch):
                obs = data.observations[:, b : b + 1]
                next_actions = (model.actor_target(obs)[0] + noise[:, b : b + 1]).clamp(-1, 1)
                target_qs = [net(obs, action=next_actions)[0][:, 0, 0] for net in model.critic_target.q_networks]
                q = model.critic.q_networks[critic](obs[:-1], action=data.actions[:, b : b + 1])[0][:, 0, 0]
                for t in range(n_steps):
                    y = data.rewards[t, b] + 0.7 * (1 - data.terminated[t, b]) * min(q[t + 1] for q in target_qs)
                    num += float(data.mask[t, b]) * float(q[t] - y) ** 2
            loss += num / float(data.mask.sum())
    th.manual_seed(7)
    model.train(1, 3)
    assert model.logger.name_to_value["train/critic_loss"] == pytest.approx(loss, rel=1e-5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="gru"):
        _td3("transformer")
    with pytest.raises(AssertionError, match="Box"):  # SB3's own action space check
        sb3_spiking.RecurrentTD3("GRSNPolicy", "CartPole-P-v0")
    with pytest.raises(ValueError, match="cell_kwargs"):
        RecurrentPPO("GRSNPolicy", "CartPole-P-v0", policy_kwargs=dict(lstm_kwargs=dict(dropout=0.1)))
    assert isinstance(_dqn().get_env(), VecPrevActionReward)
    with pytest.raises(ValueError, match="VecPrevActionReward"):
        sb3_spiking.algos.recurrent_dqn.RecurrentDQNPolicy(spaces.Box(-1, 1, (2,)), spaces.Discrete(2), lambda _: 1e-3)


# ---------------------------------------------------------------- actor loss, policy delay, burn-in


def test_td3_actor_loss_matches_per_step_reference() -> None:
    model = _td3("grsn", burn_in=2, policy_delay=1)
    model.learn(40)
    data = model.replay_buffer.sample(3)
    model.replay_buffer.sample = lambda *_args, **_kwargs: data
    actor = copy.deepcopy(model.actor)  # the actor loss is taken before the actor step
    model.train(1, 3)
    q1 = model.critic.q_networks[0]  # after the critic step; the actor step leaves it unchanged
    with th.no_grad():
        num = 0.0
        for b in range(3):
            # the window starts with the burn-in steps, from a zero state: carry the states through all steps
            actor_state = critic_state = None
            for t in range(data.actions.shape[0]):
                o = data.observations[t : t + 1, b : b + 1]
                action, actor_state = actor(o, actor_state)
                features, critic_state = q1.forward_core(o, critic_state)
                num += float(data.mask[t, b]) * float(q1.forward_head(features, action)[0, 0, 0])
    expected = -num / float(data.mask.sum())
    assert model.logger.name_to_value["train/actor_loss"] == pytest.approx(expected, rel=1e-5)


def test_td3_policy_delay() -> None:
    model = _td3("gru", policy_delay=3)
    model.learn(31)
    model._n_updates = 0
    nets = {name: getattr(model, name) for name in ("critic", "actor", "critic_target", "actor_target")}
    changed: dict[str, list[int]] = {name: [] for name in nets}
    for update in range(1, 8):
        before = {name: [p.detach().clone() for p in net.parameters()] for name, net in nets.items()}
        model.train(1, 4)
        for name, net in nets.items():
            if any(not th.equal(a, p) for a, p in zip(before[name], net.parameters(), strict=True)):
                changed[name].append(update)
    assert changed["critic"] == [1, 2, 3, 4, 5, 6, 7]
    assert changed["actor"] == changed["actor_target"] == changed["critic_target"] == [3, 6]


def test_dqn_burn_in_steps_carry_no_gradient() -> None:
    burn_in, seq_len, gamma = 3, 6, 0.8
    model = _dqn("gru", burn_in=burn_in, gamma=gamma, max_grad_norm=1e9)
    model.learn(40)
    assert len(model.replay_buffer.episodes[0].rewards) > 4
    samples = model.replay_buffer._get_samples(np.array([0, 1, 4, model.replay_buffer.size() - 1]))
    k = samples.burn_in_steps.tolist()
    assert k[:3] == [0, 1, 3]  # no, some and all burn-in steps
    obs = samples.observations.clone().requires_grad_(True)
    data = samples._replace(observations=obs)
    model.replay_buffer.sample = lambda *_args, **_kwargs: data
    q_net, q_target = copy.deepcopy(model.q_net), copy.deepcopy(model.q_net_target)
    model.train(1, 4)

    # reference: per sequence, the burn-in steps run without gradient, then the trained steps with it
    losses, weights = [], []
    x = samples.observations
    for b in range(4):
        state = target_state = None
        with th.no_grad():
            for t in range(k[b]):
                _, state = q_net(x[t : t + 1, b : b + 1], state)
                _, target_state = q_target(x[t : t + 1, b : b + 1], target_state)
        q_seq, target_seq = [], []
        for t in range(k[b], k[b] + seq_len + 1):
            q, state = q_net(x[t : t + 1, b : b + 1], state)
            with th.no_grad():
                qt, target_state = q_target(x[t : t + 1, b : b + 1], target_state)
            q_seq.append(q[0, 0])
            target_seq.append(qt[0, 0])
        for j in range(seq_len):
            t = k[b] + j
            y = (
                samples.rewards[t, b]
                + gamma * (1 - samples.terminated[t, b]) * target_seq[j + 1][q_seq[j + 1].argmax()]
            )
            diff = q_seq[j][int(samples.actions[t, b, 0])] - y.detach()
            losses.append(th.where(diff.abs() < 1, 0.5 * diff**2, diff.abs() - 0.5))
            weights.append(float(samples.mask[t, b]))
    loss = sum(w * term for w, term in zip(weights, losses, strict=True)) / sum(weights)
    loss.backward()
    assert model.logger.name_to_value["train/loss"] == pytest.approx(loss.item(), rel=1e-5)
    for name, p in q_net.named_parameters():
        np.testing.assert_allclose(model.q_net.get_parameter(name).grad, p.grad, rtol=1e-4, atol=1e-7, err_msg=name)
    # no gradient reaches the burn-in inputs, the trained ones get some
    for b in range(4):
        assert not obs.grad[: k[b], b].any()
        assert obs.grad[k[b], b].abs().sum() > 0


# ---------------------------------------------------------------- plain envs, bad inputs


def _reference_returns(
    model, env_id: str, seed: int, n_episodes: int, max_steps: int, seeded_first: bool = False
) -> list[float]:
    """
    Episodes of ``model`` on a plain env, building [o_t, a_(t-1) in [-1, 1], r_(t-1)] here.

    :param seeded_first: the first episode starts from ``reset(seed=seed)`` (else from the reset after it)
    """
    env = gym.make(env_id, max_episode_steps=max_steps)
    if not seeded_first:
        env.reset(seed=seed)
    returns = []
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed if seeded_first and i == 0 else None)
        prev, state, start, total, done = np.zeros(2, dtype=np.float32), None, True, 0.0, False
        while not done:
            x = np.concatenate([obs, prev]).astype(np.float32)[None]
            action, state = model.predict(x, state, episode_start=np.array([start]))
            obs, reward, terminated, truncated, _ = env.step(action[0])
            prev = np.array([action[0, 0] / 2.0, reward], dtype=np.float32)  # Pendulum actions lie in [-2, 2]
            start, total, done = False, total + reward, terminated or truncated
        returns.append(total)
    return returns


def test_evaluate_policy_and_eval_callback_on_a_plain_env() -> None:
    model = _td3("grsn")  # learning_starts=30: the policy does not change during learn(10)
    expected = _reference_returns(model, "Pendulum-P-v0", seed=4, n_episodes=2, max_steps=15)
    eval_env = gym.make("Pendulum-P-v0", max_episode_steps=15)
    eval_env.reset(seed=4)
    callback = EvalCallback(eval_env, n_eval_episodes=2, eval_freq=10, warn=False)
    model.learn(10, callback=callback)  # the callback's env gets VecPrevActionReward from the algorithm
    assert callback.last_mean_reward == pytest.approx(np.mean(expected), rel=1e-5)

    env = gym.make("Pendulum-P-v0", max_episode_steps=15)
    env.reset(seed=4)
    returns, _ = evaluate_policy(model, VecPrevActionReward(env), 2, return_episode_rewards=True, warn=False)
    np.testing.assert_allclose(returns, expected, rtol=1e-5)
    # a plain env alone cannot work (predict never sees the rewards): the error names the wrapper
    with pytest.raises(ValueError, match=r"shape \(1, 2\), o_t alone: the env lacks .*VecPrevActionReward"):
        evaluate_policy(model, gym.make("Pendulum-P-v0"), 1, warn=False)
    # set_env and load(env=...) add the wrapper to a plain env
    model.set_env(gym.make("Pendulum-P-v0"))
    assert isinstance(model.get_env(), VecPrevActionReward)


def test_rl_zoo3_enjoy_env_with_vec_env_wrapper() -> None:
    """``rl_zoo3 enjoy`` builds its env with create_test_env from the config, ``vec_env_wrapper`` included."""
    model = _td3("grsn")
    hyperparams = {"vec_env_wrapper": "sb3_spiking.envs.VecPrevActionReward"}
    env = create_test_env(
        "Pendulum-P-v0", seed=3, should_render=False, hyperparams=hyperparams, env_kwargs=dict(max_episode_steps=15)
    )
    obs, state, episode_start, total, done = env.reset(), None, np.array([True]), 0.0, False
    while not done:  # enjoy's loop
        action, state = model.predict(obs, state, episode_start=episode_start, deterministic=True)
        obs, reward, dones, _ = env.step(action)
        episode_start, total, done = dones, total + float(reward[0]), bool(dones[0])
    expected = _reference_returns(model, "Pendulum-P-v0", seed=3, n_episodes=1, max_steps=15, seeded_first=True)
    assert total == pytest.approx(expected[0], rel=1e-5)


class _Poison(gym.ObservationWrapper):
    """Observation entry 1 becomes inf from the 6th step on."""

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        self.steps = 0
        return super().reset(**kwargs)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        self.steps += 1
        return np.array([observation[0], np.inf]) if self.steps > 6 else observation


def test_non_finite_observations_are_refused() -> None:
    model = _dqn("grsn")
    obs = np.zeros((2, model.observation_space.shape[0]), dtype=np.float32)
    obs[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"nan at index \(1, 3\)"):
        model.predict(obs)
    poisoned = sb3_spiking.RecurrentTD3("GRSNPolicy", _Poison(gym.make("Pendulum-P-v0")), **SMALL)
    with pytest.raises(ValueError, match=r"inf at index \(0, 1\)"):
        poisoned.learn(20)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(seq_len=0), ValueError, "seq_len must be >= 1"),
        (dict(burn_in=-1), ValueError, "burn_in must be >= 0"),
        (dict(burn_in=1.5), TypeError, "burn_in must be an int"),
        (dict(policy_delay=0), ValueError, "policy_delay must be >= 1"),
        (dict(target_policy_noise=-0.1), ValueError, "target_policy_noise must be in"),
        (dict(tau=1.5), ValueError, r"tau must be in \[0.0, 1.0\]"),
        (dict(gamma="0.9"), TypeError, "gamma must be a real number"),
        (dict(train_freq=0), ValueError, "train_freq must be >= 1"),
        (dict(train_freq=(1, "month")), ValueError, "unknown train_freq unit 'month'"),
        (dict(gradient_steps=-2), ValueError, "gradient_steps must be >= -1"),
        (dict(learning_rate=0.0), ValueError, "learning_rate must be in"),
        (dict(policy_kwargs=dict(hidden_size=0)), ValueError, "hidden_size must be >= 1"),
        (dict(policy_kwargs=dict(net_arch="64")), TypeError, "net_arch must be a list of positive ints"),
        (dict(policy_kwargs=dict(embed_dims=(32, 8))), ValueError, "embed_dims must hold 3 sizes"),
        (dict(policy_kwargs=dict(embed_dims=(32, 0, 8))), ValueError, r"embed_dims\[1\] must be a positive int"),
        (dict(policy_kwargs=dict(core_kwargs=[1])), TypeError, "core_kwargs must be a dict"),
        (dict(policy_kwargs=dict(n_critics=0)), ValueError, "n_critics must be >= 1"),
    ],
)
def test_td3_argument_errors_name_the_argument(kwargs: dict, error: type, match: str) -> None:
    args = dict(learning_starts=30, seq_len=6, batch_size=4, buffer_size=1000) | kwargs
    with pytest.raises(error, match=match):
        sb3_spiking.RecurrentTD3("GRSNPolicy", "Pendulum-P-v0", **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(exploration_fraction=1.5), "exploration_fraction must be in"),
        (dict(exploration_final_eps=-0.1), "exploration_final_eps must be in"),
        (dict(max_grad_norm=0.0), "max_grad_norm must be in"),
        (dict(batch_size=0), "batch_size must be >= 1"),
    ],
)
def test_dqn_argument_errors_name_the_argument(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sb3_spiking.RecurrentDQN("GRSNPolicy", "CartPole-V-v0", **kwargs)
