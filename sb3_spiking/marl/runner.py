"""QMIX episode runner (pymarl's EpisodeRunner): steps the team environment and records one episode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.marl.buffer import Episode
from sb3_spiking.marl.env_utils import EnvSpec, read_state
from sb3_spiking.marl.policies import PredictState

TeamObs = dict[str, np.ndarray]
ActFn = Callable[[TeamObs, "PredictState | None", bool], tuple[np.ndarray, PredictState]]
StepFn = Callable[[TeamObs, np.ndarray, np.ndarray, list[dict[str, Any]], np.ndarray], bool]


class RunResult(NamedTuple):
    """What :meth:`EpisodeRunner.run` collected."""

    episode: Episode  # the episode, or its part before the step budget or a callback stopped it
    next_obs: TeamObs | None  # observation to continue from; None: the episode was cut, reset the env first
    continue_training: bool  # False when a callback asked to stop


class EpisodeRunner:
    """
    Runs one episode of a :class:`~sb3_spiking.marl.vec_env.TeamVecEnv` with the given action function.

    The episode is cut, not terminal, when the step budget runs out or a callback stops training inside it,
    so that ``learn(n)`` returns after exactly ``n`` steps on endless episodes too.

    :param env: the team environment (``num_envs = 1``)
    :param spec: description of the environment, with the global-state source the model uses
    """

    def __init__(self, env: VecEnv, spec: EnvSpec) -> None:
        self.env = env
        self.spec = spec

    def run(self, obs: TeamObs, act: ActFn, on_step: StepFn, max_steps: int) -> RunResult:
        """
        :param obs: the current (batched) team observation, the first of the episode
        :param act: ``act(obs, state, episode_start) -> (action indices (1, n_agents), state)``
        :param on_step: called after every env step with ``(new_obs, rewards, dones, infos, actions)``; returns
            False to stop
        :param max_steps: step budget (>= 1)
        :return: the episode and where to continue
        """
        observations = [{key: value[0] for key, value in obs.items()}]
        actions_list: list[np.ndarray] = []
        rewards_list: list[float] = []
        terminated = False
        state: PredictState | None = None
        next_obs: TeamObs | None = None
        keep_going = True
        for step in range(max_steps):
            actions, state = act(obs, state, step == 0)
            new_obs, rewards, dones, infos = self.env.step(actions + self.spec.action_start)
            keep_going = on_step(new_obs, rewards, dones, infos, actions)
            done = bool(dones[0])
            final = infos[0]["terminal_observation"] if done else {key: value[0] for key, value in new_obs.items()}
            observations.append(final)
            actions_list.append(actions[0])
            rewards_list.append(float(rewards[0]))
            if done:
                terminated = not infos[0].get("TimeLimit.truncated", False)
                next_obs = new_obs
                break
            if not keep_going:
                break
            obs = new_obs
        terminated_flags = np.zeros(len(actions_list), dtype=np.float32)
        terminated_flags[-1] = float(terminated)
        episode = Episode(
            obs=np.stack([o["obs"] for o in observations]).astype(np.float32),
            states=np.stack([read_state(self.spec, o) for o in observations]),
            avail_actions=np.stack([o["action_mask"] for o in observations]).astype(bool),
            alive=np.stack([o["alive"] for o in observations]).astype(bool),
            actions=np.stack(actions_list).astype(np.int64),
            rewards=np.asarray(rewards_list, dtype=np.float32),
            terminated=terminated_flags,
        )
        return RunResult(episode, next_obs, keep_going)
