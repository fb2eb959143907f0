"""Replay buffer of whole episodes, sampled as fixed-length sequences (recurrent off-policy RL)."""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.vec_env import VecNormalize


class SequenceSamples(NamedTuple):
    """
    A batch of sequences, time-major. ``W = burn_in + seq_len`` transitions per sequence.

    :param observations: (W + 1, batch, obs_dim); entry ``t + 1`` is the next observation of transition ``t``
    :param actions: (W, batch, action_dim) as stored (scaled to [-1, 1] for Box actions)
    :param rewards: (W, batch)
    :param terminated: (W, batch), 1 where the episode ended by termination (no bootstrap); time-outs are 0
    :param mask: (W, batch), 1 for the transitions that enter the loss (inside the episode, after the burn-in)
    """

    observations: th.Tensor
    actions: th.Tensor
    rewards: th.Tensor
    terminated: th.Tensor
    mask: th.Tensor


class _Episode(NamedTuple):
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray


class SequenceReplayBuffer(BaseBuffer):
    """
    Stores whole episodes (float32; each observation once: the next observation of step ``t`` is the observation of
    step ``t + 1``) and samples sequences of ``burn_in + seq_len`` transitions. The first trained transition of a
    sequence is drawn uniformly over all stored transitions (finished and running episodes); up to ``burn_in``
    earlier steps of the same episode precede it to warm the recurrent state (excluded from the loss); steps past the
    episode end are masked. The recurrent state is zero at each sequence start. When more than ``buffer_size``
    transitions are stored, the oldest finished episodes are dropped.

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
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        seq_len: int = 64,
        burn_in: int = 0,
    ) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        if optimize_memory_usage:
            raise ValueError("SequenceReplayBuffer does not support optimize_memory_usage=True")
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"SequenceReplayBuffer needs a 1-D Box observation space, got {observation_space}")
        if seq_len < 1 or burn_in < 0:
            raise ValueError(f"seq_len must be >= 1 and burn_in >= 0, got {seq_len} and {burn_in}")
        self.seq_len = seq_len
        self.burn_in = burn_in
        self.obs_dim = observation_space.shape[0]
        self.episodes: deque[_Episode] = deque()
        self._running: list[dict[str, list[np.ndarray]]] = [self._empty_episode() for _ in range(n_envs)]
        self._n_stored = 0

    @staticmethod
    def _empty_episode() -> dict[str, list[np.ndarray]]:
        return {"observations": [], "actions": [], "rewards": [], "terminated": []}

    def size(self) -> int:
        """Number of stored transitions."""
        return self._n_stored

    def reset(self) -> None:
        self.episodes.clear()
        self._running = [self._empty_episode() for _ in range(self.n_envs)]
        self._n_stored = 0

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
        :param infos: one dict per environment (``TimeLimit.truncated`` marks time-outs)
        """
        action = np.asarray(action, dtype=np.float32).reshape(self.n_envs, self.action_dim)
        for i in range(self.n_envs):
            episode = self._running[i]
            if not episode["observations"]:
                episode["observations"].append(np.array(obs[i], dtype=np.float32))
            episode["observations"].append(np.array(next_obs[i], dtype=np.float32))
            episode["actions"].append(action[i])
            episode["rewards"].append(np.float32(reward[i]))
            terminated = bool(done[i]) and not infos[i].get("TimeLimit.truncated", False)
            episode["terminated"].append(np.float32(terminated))
            self._n_stored += 1
            if done[i]:
                self.episodes.append(self._to_arrays(episode))
                self._running[i] = self._empty_episode()
        while self._n_stored > self.buffer_size and self.episodes:
            self._n_stored -= len(self.episodes.popleft().rewards)

    @staticmethod
    def _to_arrays(episode: dict[str, list[np.ndarray]]) -> _Episode:
        return _Episode(*(np.stack(episode[key]).astype(np.float32) for key in _Episode._fields))

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
        episodes = list(self.episodes) + [self._to_arrays(ep) for ep in self._running if ep["actions"]]
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
        for b, (episode_id, first) in enumerate(zip(episode_ids, firsts, strict=True)):
            episode = episodes[episode_id]
            start = max(0, first - self.burn_in)
            stop = min(len(episode.rewards), first + self.seq_len)
            n = stop - start
            observations[: n + 1, b] = episode.observations[start : stop + 1]
            actions[:n, b] = episode.actions[start:stop]
            rewards[:n, b] = episode.rewards[start:stop]
            terminated[:n, b] = episode.terminated[start:stop]
            mask[first - start : n, b] = 1.0
        return SequenceSamples(*(self.to_torch(x) for x in (observations, actions, rewards, terminated, mask)))
