"""A PettingZoo parallel environment as the one-env ``VecEnv`` SB3 expects: the team is one environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from sb3_spiking.marl.env_utils import EnvSpec, inspect_env, read_observations
from sb3_spiking.validation import check_finite_observation


class TeamVecEnv(VecEnv):
    """
    A cooperative PettingZoo ``ParallelEnv`` seen as one SB3 environment (``num_envs = 1``).

    Observations are dicts of the whole team (agents in ``env.possible_agents`` order): ``"obs"``
    (n_agents, obs_dim), ``"action_mask"`` (n_agents, n_actions), ``"alive"`` (n_agents,), and ``"state"``
    (``env.state()``) when the env has a ``state_space``. Actions are (n_agents,) arrays; only the agents
    still in the episode (``env.agents``) act. The reward is the team reward, the sum of the agents' rewards.

    An agent that terminates leaves the episode: from then on its observation is zero, its ``alive`` flag 0
    and only its first action available. The episode ends when no agent is left; it is terminal when every
    agent of the last step terminated, else truncated (``info["TimeLimit.truncated"]``), and the final
    observation is in ``info["terminal_observation"]`` (agents truncated at the last step stay alive there,
    their value is bootstrapped). As any ``VecEnv``, it resets itself at the end of an episode.

    :param env: the parallel environment
    """

    def __init__(self, env: Any) -> None:
        self.par_env = env
        self.env_spec = inspect_env(env)
        n_agents, n_actions = self.env_spec.n_agents, self.env_spec.n_actions
        team: dict[str, spaces.Space] = {
            "obs": spaces.Box(-np.inf, np.inf, (n_agents, self.env_spec.obs_dim), np.float32),
            "action_mask": spaces.MultiBinary((n_agents, n_actions)),
            "alive": spaces.MultiBinary(n_agents),
        }
        if self.env_spec.state_source == "env":
            team["state"] = spaces.Box(-np.inf, np.inf, (self.env_spec.state_dim,), np.float32)
        action_space = spaces.MultiDiscrete(
            np.full(n_agents, n_actions), start=np.full(n_agents, self.env_spec.action_start)
        )
        super().__init__(1, spaces.Dict(team), action_space)
        self._actions = np.zeros(n_agents, dtype=np.int64)

    @property
    def possible_agents(self) -> tuple[str, ...]:
        """The agent names, in the order of the team arrays."""
        return self.env_spec.agents

    def _team_obs(
        self, observations: dict[str, Any], infos: dict[str, Any], alive: Sequence[str]
    ) -> dict[str, np.ndarray]:
        obs, avail, flags = read_observations(self.env_spec, observations, infos, alive)
        team = {"obs": obs, "action_mask": avail.astype(np.int8), "alive": flags.astype(np.int8)}
        if "state" in self.observation_space.spaces:
            team["state"] = np.asarray(self.par_env.state(), dtype=np.float32).reshape(-1)
            check_finite_observation(team["state"], "global state")
        return team

    def reset(self) -> VecEnvObs:
        options = self._options[0] or None
        observations, infos = self.par_env.reset(seed=self._seeds[0], options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos[0] = dict(infos)
        team = self._team_obs(observations, infos, list(self.par_env.agents))
        return {key: value[None] for key, value in team.items()}

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.env_spec.n_agents)

    def step_wait(self) -> VecEnvStepReturn:
        acting = list(self.par_env.agents)
        index = {agent: i for i, agent in enumerate(self.env_spec.agents)}
        observations, rewards, terminations, truncations, infos = self.par_env.step(
            {agent: int(self._actions[index[agent]]) for agent in acting}
        )
        reward = float(sum(rewards.values()))
        left = {a for a in acting if terminations.get(a, False) or truncations.get(a, False)}
        done = not self.par_env.agents or left == set(acting)
        terminated = done and all(terminations.get(a, False) for a in acting)
        if done:  # bootstrap the agents cut by a time limit from the final observation
            alive = [a for a in acting if not terminations.get(a, False)]
        else:
            alive = [a for a in acting if a not in left]
        team = self._team_obs(observations, infos, alive)
        info: dict[str, Any] = {"agent_infos": infos, "TimeLimit.truncated": done and not terminated}
        if done:
            info["terminal_observation"] = team
            next_obs = self.reset()
        else:
            next_obs = {key: value[None] for key, value in team.items()}
        return next_obs, np.array([reward], np.float32), np.array([done]), [info]

    def close(self) -> None:
        self.par_env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "render_mode":  # PettingZoo envs need not define it
            return [getattr(self.par_env, attr_name, None)]
        return [getattr(self.par_env, attr_name)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.par_env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        return [getattr(self.par_env, method_name)(*method_args, **method_kwargs)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False]


def wrap_parallel_env(env: Any) -> VecEnv:
    """
    The environment as QMIX trains on it, ``VecMonitor(TeamVecEnv(env))`` (episode team returns in
    ``info["episode"]``). Pass this as ``eval_env`` of SB3's ``EvalCallback`` to evaluate QMIX.

    :param env: a PettingZoo ``ParallelEnv``, or an env already wrapped by this function
    :return: the vectorised team environment
    """
    if isinstance(env, VecEnv):
        if not isinstance(env.unwrapped, TeamVecEnv):
            raise TypeError(
                f"QMIX needs a PettingZoo ParallelEnv or one wrapped by wrap_parallel_env, got the VecEnv "
                f"{type(env.unwrapped).__name__}"
            )
        return env
    return VecMonitor(TeamVecEnv(env))


def team_spec(env: Any, global_state: str) -> EnvSpec:
    """
    :param env: a PettingZoo ``ParallelEnv`` or a :func:`wrap_parallel_env` environment
    :param global_state: ``"auto"``, ``"env"`` or ``"concat"``
    :return: the description of the parallel environment underneath
    """
    if isinstance(env, VecEnv):
        env = wrap_parallel_env(env).unwrapped.par_env  # type: ignore[attr-defined]
    return inspect_env(env, global_state)
