"""Guided training (seed 002): privileged observations, jump-start hand-over, labels, TD3+BC loss, save / load."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor

import sb3_spiking
from sb3_spiking.algos.guided import Guidance, td3_bc_actor_loss
from sb3_spiking.callbacks import SurrogateScheduleCallback
from sb3_spiking.envs import POMDP_SPECS, PRIVILEGED_KEY
from sb3_spiking.snn.schedules import LinearSharpness

EPISODE = 20
SMALL = dict(seq_len=6, batch_size=4, buffer_size=1000, seed=0, policy_kwargs=dict(hidden_size=16, net_arch=[16]))


def _env(env_id: str = "Pendulum-P-Privileged-v0") -> gym.Env:
    return gym.make(env_id, max_episode_steps=EPISODE)


def _td3(guide, env_id: str = "Pendulum-P-Privileged-v0", **kwargs) -> sb3_spiking.RecurrentTD3:
    kwargs = {"learning_starts": 10_000, **SMALL, **kwargs}
    return sb3_spiking.RecurrentTD3("GRSNPolicy", _env(env_id), guide=guide, **kwargs)


def _episodes(model) -> list:
    buffer = model.replay_buffer
    return list(buffer.episodes) + [ep.view() for ep in buffer._running if len(ep)]


def _velocity_guide(obs: np.ndarray, info: dict) -> np.ndarray:
    """A callable guide reading the privileged velocity."""
    return np.array([-0.2 * info[PRIVILEGED_KEY][2]], dtype=np.float32)


# ---------------------------------------------------------------- privileged observations


@pytest.mark.parametrize("env_id", sorted(POMDP_SPECS))
def test_privileged_observation_is_the_full_env_observation(env_id: str) -> None:
    base_id, keep = POMDP_SPECS[env_id]
    env, full = gym.make(env_id.replace("-v0", "-Privileged-v0")), gym.make(base_id)
    obs, info = env.reset(seed=3)
    full_obs, _ = full.reset(seed=3)
    env.action_space.seed(0)
    for _ in range(30):
        np.testing.assert_allclose(info[PRIVILEGED_KEY], full_obs, rtol=0, atol=1e-6)
        np.testing.assert_allclose(obs, full_obs[list(keep)], rtol=0, atol=1e-6)
        action = env.action_space.sample()
        obs, _, terminated, truncated, info = env.step(action)
        full_obs, *_ = full.step(action)
        if terminated or truncated:
            break


# ---------------------------------------------------------------- jump-start


def test_hand_over_exactly_at_h_and_labels_in_the_buffer() -> None:
    calls: list[tuple[np.ndarray, dict]] = []

    def guide(obs, info):
        calls.append((obs.copy(), info))
        return np.array([1.5], dtype=np.float32)

    model = _td3(guide, guide_kwargs=dict(horizon_start=7, horizon_end=7))
    model.learn(3 * EPISODE)
    episodes = _episodes(model)
    assert [len(ep.rewards) for ep in episodes] == [EPISODE] * 3
    for ep in episodes:
        np.testing.assert_array_equal(ep.guided, np.arange(EPISODE) < 7)
        np.testing.assert_array_equal(ep.actions[:7, 0], 0.75)  # 1.5 in [-2, 2], stored in [-1, 1], no noise
        assert not np.any(ep.actions[7:, 0] == 0.75)  # the student's random warm-up actions
    assert len(calls) == 3 * 7
    # the guide gets o_t and the info of the step (or reset) that produced it, with the full state
    for (obs, info), t in zip(calls, [i * EPISODE + j for i in range(3) for j in range(7)], strict=True):
        stored = episodes[t // EPISODE].observations[t % EPISODE]
        np.testing.assert_allclose(obs, stored[:2], atol=1e-6)
        np.testing.assert_allclose(info[PRIVILEGED_KEY][:2], obs, atol=1e-6)


def test_each_env_of_a_vec_env_has_its_own_hand_over() -> None:
    def guide(obs, info):
        np.testing.assert_allclose(info[PRIVILEGED_KEY][:2], obs, atol=1e-6)  # the info of this env's o_t
        return np.array([-1.0], dtype=np.float32)

    env = make_vec_env(_env, n_envs=2, seed=0)
    model = sb3_spiking.RecurrentTD3("GRSNPolicy", env, guide=guide, guide_kwargs=dict(horizon_start=5, horizon_end=5),
                                     learning_starts=10_000, **SMALL)  # fmt: skip
    model.learn(2 * 2 * EPISODE)
    episodes = _episodes(model)
    assert len(episodes) == 4
    for ep in episodes:
        np.testing.assert_array_equal(ep.guided, np.arange(EPISODE) < 5)


def test_sb3_model_guide_is_fed_the_privileged_observation() -> None:
    guide = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]), seed=1)
    model = _td3(guide, guide_kwargs=dict(horizon_start=5, horizon_end=5))
    model.learn(EPISODE)
    (episode,) = _episodes(model)
    # reference: replay the fully observed env with the executed actions
    full = gym.make("Pendulum-v1")
    full_obs, _ = full.reset(seed=0)
    for t in range(5):
        expected, _ = guide.predict(full_obs, deterministic=True)
        np.testing.assert_allclose(episode.actions[t], guide.policy.scale_action(expected), atol=1e-5)
        full_obs, *_ = full.step(model.policy.unscale_action(episode.actions[t]))
    assert episode.guided.tolist() == [1.0] * 5 + [0.0] * (EPISODE - 5)


def test_horizon_follows_the_linear_schedule() -> None:
    total, start, end, fraction = 6 * EPISODE, 18, 3, 0.5
    model = _td3(_velocity_guide, guide_kwargs=dict(horizon_start=start, horizon_end=end, horizon_fraction=fraction))
    model.learn(total)
    labels = np.concatenate([ep.guided for ep in _episodes(model)])
    n = np.arange(total)
    # the seed's schedule, written here: H(progress) from start to end over the first `fraction` of training
    horizon = np.array([round(start + (end - start) * min(1.0, k / total / fraction)) for k in n])
    np.testing.assert_array_equal(labels, (n % EPISODE) < horizon)
    assert model.logger.name_to_value["rollout/guide_horizon"] == end


def test_horizon_drops_when_the_evaluation_return_passes_the_threshold() -> None:
    guidance = Guidance(_velocity_guide, horizon_start=10, horizon_end=3, threshold=-100.0)
    guidance.bind(gym.spaces.Box(-2.0, 2.0, (1,)), None, burn_in=0)
    assert guidance.horizon(0.9) == 10
    guidance.observe_evaluation(-150.0)
    assert guidance.horizon(0.9) == 10
    guidance.observe_evaluation(-50.0)
    assert guidance.horizon(0.0) == 3
    assert pickle.loads(pickle.dumps(guidance)).threshold_passed  # saved with the model

    # in learn(): an EvalCallback's return is read at the next step (here the threshold is always passed)
    model = _td3(_velocity_guide, guide_kwargs=dict(horizon_start=12, horizon_end=4, threshold=-1e9))
    callback = EvalCallback(Monitor(_env("Pendulum-P-v0")), eval_freq=EPISODE, n_eval_episodes=1)
    model.learn(2 * EPISODE, callback=callback)
    first, second = _episodes(model)
    assert first.guided.sum() == 12 and second.guided.sum() == 4


def test_recurrent_dqn_jump_start_keeps_the_guide_actions() -> None:
    model = sb3_spiking.RecurrentDQN(
        "GRSNPolicy",
        _env("CartPole-P-Privileged-v0"),
        guide=lambda obs, info: 1,
        guide_kwargs=dict(horizon_start=6, horizon_end=6),
        learning_starts=10_000,
        exploration_initial_eps=1.0,
        **SMALL,
    )
    model.learn(60)
    for ep in _episodes(model):
        n = len(ep.rewards)
        np.testing.assert_array_equal(ep.guided, np.arange(n) < 6)
        assert np.all(ep.actions[: min(n, 6), 0] == 1)


def test_guided_training_combines_with_the_surrogate_schedule() -> None:
    model = _td3(_velocity_guide, learning_starts=20, guide_kwargs=dict(horizon_start=10, horizon_end=2))
    callback = SurrogateScheduleCallback(LinearSharpness(1.0, 9.0))
    model.learn(2 * EPISODE, callback=callback)
    assert callback.sharpness == pytest.approx(9.0 - 8.0 / (2 * EPISODE), rel=1e-6)  # value at the last step
    assert model.logger.name_to_value["train/bc_lambda"] == pytest.approx(0.2)
    assert _episodes(model)[0].guided.sum() > 0


# ---------------------------------------------------------------- TD3+BC loss


def test_bc_term_equals_its_formula_on_a_hand_made_batch() -> None:
    q = th.tensor([[1.0, -3.0], [4.0, 7.0]], requires_grad=True)
    mask = th.tensor([[1.0, 1.0], [1.0, 0.0]])
    guided = th.tensor([[1.0, 0.0], [0.0, 1.0]])  # the second guided step is masked out
    pi = th.zeros(2, 2, 2)
    pi[0, 0] = th.tensor([0.5, -0.5])
    pi[1, 1] = th.tensor([0.9, 0.9])
    pi.requires_grad_(True)
    a = th.zeros(2, 2, 2)
    a[0, 0] = th.tensor([0.1, 0.3])
    loss = td3_bc_actor_loss(q, pi, a, mask, guided, alpha=2.5, bc_weight=0.2)
    # valid Q: 1, -3, 4: mean 2/3, mean |Q| 8/3 -> -2.5 * (2/3) / (8/3) = -0.625
    # guided valid step (0, 0): ((0.4)^2 + (-0.8)^2) / 2 = 0.4 -> 0.2 * 0.4 = 0.08
    assert loss.item() == pytest.approx(-0.625 + 0.08, abs=1e-6)
    loss.backward()
    # d/dQ = -alpha / n_valid / mean|Q| on valid steps (the normaliser carries no gradient)
    np.testing.assert_allclose(q.grad.numpy(), [[-0.3125, -0.3125], [-0.3125, 0.0]], atol=1e-6)
    expected = np.zeros((2, 2, 2))
    expected[0, 0] = [0.2 * 0.4, 0.2 * -0.8]  # lambda * 2 (pi - a) / d
    np.testing.assert_allclose(pi.grad.numpy(), expected, atol=1e-6)


def test_bc_lambda_decays_per_epoch() -> None:
    guidance = Guidance(bc_lambda=0.2, bc_decay=0.99, bc_epoch=5)
    for n_updates, epochs in [(0, 0), (4, 0), (5, 1), (9, 1), (10, 2), (123, 24)]:
        assert guidance.bc_weight(n_updates) == pytest.approx(0.2 * 0.99**epochs, rel=1e-12)


def test_guided_actor_loss_and_burn_in_gradient_match_a_per_step_reference() -> None:
    burn_in, seq_len, alpha, bc_lambda, decay = 3, 6, 2.5, 4.0, 0.5
    model = _td3(
        _velocity_guide,
        learning_starts=30,
        burn_in=burn_in,
        policy_delay=1,
        guide_kwargs=dict(horizon_start=8, horizon_end=8, bc_lambda=bc_lambda, bc_decay=decay, bc_epoch=1),
    )
    model.learn(2 * EPISODE)
    # first trained steps: inside the guided part, across the hand-over, after it, at an episode start
    samples = model.replay_buffer._get_samples(np.array([4, 25, 30, 20]))
    k = samples.burn_in_steps.tolist()
    assert k == [3, 3, 3, 0]
    model.replay_buffer.sample = lambda *_args, **_kwargs: samples
    actor = copy.deepcopy(model.actor)  # the actor loss is taken before the actor step
    model.train(1, 4)
    q1 = model.critic.q_networks[0]  # after the critic step; the actor step leaves it unchanged
    lam = bc_lambda * decay**model._n_updates

    x = samples.observations
    qs, sq, masks, guided = [], [], [], []
    for b in range(4):
        actor_state = critic_state = None
        with th.no_grad():  # burn-in: state only
            for t in range(k[b]):
                _, actor_state = actor(x[t : t + 1, b : b + 1], actor_state)
                _, critic_state = q1.forward_core(x[t : t + 1, b : b + 1], critic_state)
        for t in range(k[b], k[b] + seq_len):
            action, actor_state = actor(x[t : t + 1, b : b + 1], actor_state)
            features, critic_state = q1.forward_core(x[t : t + 1, b : b + 1], critic_state)
            qs.append(q1.forward_head(features, action)[0, 0, 0])
            sq.append(((action[0, 0] - samples.actions[t, b]) ** 2).mean())
            masks.append(float(samples.mask[t, b]))
            guided.append(float(samples.mask[t, b] * samples.guided[t, b]))
    n_valid, n_guided = sum(masks), sum(guided)
    assert 0 < n_guided < n_valid
    q_mean = sum(m * q for m, q in zip(masks, qs, strict=True)) / n_valid
    q_scale = sum(m * abs(q.item()) for m, q in zip(masks, qs, strict=True)) / n_valid
    bc = sum(g * s for g, s in zip(guided, sq, strict=True)) / n_guided
    loss = -alpha * q_mean / q_scale + lam * bc
    loss.backward()
    assert model.logger.name_to_value["train/actor_loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert model.logger.name_to_value["train/bc_lambda"] == pytest.approx(lam)
    for name, p in actor.named_parameters():
        np.testing.assert_allclose(model.actor.get_parameter(name).grad, p.grad, rtol=1e-4, atol=1e-7, err_msg=name)

    # the burn-in inputs change the loss (through the warm state) but no gradient reaches them
    burn, trained = samples.split_burn_in(burn_in)
    burn_obs = burn.observations.clone().requires_grad_(True)
    trained_obs = trained.observations.clone().requires_grad_(True)
    loss = model._actor_loss(burn._replace(observations=burn_obs), trained._replace(observations=trained_obs))
    loss.backward()
    assert burn_obs.grad is None and trained_obs.grad[0].abs().sum() > 0
    shifted_obs = trained.observations.clone().requires_grad_(True)
    shifted = burn._replace(observations=burn.observations + 1.0)
    model._actor_loss(shifted, trained._replace(observations=shifted_obs)).backward()
    assert not th.allclose(shifted_obs.grad, trained_obs.grad)


# ---------------------------------------------------------------- save / load


def test_save_load_keeps_the_settings_and_asks_for_a_guide_object(tmp_path: Path) -> None:
    kwargs = dict(horizon_start=9, horizon_end=2, threshold=-300.0, bc_lambda=0.3, bc_decay=0.9, bc_epoch=7)
    model = _td3(_velocity_guide, guide_kwargs=kwargs)
    model.guidance.observe_evaluation(-100.0)
    model.learn(EPISODE)
    model.save(tmp_path / "guided.zip")
    loaded = sb3_spiking.RecurrentTD3.load(tmp_path / "guided.zip", env=_env())
    g = loaded.guidance
    assert (g.horizon_start, g.horizon_end, g.threshold, g.bc_lambda, g.bc_decay, g.bc_epoch) == tuple(kwargs.values())
    assert g.threshold_passed and g.source is None
    with pytest.raises(ValueError, match="set_guide"):
        loaded.learn(5)
    loaded = sb3_spiking.RecurrentTD3.load(tmp_path / "guided.zip", env=_env(), guide=_velocity_guide)
    loaded.learn(EPISODE, reset_num_timesteps=True)
    assert _episodes(loaded)[-1].guided.sum() == 2  # threshold passed: horizon_end


def test_guide_given_as_a_path_is_reloaded(tmp_path: Path) -> None:
    guide = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]), seed=1)
    guide.save(tmp_path / "guide.zip")
    model = _td3(str(tmp_path / "guide.zip"), guide_kwargs=dict(horizon_start=4, horizon_end=4))
    model.save(tmp_path / "student.zip")
    loaded = sb3_spiking.RecurrentTD3.load(tmp_path / "student.zip", env=_env())
    assert loaded.guidance.source == str(tmp_path / "guide.zip")
    loaded.learn(EPISODE)
    (episode,) = _episodes(loaded)
    full_obs, _ = gym.make("Pendulum-v1").reset(seed=0)
    expected, _ = guide.predict(full_obs, deterministic=True)
    np.testing.assert_allclose(episode.actions[0], guide.policy.scale_action(expected), atol=1e-6)
    assert episode.guided.sum() == 4


# ---------------------------------------------------------------- bad arguments


def test_bad_guides_and_settings_give_clear_errors() -> None:
    other = TD3("MlpPolicy", "MountainCarContinuous-v0", policy_kwargs=dict(net_arch=[8]))
    with pytest.raises(ValueError, match="action space"):
        _td3(other)
    with pytest.raises(ValueError, match="horizon_start must be >= 0, got -1"):
        _td3(_velocity_guide, guide_kwargs=dict(horizon_start=-1))
    with pytest.raises(ValueError, match="horizon_end must be >= 0, got -2"):
        _td3(_velocity_guide, guide_kwargs=dict(horizon_end=-2))
    with pytest.raises(ValueError, match=r"horizon_end \(30\) must be <= horizon_start \(20\)"):
        _td3(_velocity_guide, guide_kwargs=dict(horizon_end=30))  # horizon_start: the 20-step episodes
    with pytest.raises(ValueError, match="horizon_fraction"):
        _td3(_velocity_guide, guide_kwargs=dict(horizon_fraction=0.0))
    with pytest.raises(ValueError, match=r"unknown guide_kwargs \['horizon'\]"):
        _td3(_velocity_guide, guide_kwargs=dict(horizon=5))
    with pytest.raises(TypeError, match="guide must be"):
        _td3(3)
    with pytest.raises(ValueError, match=r"neither an agent folder nor a model \.zip"):
        _td3("no/such/guide")
    model = _td3(lambda obs, info: np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(2,\).*needs shape \(1,\)"):
        model.learn(3)
    model = _td3(lambda obs, info: np.array([np.nan], dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        model.learn(3)
    guide = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]))
    model = _td3(guide, env_id="Pendulum-P-v0")  # no privileged observation in info
    with pytest.raises(ValueError, match="PrivilegedObservation"):
        model.learn(3)
