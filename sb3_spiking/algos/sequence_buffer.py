"""Replay buffer of whole episodes, sampled as fixed-length sequences (recurrent off-policy RL)."""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.vec_env import VecNormalize

from sb3_spiking.validation import check_finite_observation, check_int

GUIDED_KEY = "guided"
"""The ``info`` key (set by the algorithms during guided training) that labels a transition as the guide's."""


class BurnIn(NamedTuple):
    """
    The burn-in steps of a batch, right-aligned: step ``burn_in - 1`` is the last one before the first trained
    transition of every sequence. Sequences with fewer burn-in steps (near their episode start) are padded in front
    and reset at their first real step.

    :param observations: (burn_in, batch, obs_dim)
    :param episode_starts: (burn_in, batch), 1 at the first real burn-in step of each sequence
    :param warm: (batch,), 1 for the sequences with at least one burn-in step (the others start from a zero state)
    """

    observations: torch.Tensor
    episode_starts: torch.Tensor
    warm: torch.Tensor


class SequenceSamples(NamedTuple):
    """
    A batch of sequences, time-major. ``W = burn_in + seq_len`` transitions per sequence.

    :param observations: (W + 1, batch, obs_dim); entry ``t + 1`` is the next observation of transition ``t``
    :param actions: (W, batch, action_dim) as stored (scaled to [-1, 1] for Box actions)
    :param rewards: (W, batch)
    :param terminated: (W, batch), 1 where the episode ended by termination (no bootstrap); time-outs are 0
    :param mask: (W, batch), 1 for the transitions that enter the loss (inside the episode, after the burn-in)
    :param burn_in_steps: (batch,) int64, number of burn-in transitions before the first trained one (at most
        ``burn_in``, fewer near the episode start)
    :param guided: (W, batch), 1 for the transitions whose action came from a guide policy (guided training,
        :mod:`sb3_spiking.algos.guided`)
    """

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    mask: torch.Tensor
    burn_in_steps: torch.Tensor
    guided: torch.Tensor

    def split_burn_in(self, burn_in: int) -> tuple[BurnIn | None, SequenceSamples]:
        """
        Separate the burn-in steps (to warm the recurrent state without gradient) from the trained ones.

        :param burn_in: the buffer's ``burn_in``
        :return: the burn-in steps (``None`` when ``burn_in == 0``) and the ``seq_len`` trained transitions of
            every sequence, aligned to start at step 0 (``burn_in_steps`` all 0)
        """
        if burn_in == 0:
            return None, self
        seq_len = self.actions.shape[0] - burn_in
        k = self.burn_in_steps.to(self.observations.device)[None, :]
        burn_index = k - burn_in + torch.arange(burn_in, device=k.device)[:, None]  # window step, < 0: padding
        burn = BurnIn(
            _take(self.observations, burn_index.clamp(min=0)),
            (burn_index == 0).to(self.observations.dtype),
            (k[0] > 0).to(self.observations.dtype),
        )
        index = k + torch.arange(seq_len + 1, device=k.device)[:, None]
        trained = SequenceSamples(
            _take(self.observations, index),
            _take(self.actions, index[:-1]),
            *(_take(x, index[:-1]) for x in (self.rewards, self.terminated, self.mask)),
            torch.zeros_like(self.burn_in_steps),
            _take(self.guided, index[:-1]),
        )
        return burn, trained


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index[t, b], b]`` for time-major ``x`` of shape (T, batch, ...) and ``index`` of shape (T', batch)."""
    index = index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return x.gather(0, index)


class _Episode(NamedTuple):
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    guided: np.ndarray


class _RunningEpisode:
    """
    One environment's unfinished episode, in arrays that grow by doubling; its oldest steps can be dropped.

    :param obs_dim: observation size
    :param action_dim: action size
    """

    def __init__(self, obs_dim: int, action_dim: int) -> None:
        capacity = 16
        self.observations = np.zeros((capacity + 1, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, action_dim), dtype=np.float32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.guided = np.zeros(capacity, dtype=np.float32)
        self.begin = 0
        self.length = 0
        self.first = 0  # index of the add() call that stored the oldest kept transition

    def __len__(self) -> int:
        return self.length

    def last_observation(self) -> np.ndarray:
        """The newest observation (the next observation of the last stored transition)."""
        return self.observations[self.begin + self.length]

    def append(
        self,
        n_add: int,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        terminated: bool,
        guided: bool = False,
    ) -> None:
        """
        Store one transition (``obs`` is used only for the first one: later it is the previous ``next_obs``).

        :param n_add: index of the ``add()`` call
        :param guided: the action came from a guide policy
        """
        if self.begin + self.length == len(self.actions):
            self._make_room()
        end = self.begin + self.length
        if self.length == 0:
            self.observations[end] = obs
            self.first = n_add
        self.observations[end + 1] = next_obs
        self.actions[end], self.rewards[end], self.terminated[end] = action, reward, terminated
        self.guided[end] = guided
        self.length += 1

    def _make_room(self) -> None:
        """Double the arrays when the stored steps fill more than 3/4 of them, then move the data to the front."""
        capacity = len(self.actions)
        if self.length > 3 * capacity // 4:
            for name in ("observations", "actions", "rewards", "terminated", "guided"):
                old = getattr(self, name)
                new = np.zeros((2 * capacity + (name == "observations"), *old.shape[1:]), dtype=np.float32)
                new[: len(old)] = old
                setattr(self, name, new)
        end = self.begin + self.length
        self.observations[: self.length + 1] = self.observations[self.begin : end + 1].copy()
        for array in (self.actions, self.rewards, self.terminated, self.guided):
            array[: self.length] = array[self.begin : end].copy()
        self.begin = 0

    def drop_oldest(self) -> None:
        """Forget the oldest transition (the episode then starts from its next observation)."""
        self.begin += 1
        self.length -= 1
        self.first += 1

    def view(self) -> _Episode:
        """The stored transitions, as views."""
        end = self.begin + self.length
        return _Episode(
            self.observations[self.begin : end + 1],
            self.actions[self.begin : end],
            self.rewards[self.begin : end],
            self.terminated[self.begin : end],
            self.guided[self.begin : end],
        )


class SequenceReplayBuffer(BaseBuffer):
    """
    Stores whole episodes (float32; each observation once: the next observation of step ``t`` is the observation of
    step ``t + 1``) and samples sequences of ``burn_in + seq_len`` transitions. The first trained transition of a
    sequence is drawn uniformly over all stored transitions (finished and running episodes); up to ``burn_in``
    earlier steps of the same episode precede it to warm the recurrent state (excluded from the loss); steps past the
    episode end are masked. The recurrent state is zero at each sequence start.

    At most ``buffer_size`` transitions are kept, the oldest dropped first: a whole finished episode, or the oldest
    step of a running episode when that is older (an episode that never ends keeps its most recent steps).
    A running episode is closed as truncated (its last next observation bootstrapped) by
    :meth:`end_running_episodes`, which the algorithms call whenever they reset the env, and whenever ``add`` gets an
    observation that does not continue it, so that no stored sequence joins two episodes.

    :param buffer_size: maximum number of stored transitions
    :param observation_space: 1-D Box observation space
    :param action_space: Box or Discrete action space
    :param device: torch device of the sampled tensors
    :param n_envs: number of parallel environments
    :param optimize_memory_usage: not supported (observations are never duplicated anyway); must be False
    :param seq_len: number of trained transitions per sequence
    :param burn_in: number of state-warming transitions before them
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: torch.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        seq_len: int = 64,
        burn_in: int = 0,
    ) -> None:
        buffer_size = check_int("buffer_size", buffer_size, minimum=1)
        n_envs = check_int("n_envs", n_envs, minimum=1)
        if optimize_memory_usage:
            raise ValueError("SequenceReplayBuffer does not support optimize_memory_usage=True")
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"SequenceReplayBuffer needs a 1-D Box observation space, got {observation_space}")
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.seq_len = check_int("seq_len", seq_len, minimum=1)
        self.burn_in = check_int("burn_in", burn_in, minimum=0)
        self.obs_dim = observation_space.shape[0]
        self.episodes: deque[_Episode] = deque()
        self._episode_firsts: deque[int] = deque()  # add() call that stored each finished episode's first step
        self._running = [_RunningEpisode(self.obs_dim, self.action_dim) for _ in range(n_envs)]
        self._n_adds = 0
        self._n_stored = 0

    def size(self) -> int:
        """Number of stored transitions."""
        return self._n_stored

    def reset(self) -> None:
        self.episodes.clear()
        self._episode_firsts.clear()
        self._running = [_RunningEpisode(self.obs_dim, self.action_dim) for _ in range(self.n_envs)]
        self._n_stored = 0

    def end_running_episodes(self, n_envs: int | None = None) -> None:
        """
        Close every running episode as truncated (no termination: its last next observation is bootstrapped), to be
        called when the env is reset before the episodes ended.

        :param n_envs: number of environments adding from now on (default: unchanged)
        """
        for i in range(self.n_envs):
            self._finish(i)
        if n_envs is not None:
            self.n_envs = check_int("n_envs", n_envs, minimum=1)
            self._running = [_RunningEpisode(self.obs_dim, self.action_dim) for _ in range(self.n_envs)]

    def _finish(self, env_index: int) -> None:
        """Move the running episode of one env to the finished episodes (compact copies)."""
        episode = self._running[env_index]
        if len(episode):
            self.episodes.append(_Episode(*(np.array(x) for x in episode.view())))
            self._episode_firsts.append(episode.first)
        self._running[env_index] = _RunningEpisode(self.obs_dim, self.action_dim)

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        Append one transition per environment; ``next_obs`` is kept only where the episode ends.

        :param obs: (n_envs, obs_dim)
        :param next_obs: (n_envs, obs_dim), the terminal observation where ``done``
        :param action: (n_envs, action_dim) or (n_envs,)
        :param reward: (n_envs,)
        :param done: (n_envs,)
        :param infos: one dict per environment (``TimeLimit.truncated`` marks time-outs, a true
            :data:`GUIDED_KEY` marks a guide's action)
        """
        for name, value in (("obs", obs), ("next_obs", next_obs), ("reward", reward)):
            check_finite_observation(value, name)
        obs = np.asarray(obs, dtype=np.float32).reshape(self.n_envs, self.obs_dim)
        next_obs = np.asarray(next_obs, dtype=np.float32).reshape(self.n_envs, self.obs_dim)
        action = np.asarray(action, dtype=np.float32).reshape(self.n_envs, self.action_dim)
        reward = np.asarray(reward, dtype=np.float32).reshape(self.n_envs)
        for i in range(self.n_envs):
            if len(self._running[i]) and not np.array_equal(obs[i], self._running[i].last_observation()):
                self._finish(i)  # the env was reset without an episode end: do not join the two episodes
            terminated = bool(done[i]) and not infos[i].get("TimeLimit.truncated", False)
            guided = bool(infos[i].get(GUIDED_KEY, False))
            self._running[i].append(self._n_adds, obs[i], next_obs[i], action[i], reward[i], terminated, guided)
            self._n_stored += 1
            if done[i]:
                self._finish(i)
        self._n_adds += 1
        while self._n_stored > self.buffer_size:
            oldest_running = min((ep for ep in self._running if len(ep)), key=lambda ep: ep.first, default=None)
            if self.episodes and (oldest_running is None or self._episode_firsts[0] <= oldest_running.first):
                self._episode_firsts.popleft()
                self._n_stored -= len(self.episodes.popleft().rewards)
            else:
                assert oldest_running is not None  # more than buffer_size >= 1 transitions are stored
                oldest_running.drop_oldest()
                self._n_stored -= 1

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> SequenceSamples:
        """
        :param batch_size: number of sequences
        :param env: must be None (observation normalization is not supported)
        :return: a batch of sequences, see :class:`SequenceSamples`
        """
        if self._n_stored == 0:
            raise ValueError("cannot sample from an empty SequenceReplayBuffer")
        return self._get_samples(np.random.randint(0, self._n_stored, size=batch_size), env)

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> SequenceSamples:
        """
        :param batch_inds: first trained transition of each sequence, indexing all stored transitions in order
            (finished episodes oldest first, then the running episodes)
        :param env: must be None (observation normalization is not supported)
        :return: a batch of sequences, see :class:`SequenceSamples`
        """
        if env is not None:
            raise ValueError("SequenceReplayBuffer does not support VecNormalize")
        episodes = list(self.episodes) + [ep.view() for ep in self._running if len(ep)]
        lengths = np.array([len(ep.rewards) for ep in episodes])
        ends = np.cumsum(lengths)
        episode_ids = np.searchsorted(ends, batch_inds, side="right")
        return self.gather(episodes, episode_ids, batch_inds - (ends[episode_ids] - lengths[episode_ids]))

    def gather(self, episodes: list[_Episode], episode_ids: np.ndarray, firsts: np.ndarray) -> SequenceSamples:
        """
        Build the sequences whose first trained transitions are ``firsts`` in the episodes ``episode_ids``.

        :param episodes: the episodes to read from
        :param episode_ids: index into ``episodes``, one per sequence
        :param firsts: index of the first trained transition inside its episode, one per sequence
        :return: a batch of sequences, see :class:`SequenceSamples`
        """
        width, batch = self.burn_in + self.seq_len, len(episode_ids)
        observations = np.zeros((width + 1, batch, self.obs_dim), dtype=np.float32)
        actions = np.zeros((width, batch, self.action_dim), dtype=np.float32)
        rewards = np.zeros((width, batch), dtype=np.float32)
        terminated = np.zeros((width, batch), dtype=np.float32)
        mask = np.zeros((width, batch), dtype=np.float32)
        guided = np.zeros((width, batch), dtype=np.float32)
        burn_in_steps = np.zeros(batch, dtype=np.int64)
        for b, (episode_id, first) in enumerate(zip(episode_ids, firsts, strict=True)):
            episode = episodes[episode_id]
            start = max(0, first - self.burn_in)
            stop = min(len(episode.rewards), first + self.seq_len)
            n = stop - start
            observations[: n + 1, b] = episode.observations[start : stop + 1]
            actions[:n, b] = episode.actions[start:stop]
            rewards[:n, b] = episode.rewards[start:stop]
            terminated[:n, b] = episode.terminated[start:stop]
            guided[:n, b] = episode.guided[start:stop]
            mask[first - start : n, b] = 1.0
            burn_in_steps[b] = first - start
        return SequenceSamples(
            *(self.to_torch(x) for x in (observations, actions, rewards, terminated, mask)),
            torch.as_tensor(burn_in_steps, device=self.device),
            self.to_torch(guided),
        )
