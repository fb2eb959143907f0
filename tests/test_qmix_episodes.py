"""QMIX episodes: the step budget inside endless episodes, agents that leave the episode, input checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from gymnasium import spaces
from mpe2 import simple_spread_v3

from sb3_spiking.marl import QMIX

SMALL = dict(batch_size=2, buffer_size=20, exploration_steps=20, agent_kwargs=dict(fc_dim=8, hidden_dim=8))


class TeamEnv:
    """
    Two agents ``a``, ``b``, three actions. Observation ``[t, agent index]``; every agent in the episode gets
    reward 1 per step. ``a`` terminates at step ``death``; ``b`` terminates (or is truncated) at step ``length``;
    ``length=None`` never ends. ``step`` refuses actions for agents that left the episode.
    """

    metadata: dict[str, Any] = {"name": "team_v0"}

    def __init__(self, death: int | None = None, length: int | None = 5, truncate: bool = False) -> None:
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.death, self.length, self.truncate = death, length, truncate
        self.nan_at: int | None = None
        self.resets = 0
        self.sent: list[set[str]] = []

    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(-np.inf, np.inf, (2,), np.float32)

    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(3)

    def _obs(self, agents: list[str]) -> dict[str, np.ndarray]:
        obs = {a: np.array([self.t, self.possible_agents.index(a)], np.float32) for a in agents}
        if self.nan_at is not None and self.t == self.nan_at:
            obs["b"][1] = np.nan
        return obs

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.agents = list(self.possible_agents)
        self.t = 0
        self.resets += 1
        return self._obs(self.agents), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        assert set(actions) == set(self.agents), f"actions for {sorted(actions)}, agents {self.agents}"
        self.sent.append(set(actions))
        acting = list(self.agents)
        self.t += 1
        end = self.length is not None and self.t >= self.length
        terminations = {a: False for a in acting}
        truncations = {a: False for a in acting}
        if "a" in acting and self.death is not None and self.t >= self.death:
            terminations["a"] = True
        if end:
            for a in acting:
                (truncations if self.truncate and a == "b" else terminations)[a] = True
        obs = self._obs(acting)
        self.agents = [a for a in acting if not (terminations[a] or truncations[a])]
        return obs, {a: 1.0 for a in acting}, terminations, truncations, {a: {} for a in acting}


def test_learn_respects_the_budget_inside_endless_episodes() -> None:
    env = TeamEnv(length=None)
    model = QMIX("gru", env, seed=0, **SMALL)
    model.learn(37)
    assert model.num_timesteps == 37
    assert [len(ep.actions) for ep in model.replay_buffer.episodes] == [37]
    episode = model.replay_buffer.episodes[0]
    assert not episode.terminated.any()  # cut by the budget: bootstrapped, not terminal
    np.testing.assert_array_equal(episode.obs[:, 0, 0], np.arange(38))
    model.learn(10, reset_num_timesteps=False)  # the cut episode is not continued: the env is reset
    assert model.num_timesteps == 47 and env.resets == 2
    assert [len(ep.actions) for ep in model.replay_buffer.episodes] == [37, 10]
    np.testing.assert_array_equal(model.replay_buffer.episodes[1].obs[:, 0, 0], np.arange(11))


def test_budget_cuts_the_last_finite_episode() -> None:
    model = QMIX("mlp", TeamEnv(length=5), seed=0, **SMALL)
    model.learn(12)
    episodes = model.replay_buffer.episodes
    assert model.num_timesteps == 12 and [len(ep.actions) for ep in episodes] == [5, 5, 2]
    assert [ep.terminated.tolist() for ep in episodes] == [[0, 0, 0, 0, 1]] * 2 + [[0, 0]]


@pytest.mark.parametrize("truncate", [False, True])
def test_episode_goes_on_after_one_agent_terminates(truncate: bool) -> None:
    env = TeamEnv(death=2, length=5, truncate=truncate)
    model = QMIX("grsn", env, seed=0, **SMALL)
    model.learn(10)
    assert model.num_timesteps == 10 and len(model.replay_buffer) == 2
    assert env.sent[:5] == [{"a", "b"}] * 2 + [{"b"}] * 3  # the dead agent is never asked to act
    for ep in model.replay_buffer.episodes:
        assert len(ep.actions) == 5
        np.testing.assert_array_equal(ep.rewards, [2, 2, 1, 1, 1])  # team reward = sum over agents in the episode
        np.testing.assert_array_equal(ep.terminated, [0, 0, 0, 0, 0 if truncate else 1])
        np.testing.assert_array_equal(ep.alive[:, 0], [1, 1, 0, 0, 0, 0])
        np.testing.assert_array_equal(ep.alive[:, 1], [1, 1, 1, 1, 1, 1 if truncate else 0])
        np.testing.assert_array_equal(ep.obs[2:, 0], 0.0)  # out of the episode: zero observation
        np.testing.assert_array_equal(ep.obs[1:5, 1, 0], [1, 2, 3, 4])
        np.testing.assert_array_equal(ep.avail_actions[2:, 0], [[True, False, False]] * 4)  # forced no-op
        np.testing.assert_array_equal(ep.actions[2:, 0], 0)


def test_dead_agent_is_masked_out_of_the_loss() -> None:
    model = QMIX("gru", TeamEnv(death=2, length=5, truncate=True), seed=0, **SMALL)
    model.learn(10)
    with torch.no_grad():  # targets that differ from the online nets, so every term of the loss matters
        for p in model.target_agent_net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = model.replay_buffer.sample(2, np.random.default_rng(0))
    base = model.learner.loss(batch).loss

    dead = batch.alive == 0
    obs = batch.obs.clone()
    obs[dead] = torch.randn_like(obs[dead]) * 5  # what a dead agent sees changes its utilities, not the loss
    actions = batch.actions.clone()
    actions[dead[:-1]] = 2
    changed = batch._replace(obs=obs, actions=actions)
    q_changed = model.policy.episode_utilities(changed.obs, changed.actions)[0]
    q_base = model.policy.episode_utilities(batch.obs, batch.actions)[0]
    assert not torch.allclose(q_changed[dead], q_base[dead])
    torch.testing.assert_close(model.learner.loss(changed).loss, base)

    live = batch.obs.clone()
    live[1, 0, 1, 0] += 1.0  # agent b, alive: the loss moves
    assert not torch.allclose(model.learner.loss(batch._replace(obs=live)).loss, base)


def test_predict_names_unknown_and_missing_agents() -> None:
    env = TeamEnv(death=1, length=5)
    model = QMIX("gru", env, seed=0, **SMALL)
    obs, _ = env.reset()
    with pytest.raises(ValueError, match=r"unknown agents \['c'\]"):
        model.predict({**obs, "c": obs["a"]})
    with pytest.raises(ValueError, match=r"unknown agents \['B'\]"):
        model.predict({"a": obs["a"], "B": obs["b"]})
    with pytest.raises(ValueError, match=r"no observation for the agents \['b'\]"):
        model.predict({"a": obs["a"]})
    with pytest.raises(TypeError, match="observation must be a dict"):
        model.predict(np.stack([obs["a"], obs["b"]]))
    actions, state = model.predict(obs)
    assert set(actions) == {"a", "b"}
    obs, *_ = env.step(actions)  # a leaves the episode; its final observation comes back once
    del obs["a"]
    actions, _ = model.predict(obs, state, agents=env.agents)
    assert set(actions) == {"b"}
    with pytest.raises(ValueError, match=r"unknown agents \['z'\] in `agents`"):
        model.predict(obs, state, agents=["b", "z"])
    with pytest.raises(ValueError, match=r"action_masks for unknown agents \['x'\]"):
        model.predict(obs, state, agents=["b"], action_masks={"x": np.ones(3)})


def test_non_finite_observation_names_the_agent_and_index() -> None:
    env = TeamEnv(length=5)
    model = QMIX("gru", env, seed=0, **SMALL)
    obs, _ = env.reset()
    obs["b"] = np.array([0.0, np.inf], np.float32)
    with pytest.raises(ValueError, match=r"observation of agent 'b' holds a non-finite value inf at index \(1,\)"):
        model.predict(obs)
    env.nan_at = 3
    with pytest.raises(ValueError, match=r"observation of agent 'b' holds a non-finite value nan at index \(1,\)"):
        model.learn(10)
    team = {"obs": np.zeros((1, 2, 2), np.float32), "action_mask": np.ones((1, 2, 3)), "alive": np.ones((1, 2))}
    team["obs"][0, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"observation of agent 'a' holds a non-finite value nan at index \(0, 1\)"):
        model.predict(team)


def test_aec_env_is_rejected_up_front() -> None:
    with pytest.raises(TypeError, match=r"parallel API.*parallel_env\(\.\.\.\)"):
        QMIX("grsn", simple_spread_v3.env(N=2, max_cycles=5, continuous_actions=False))
    model = QMIX("gru", simple_spread_v3.parallel_env(N=2, max_cycles=5, continuous_actions=False), **SMALL)
    with pytest.raises(TypeError, match="parallel API"):
        model.set_env(simple_spread_v3.env(N=2, max_cycles=5, continuous_actions=False))


BAD_ARGUMENTS = [
    ("buffer_size", 10.5, TypeError),
    ("buffer_size", 0, ValueError),
    ("batch_size", True, TypeError),
    ("learning_rate", -1e-3, ValueError),
    ("learning_rate", "fast", TypeError),
    ("gamma", 1.5, ValueError),
    ("exploration_initial_eps", -0.1, ValueError),
    ("exploration_final_eps", float("nan"), ValueError),
    ("exploration_steps", -1, ValueError),
    ("target_update_interval", 0, ValueError),
    ("train_freq", 1.0, TypeError),
    ("gradient_steps", 0, ValueError),
    ("max_grad_norm", 0.0, ValueError),
    ("double_q", "yes", TypeError),
    ("obs_last_action", 1, TypeError),
    ("obs_agent_id", None, TypeError),
    ("optimizer", "sgd", ValueError),
    ("optimizer_kwargs", [("eps", 1e-5)], TypeError),
    ("agent_kwargs", "dict(fc_dim=8)", TypeError),
    ("mixer_kwargs", 3, TypeError),
    ("global_state", "obs", ValueError),
    ("stats_window_size", 0, ValueError),
    ("verbose", -1, ValueError),
    ("seed", 1.5, TypeError),
    ("tensorboard_log", 3, TypeError),
    ("policy", torch.nn.Module, TypeError),
]


@pytest.mark.parametrize("name, value, error", BAD_ARGUMENTS, ids=[f"{n}={v!r}" for n, v, _ in BAD_ARGUMENTS])
def test_constructor_arguments_are_validated(name: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=name):
        QMIX("gru", TeamEnv(), **{**SMALL, name: value})
