"""Episode replay buffer of QMIX: whole episodes of variable length, padded when sampled."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from sb3_spiking.validation import check_int


class Episode(NamedTuple):
    """One stored episode of ``L`` transitions (numpy arrays)."""

    obs: np.ndarray  # (L + 1, n_agents, obs_dim), the last entry is the observation after the final step
    states: np.ndarray  # (L + 1, state_dim)
    avail_actions: np.ndarray  # (L + 1, n_agents, n_actions), bool
    alive: np.ndarray  # (L + 1, n_agents), bool: the agent is in the episode (see TeamVecEnv)
    actions: np.ndarray  # (L, n_agents), int
    rewards: np.ndarray  # (L,), team reward
    terminated: np.ndarray  # (L,), 1 at a true terminal step (not at a time limit)


class EpisodeBatch(NamedTuple):
    """A batch of episodes, time first and padded to the longest; ``mask`` is 1 on real transitions."""

    obs: Tensor  # (T + 1, B, n_agents, obs_dim)
    states: Tensor  # (T + 1, B, state_dim)
    avail_actions: Tensor  # (T + 1, B, n_agents, n_actions), bool
    alive: Tensor  # (T + 1, B, n_agents), float
    actions: Tensor  # (T, B, n_agents), long
    rewards: Tensor  # (T, B)
    terminated: Tensor  # (T, B)
    mask: Tensor  # (T, B)


class EpisodeReplayBuffer:
    """
    FIFO buffer of whole episodes.

    :param buffer_size: capacity in episodes
    :param device: where sampled batches are put
    """

    def __init__(self, buffer_size: int, device: torch.device | str = "cpu") -> None:
        self.buffer_size = check_int("buffer_size", buffer_size, minimum=1)
        self.device = torch.device(device)
        self.episodes: list[Episode] = []
        self.pos = 0

    def __len__(self) -> int:
        return len(self.episodes)

    def add(self, episode: Episode) -> None:
        """Store an episode, overwriting the oldest one when full."""
        if len(episode.actions) == 0:
            raise ValueError("cannot store an episode without transitions")
        if len(self.episodes) < self.buffer_size:
            self.episodes.append(episode)
        else:
            self.episodes[self.pos] = episode
        self.pos = (self.pos + 1) % self.buffer_size

    def sample(self, batch_size: int, rng: np.random.Generator | None = None) -> EpisodeBatch:
        """
        :param batch_size: number of episodes (drawn uniformly, without replacement)
        :param rng: random generator (``None``: numpy's global one, which SB3's ``set_random_seed`` seeds)
        :return: padded batch
        """
        if batch_size > len(self.episodes):
            raise ValueError(f"cannot sample {batch_size} episodes from a buffer holding {len(self.episodes)}")
        index = (np.random if rng is None else rng).choice(len(self.episodes), batch_size, replace=False)
        chosen = [self.episodes[i] for i in index]
        horizon = max(len(ep.actions) for ep in chosen)
        first = chosen[0]
        obs = np.zeros((horizon + 1, batch_size, *first.obs.shape[1:]), dtype=np.float32)
        states = np.zeros((horizon + 1, batch_size, first.states.shape[1]), dtype=np.float32)
        avail = np.ones((horizon + 1, batch_size, *first.avail_actions.shape[1:]), dtype=bool)
        alive = np.zeros((horizon + 1, batch_size, first.alive.shape[1]), dtype=np.float32)
        actions = np.zeros((horizon, batch_size, first.actions.shape[1]), dtype=np.int64)
        rewards = np.zeros((horizon, batch_size), dtype=np.float32)
        terminated = np.zeros((horizon, batch_size), dtype=np.float32)
        mask = np.zeros((horizon, batch_size), dtype=np.float32)
        for b, ep in enumerate(chosen):
            length = len(ep.actions)
            obs[: length + 1, b] = ep.obs
            states[: length + 1, b] = ep.states
            avail[: length + 1, b] = ep.avail_actions
            alive[: length + 1, b] = ep.alive
            actions[:length, b] = ep.actions
            rewards[:length, b] = ep.rewards
            terminated[:length, b] = ep.terminated
            mask[:length, b] = 1.0
        arrays = (obs, states, avail, alive, actions, rewards, terminated, mask)
        return EpisodeBatch(*(torch.as_tensor(a, device=self.device) for a in arrays))
