"""Reading PettingZoo parallel environments into the fixed-size arrays QMIX works on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import AECEnv

from sb3_spiking.validation import check_choice, check_finite_observation

GLOBAL_STATE_SOURCES = ("auto", "env", "concat")


@dataclass(frozen=True)
class EnvSpec:
    """
    What QMIX needs to know about a cooperative parallel environment (plain values, saved with the model).

    :param agents: agent names in a fixed order (``env.possible_agents``)
    :param obs_dim: flattened observation size of every agent
    :param n_actions: size of the shared Discrete action space
    :param action_start: ``start`` of the Discrete action space
    :param state_dim: size of the global state
    :param state_source: ``"env"`` (``env.state()``) or ``"concat"`` (concatenated observations)
    :param dict_obs: whether observations are dicts ``{"observation", "action_mask"}``
    """

    agents: tuple[str, ...]
    obs_dim: int
    n_actions: int
    action_start: int
    state_dim: int
    state_source: str
    dict_obs: bool

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for saving."""
        return {**asdict(self), "agents": list(self.agents)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSpec:
        return cls(**{**data, "agents": tuple(data["agents"])})


def inspect_env(env: Any, global_state: str = "auto") -> EnvSpec:
    """
    Check that ``env`` is a PettingZoo ``ParallelEnv`` QMIX can handle and describe it.

    :param env: the parallel environment
    :param global_state: ``"auto"`` (``env.state()`` when the env has a ``state_space``, else ``"concat"``),
        ``"env"`` or ``"concat"``
    :return: the environment description
    """
    check_choice("global_state", global_state, GLOBAL_STATE_SOURCES)
    if isinstance(env, AECEnv) or hasattr(env, "agent_selection"):
        raise TypeError(
            f"QMIX needs the PettingZoo parallel API, got the AEC env {type(env).__name__} (its reset and step "
            "return nothing per agent); build it with <env module>.parallel_env(...) or convert it with "
            "pettingzoo.utils.conversions.aec_to_parallel(env)"
        )
    if not (hasattr(env, "possible_agents") and callable(getattr(env, "action_space", None))):
        raise ValueError(
            f"QMIX needs a PettingZoo ParallelEnv (e.g. simple_spread_v3.parallel_env()), got {type(env).__name__}"
        )
    agents = tuple(env.possible_agents)
    if not agents:
        raise ValueError("the environment has no agents")
    action_spaces = [env.action_space(a) for a in agents]
    for agent, space in zip(agents, action_spaces, strict=True):
        if not isinstance(space, spaces.Discrete):
            raise ValueError(
                f"QMIX needs Discrete action spaces; agent {agent!r} has {space} "
                "(for MPE envs pass continuous_actions=False)"
            )
    if len({(int(s.n), int(s.start)) for s in action_spaces}) > 1:
        found = dict(zip(agents, action_spaces, strict=True))
        raise ValueError(f"QMIX needs the same Discrete action space for every agent, got {found}")
    obs_spaces = [env.observation_space(a) for a in agents]
    dict_obs = isinstance(obs_spaces[0], spaces.Dict)
    obs_dims = set()
    for agent, space in zip(agents, obs_spaces, strict=True):
        if isinstance(space, spaces.Dict) != dict_obs:
            raise ValueError("observation spaces must all be Box or all be Dict with an 'observation' key")
        inner = space["observation"] if dict_obs and "observation" in space.spaces else space
        if not isinstance(inner, spaces.Box):
            raise ValueError(
                f"QMIX needs Box observations (or Dict with a Box 'observation' and an 'action_mask'); "
                f"agent {agent!r} has {space}"
            )
        obs_dims.add(int(np.prod(inner.shape)))
    if len(obs_dims) > 1:
        raise ValueError(f"QMIX needs observations of the same size for every agent, got sizes {sorted(obs_dims)}")
    obs_dim = obs_dims.pop()
    state_space = getattr(env, "state_space", None)
    if global_state == "env" and not isinstance(state_space, spaces.Box):
        raise ValueError("global_state='env' needs an env with a Box state_space and state(); use 'concat'")
    use_env = global_state == "env" or (global_state == "auto" and isinstance(state_space, spaces.Box))
    state_dim = int(np.prod(state_space.shape)) if use_env else obs_dim * len(agents)
    return EnvSpec(
        agents=agents,
        obs_dim=obs_dim,
        n_actions=int(action_spaces[0].n),
        action_start=int(action_spaces[0].start),
        state_dim=state_dim,
        state_source="env" if use_env else "concat",
        dict_obs=dict_obs,
    )


def read_observations(
    spec: EnvSpec,
    observations: dict[str, Any],
    infos: dict[str, Any] | None = None,
    alive: Collection[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Stack per-agent observations and action masks in agent order.

    Agents not in ``alive`` (out of the episode) get a zero observation and only their first action available
    (a forced no-op; QMIX masks them out of the mixer).

    :param spec: environment description
    :param observations: ``{agent: observation}`` as returned by ``reset``/``step``
    :param infos: ``{agent: info}``; an ``"action_mask"`` entry there is used when observations carry none
    :param alive: the agents in the episode (``None``: all of ``spec.agents``); each needs an observation
    :return: observations (n_agents, obs_dim) float32, available actions (n_agents, n_actions) bool and
        the alive flags (n_agents,) bool
    """
    unknown = sorted(set(observations) - set(spec.agents), key=str)
    if unknown:
        raise ValueError(f"observations for unknown agents {unknown}; the model's agents are {list(spec.agents)}")
    live = set(spec.agents if alive is None else alive)
    strangers = sorted(live - set(spec.agents), key=str)
    if strangers:
        raise ValueError(f"unknown agents {strangers} in `agents`; the model's agents are {list(spec.agents)}")
    missing = [a for a in spec.agents if a in live and a not in observations]
    if missing:
        raise ValueError(
            f"no observation for the agents {missing}; pass every agent in the episode (agents that left it "
            f"are named by leaving them out of `agents`), got keys {sorted(observations, key=str)}"
        )
    obs = np.zeros((spec.n_agents, spec.obs_dim), dtype=np.float32)
    avail = np.zeros((spec.n_agents, spec.n_actions), dtype=bool)
    flags = np.array([a in live for a in spec.agents])
    avail[~flags, 0] = True
    for i, agent in enumerate(spec.agents):
        if not flags[i]:
            continue
        value = observations[agent]
        mask = None
        if spec.dict_obs:
            mask = value.get("action_mask")
            value = value["observation"]
        elif infos is not None and agent in infos and "action_mask" in infos[agent]:
            mask = infos[agent]["action_mask"]
        check_finite_observation(value, f"observation of agent {agent!r}")
        obs[i] = np.asarray(value, dtype=np.float32).reshape(-1)
        avail[i] = True if mask is None else np.asarray(mask).reshape(-1).astype(bool)
        if not avail[i].any():
            raise ValueError(f"agent {agent!r} has no available action in its action mask")
    return obs, avail, flags


def read_state(spec: EnvSpec, team_obs: dict[str, np.ndarray]) -> np.ndarray:
    """
    :param spec: environment description
    :param team_obs: one team observation of :class:`~sb3_spiking.marl.vec_env.TeamVecEnv` (no env dimension)
    :return: the global state the mixer sees (state_dim,) float32
    """
    if spec.state_source == "env":
        return np.asarray(team_obs["state"], dtype=np.float32).reshape(-1)
    return np.asarray(team_obs["obs"], dtype=np.float32).reshape(-1)
