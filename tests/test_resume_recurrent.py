"""Resuming RecurrentTD3 / RecurrentDQN from a saved model and replay buffer loses nothing.

Reference: the model that was saved, continued without interruption from the same env reset and random state.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

import sb3_spiking
from sb3_spiking.snn.schedules import iter_surrogates, set_sharpness

TINY = dict(core="grsn", hidden_size=8, net_arch=[8])
SETTINGS = dict(learning_starts=20, seq_len=5, burn_in=2, batch_size=4, buffer_size=1000, policy_kwargs=TINY)


def _td3_env() -> gym.Env:
    return gym.make("Pendulum-P-v0", max_episode_steps=25)  # several episodes in a short run


def _dqn_env() -> gym.Env:
    return gym.make("CartPole-V-v0")


CASES = {
    "RecurrentTD3": (sb3_spiking.RecurrentTD3, _td3_env),
    "RecurrentDQN": (sb3_spiking.RecurrentDQN, _dqn_env),
}


def _buffer_contents(model: OffPolicyAlgorithm) -> list[tuple[np.ndarray, ...]]:
    buffer = model.replay_buffer
    return [tuple(ep) for ep in buffer.episodes] + [tuple(ep.view()) for ep in buffer._running if len(ep)]


def _assert_same_buffers(a: list[tuple[np.ndarray, ...]], b: list[tuple[np.ndarray, ...]]) -> None:
    assert len(a) == len(b)
    for episode_a, episode_b in zip(a, b, strict=True):
        for x, y in zip(episode_a, episode_b, strict=True):
            np.testing.assert_array_equal(x, y)


def _assert_same_optimizers(a: th.optim.Optimizer, b: th.optim.Optimizer) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a["param_groups"] == state_b["param_groups"]
    assert state_a["state"].keys() == state_b["state"].keys() and state_a["state"]
    for key, entry in state_a["state"].items():
        for name, value in entry.items():
            assert th.equal(value, state_b["state"][key][name]), (key, name)


def _optimizers(model: OffPolicyAlgorithm) -> list[th.optim.Optimizer]:
    if isinstance(model, sb3_spiking.RecurrentTD3):
        return [model.actor.optimizer, model.critic.optimizer]
    return [model.policy.optimizer]


def _assert_same_models(a: OffPolicyAlgorithm, b: OffPolicyAlgorithm) -> None:
    assert a.num_timesteps == b.num_timesteps and a._n_updates == b._n_updates and a._episode_num == b._episode_num
    for (name, x), (_, y) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True):
        if isinstance(x, th.Tensor):
            assert th.equal(x, y), name
    for opt_a, opt_b in zip(_optimizers(a), _optimizers(b), strict=True):
        _assert_same_optimizers(opt_a, opt_b)
    _assert_same_buffers(_buffer_contents(a), _buffer_contents(b))


@pytest.mark.parametrize("name", sorted(CASES))
def test_resume_loses_nothing(name: str, tmp_path: Path) -> None:
    algo, make_env = CASES[name]
    model = algo("GRSNPolicy", make_env(), seed=0, **SETTINGS)
    assert set_sharpness(model.policy, 3.5) > 0  # a scheduled surrogate sharpness, not a parameter
    model.learn(70)
    assert model._n_updates > 0 and model.replay_buffer.episodes and len(model.replay_buffer._running[0])
    saved = _buffer_contents(model)
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")

    loaded = algo.load(tmp_path / "model", env=make_env())
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert loaded.num_timesteps == 70 and loaded._n_updates == model._n_updates
    sharpness = [s.sharpness for s in iter_surrogates(loaded.policy)]
    assert len(sharpness) == len(list(iter_surrogates(model.policy))) and set(sharpness) == {3.5}
    # the running episode is closed as truncated (its env is gone), every stored step kept, boundaries unchanged
    restored = _buffer_contents(loaded)
    _assert_same_buffers(restored, saved)
    assert loaded.replay_buffer.size() == model.replay_buffer.size()
    assert not any(len(ep) for ep in loaded.replay_buffer._running)
    assert not restored[-1][3].any()

    # continuing it matches continuing the original from the same env reset and random state
    model.set_env(make_env())
    for m in (model, loaded):
        m.set_random_seed(5)
        m.learn(30, reset_num_timesteps=False)
    assert loaded.num_timesteps == 100
    _assert_same_models(loaded, model)


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_replay_buffer_keeps_running_episodes_when_asked(name: str, tmp_path: Path) -> None:
    algo, make_env = CASES[name]
    model = algo("GRSNPolicy", make_env(), seed=0, **SETTINGS)
    model.learn(30)
    saved = _buffer_contents(model)
    model.save_replay_buffer(tmp_path / "buffer")
    model.load_replay_buffer(tmp_path / "buffer", truncate_last_traj=False)
    assert len(model.replay_buffer._running[0]) == len(saved[-1][1])
    model.learn(5, reset_num_timesteps=False)  # the same live env continues its episode
    grown = _buffer_contents(model)
    continued = grown[len(saved) - 1]  # the episode running at save time, continued (not closed)
    assert len(continued[1]) > len(saved[-1][1])
    np.testing.assert_array_equal(continued[0][: len(saved[-1][0])], saved[-1][0])
    assert sum(len(ep[1]) for ep in grown) == sum(len(ep[1]) for ep in saved) + 5


def test_load_replay_buffer_refuses_other_buffers(tmp_path: Path) -> None:
    td3 = sb3_spiking.RecurrentTD3("GRSNPolicy", _td3_env(), **SETTINGS)
    dqn = sb3_spiking.RecurrentDQN("GRSNPolicy", _dqn_env(), **SETTINGS)
    dqn.save_replay_buffer(tmp_path / "dqn_buffer")
    with pytest.raises(ValueError, match="the model has"):
        td3.load_replay_buffer(tmp_path / "dqn_buffer")
    sb3 = sb3_spiking.DoubleDQN("MlpPolicy", "CartPole-v1", buffer_size=100)
    sb3.save_replay_buffer(tmp_path / "sb3_buffer")
    with pytest.raises(TypeError, match=r"needs a SequenceReplayBuffer.*holds a ReplayBuffer"):
        dqn.load_replay_buffer(tmp_path / "sb3_buffer")
