"""SequenceReplayBuffer: no episode joined across an env reset, bounded size, burn-in split, finite inputs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

import sb3_spiking
from sb3_spiking.algos.sequence_buffer import SequenceReplayBuffer

OBS_SPACE = spaces.Box(-np.inf, np.inf, (3,), np.float32)
TINY = dict(hidden_size=8, net_arch=[8])


class Recorder(gym.Wrapper):
    """Logs every observation the env returns; each reset opens a new segment."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.segments: list[list[np.ndarray]] = []

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        self.segments.append([obs])
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, *rest = self.env.step(action)
        self.segments[-1].append(obs)
        return (obs, *rest)


def _stored_episodes(buffer: SequenceReplayBuffer) -> list[Any]:
    return list(buffer.episodes) + [ep.view() for ep in buffer._running if len(ep)]


def _segment_of(observations: np.ndarray, segments: list[list[np.ndarray]]) -> int:
    """Index of the recorded segment holding ``observations`` as a contiguous run; fails if none does."""
    for s, segment in enumerate(segments):
        recorded = np.asarray(segment, dtype=np.float32)
        for start in range(len(recorded) - len(observations) + 1):
            if np.array_equal(recorded[start : start + len(observations)], observations):
                return s
    raise AssertionError(f"stored observations {observations[:3]}... are no contiguous run of one env episode")


@pytest.mark.parametrize("how", ["learn-reset", "set_env"])
def test_env_reset_closes_the_running_episode(how: str) -> None:
    recorder = Recorder(gym.make("Pendulum-P-v0"))
    model = sb3_spiking.RecurrentTD3(
        "GRSNPolicy", recorder, learning_starts=10_000, seq_len=4, batch_size=2, policy_kwargs=TINY, seed=0
    )
    model.learn(30)
    if how == "set_env":
        other = Recorder(gym.make("Pendulum-P-v0"))
        model.set_env(other)
        model.learn(25, reset_num_timesteps=False)
        segments = recorder.segments + other.segments
    else:
        model.learn(25)  # reset_num_timesteps=True resets the env in the middle of its first episode
        segments = recorder.segments
    assert len(segments) == 2  # two resets, no episode end (Pendulum episodes last 200 steps)
    episodes = _stored_episodes(model.replay_buffer)
    # each stored episode is one contiguous run of one env episode: no transition from the old observation into
    # the new episode (which showed as a jump of the Pendulum angle)
    assert [_segment_of(ep.observations[:, :2], segments) for ep in episodes] == [0, 1]
    assert [len(ep.rewards) for ep in episodes] == [30, 25]
    # the first episode was closed as truncated: nothing marked terminal, its last next observation kept
    assert not episodes[0].terminated.any()
    np.testing.assert_array_equal(episodes[0].observations[-1, :2], np.float32(segments[0][-1]))
    samples = model.replay_buffer.sample(64)
    first_obs = th.as_tensor(np.float32(segments[1][0]))
    for b in range(64):  # a sequence that reaches the reset observation starts there
        hits = [t for t in range(samples.observations.shape[0]) if th.equal(samples.observations[t, b, :2], first_obs)]
        assert hits in ([], [0])


def test_add_closes_an_episode_that_is_not_continued() -> None:
    buffer = SequenceReplayBuffer(100, OBS_SPACE, spaces.Box(-1, 1, (1,)), "cpu", seq_len=2)
    o = np.arange(18, dtype=np.float32).reshape(6, 1, 3)
    buffer.add(o[0], o[1], np.zeros((1, 1)), np.zeros(1), np.array([False]), [{}])
    buffer.add(o[1], o[2], np.zeros((1, 1)), np.zeros(1), np.array([False]), [{}])
    buffer.add(o[4], o[5], np.zeros((1, 1)), np.zeros(1), np.array([False]), [{}])  # reset without telling
    episodes = _stored_episodes(buffer)
    np.testing.assert_array_equal(episodes[0].observations, o[:3, 0])
    np.testing.assert_array_equal(episodes[1].observations, o[4:, 0])
    assert not episodes[0].terminated.any() and buffer.size() == 3


def test_endless_episode_keeps_its_most_recent_steps() -> None:
    recorder = Recorder(sb3_spiking.envs.make_pomdp("Pendulum-P-v0", max_episode_steps=None))  # never ends
    model = sb3_spiking.RecurrentTD3(
        "GRSNPolicy", recorder, buffer_size=20, learning_starts=10_000, seq_len=4, policy_kwargs=TINY, seed=0
    )
    model.learn(90)
    buffer = model.replay_buffer
    assert buffer.size() == 20 and not buffer.episodes
    (episode,) = _stored_episodes(buffer)
    np.testing.assert_array_equal(episode.observations[:, :2], np.float32(recorder.segments[0][-21:]))
    assert len(buffer._running[0].actions) <= 3 * 20  # memory stays bounded too
    samples = buffer.sample(16)
    assert samples.mask.sum(0).min() >= 1


def test_oldest_steps_go_first_across_envs() -> None:
    """Env 0 never ends, env 1 ends every 2 steps; values encode (env, step). Hand-worked with buffer_size 6."""
    buffer = SequenceReplayBuffer(6, OBS_SPACE, spaces.Box(-1, 1, (1,)), "cpu", n_envs=2, seq_len=2)
    obs = {0: np.array([0.0, 0, 0]), 1: np.array([1.0, 0, 0])}
    for t in range(6):
        next_obs = {i: np.array([i, t + 1, 0.0]) for i in (0, 1)}
        actions = np.array([[t], [t]])
        done = np.array([False, t % 2 == 1])
        stacked = np.stack([obs[0], obs[1]]), np.stack([next_obs[0], next_obs[1]])
        buffer.add(*stacked, actions, np.zeros(2), done, [{}, {}])
        obs = {0: next_obs[0], 1: np.array([1.0, 100 + t, 0]) if done[1] else next_obs[1]}
    # t=3: 8 stored, env 1's first episode (steps 0-1) is the oldest -> dropped; t=4: env 0's steps 0 and 1 are
    # older than env 1's episode (steps 2-3) -> dropped one by one; t=5: that episode (steps 2-3) -> dropped
    episodes = _stored_episodes(buffer)
    assert buffer.size() == 6
    assert [ep.actions[:, 0].tolist() for ep in episodes] == [[4, 5], [2, 3, 4, 5]]
    np.testing.assert_array_equal(episodes[1].observations[:, :2], [[0, 2], [0, 3], [0, 4], [0, 5], [0, 6]])


@pytest.mark.parametrize("burn_in", [0, 3])
def test_split_burn_in_matches_reference(burn_in: int) -> None:
    seq_len = 4
    buffer = SequenceReplayBuffer(1000, OBS_SPACE, spaces.Box(-1, 1, (1,)), "cpu", seq_len=seq_len, burn_in=burn_in)
    rng = np.random.default_rng(0)
    episodes = []
    for length in (2, 9, 5):
        obs = rng.normal(size=(length + 1, 3)).astype(np.float32)
        actions = rng.uniform(-1, 1, size=(length, 1)).astype(np.float32)
        for t in range(length):
            done = np.array([t == length - 1])
            buffer.add(obs[t : t + 1], obs[t + 1 : t + 2], actions[t : t + 1], np.zeros(1), done, [{}])
        episodes.append((obs, actions))
    picks = [(e, f) for e, (_, actions) in enumerate(episodes) for f in range(len(actions))]
    samples = buffer._get_samples(np.arange(len(picks)))
    warm, trained = samples.split_burn_in(burn_in)
    assert (warm is None) == (burn_in == 0)
    for b, (e, first) in enumerate(picks):
        obs, actions = episodes[e]
        k = min(burn_in, first)  # burn-in steps available before the first trained one
        if burn_in:
            assert float(warm.warm[b]) == float(k > 0)
            np.testing.assert_array_equal(warm.observations[burn_in - k :, b].numpy(), obs[first - k : first])
            np.testing.assert_array_equal(warm.episode_starts[:, b].numpy(), np.eye(burn_in + 1)[burn_in - k][:-1])
        n = min(seq_len, len(actions) - first)
        np.testing.assert_array_equal(trained.observations[: n + 1, b].numpy(), obs[first : first + n + 1])
        np.testing.assert_array_equal(trained.actions[:n, b].numpy(), actions[first : first + n])
        np.testing.assert_array_equal(trained.mask[:, b].numpy(), np.arange(seq_len) < n)
        np.testing.assert_array_equal(trained.terminated[:, b].numpy(), np.arange(seq_len) == len(actions) - first - 1)


def test_non_finite_inputs_are_refused() -> None:
    buffer = SequenceReplayBuffer(100, OBS_SPACE, spaces.Discrete(2), "cpu", n_envs=2)
    obs, next_obs = np.zeros((2, 3)), np.zeros((2, 3))
    next_obs[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"next_obs .*inf at index \(1, 2\)"):
        buffer.add(obs, next_obs, np.zeros(2), np.zeros(2), np.zeros(2, dtype=bool), [{}, {}])
    with pytest.raises(ValueError, match=r"reward .*nan at index \(0,\)"):
        buffer.add(obs, obs, np.zeros(2), np.array([np.nan, 0.0]), np.zeros(2, dtype=bool), [{}, {}])
    assert buffer.size() == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(seq_len=0), ValueError, "seq_len must be >= 1"),
        (dict(seq_len=2.5), TypeError, "seq_len must be an int"),
        (dict(burn_in=-1), ValueError, "burn_in must be >= 0"),
        (dict(buffer_size=0), ValueError, "buffer_size must be >= 1"),
        (dict(n_envs=0), ValueError, "n_envs must be >= 1"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = dict(buffer_size=10, observation_space=OBS_SPACE, action_space=spaces.Discrete(2), device="cpu") | kwargs
    with pytest.raises(error, match=match):
        SequenceReplayBuffer(**args)
