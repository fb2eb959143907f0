"""Resuming a feed-forward spiking agent (TD3 / DDPG / SAC with SpikingPopPolicy, DQN / DoubleDQN with CVTCPolicy)
from its model and replay buffer files loses nothing: timesteps, updates, weights, optimizer states, buffer contents
and the deterministic actions are those of the saved agent, and training continues from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import DDPG, DQN, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_spiking  # noqa: F401
from sb3_spiking import DoubleDQN

POP = dict(hidden_sizes=[8], encoder_pop_dim=3, decoder_pop_dim=2, net_arch=[8], surrogate="triangular")
CVTC = dict(hidden_sizes=[6], obs_range=[2.4, 3.0, 0.21, 3.0])
CASES = [(TD3, "Pendulum-v1", POP), (DDPG, "Pendulum-v1", POP), (SAC, "Pendulum-v1", POP)]
CASES += [(DQN, "CartPole-v1", CVTC), (DoubleDQN, "CartPole-v1", CVTC)]
BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def optimizers(model: BaseAlgorithm) -> dict[str, torch.optim.Optimizer]:
    """Every optimizer the algorithm steps."""
    if isinstance(model, DQN):
        found = {"q_net": model.policy.optimizer}
    else:
        found = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
    if isinstance(model, SAC):
        found["ent_coef"] = model.ent_coef_optimizer
    return found


def assert_same(a: Any, b: Any, where: str) -> None:
    """Nested dicts / lists of tensors and plain values are equal, element by element."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize(("algo", "env_id", "policy_kwargs"), CASES, ids=[c[0].__name__ for c in CASES])
def test_resume_from_model_and_replay_buffer(algo: type, env_id: str, policy_kwargs: dict, tmp_path: Path) -> None:
    kwargs = dict(learning_starts=10, batch_size=8, buffer_size=200, train_freq=1, seed=0, device="cpu")
    model = algo("SpikingPopPolicy" if algo not in (DQN, DoubleDQN) else "CVTCPolicy", env_id,
                 policy_kwargs=dict(policy_kwargs), **kwargs)  # fmt: skip
    model.learn(40)
    assert model._n_updates > 0 and all(opt.state for opt in optimizers(model).values())
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")

    loaded = algo.load(tmp_path / "model", env=model.get_env(), device="cpu")
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert loaded.num_timesteps == model.num_timesteps == 40 and loaded._n_updates == model._n_updates
    assert_same(loaded.policy.state_dict(), model.policy.state_dict(), "policy")
    for name, optimizer in optimizers(model).items():
        assert_same(optimizers(loaded)[name].state_dict(), optimizer.state_dict(), name)
    buffer, restored = model.replay_buffer, loaded.replay_buffer
    assert (restored.pos, restored.full) == (buffer.pos, buffer.full) == (40, False)
    for field in BUFFER_FIELDS:
        np.testing.assert_array_equal(getattr(restored, field), getattr(buffer, field), err_msg=field)
    obs = np.stack([model.observation_space.sample() for _ in range(16)]) * 0.5
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])

    loaded.learn(20, reset_num_timesteps=False)
    assert loaded.num_timesteps == 60 and loaded.replay_buffer.pos == 60
    assert loaded._n_updates > model._n_updates
    np.testing.assert_array_equal(loaded.replay_buffer.observations[:40], buffer.observations[:40])
    assert any(
        not torch.equal(a, b) for a, b in zip(loaded.policy.parameters(), model.policy.parameters(), strict=True)
    )
