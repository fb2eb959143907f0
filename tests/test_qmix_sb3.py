"""QMIX as an SB3 algorithm: save/load of every argument, resume with the replay buffer, foreign files,
EvalCallback through wrap_parallel_env, SurrogateScheduleCallback on the spiking agents."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from mpe2 import simple_spread_v3
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.save_util import save_to_pkl, save_to_zip_file

from sb3_spiking.callbacks import SurrogateScheduleCallback
from sb3_spiking.marl import QMIX, QMIXPolicy, wrap_parallel_env
from sb3_spiking.snn.schedules import SharpnessSchedule, iter_surrogates

SMALL = dict(batch_size=2, buffer_size=20, exploration_steps=20, agent_kwargs=dict(fc_dim=8, hidden_dim=8))


def spread_env() -> Any:
    return simple_spread_v3.parallel_env(N=2, max_cycles=5, continuous_actions=False)


class MyQMIXPolicy(QMIXPolicy):
    """A policy subclass, to check that the policy class survives save/load."""


NON_DEFAULT = dict(
    agent="lif",
    learning_rate=1e-3,
    buffer_size=7,
    batch_size=3,
    gamma=0.9,
    exploration_initial_eps=0.8,
    exploration_final_eps=0.1,
    exploration_steps=123,
    target_update_interval=3,
    train_freq=2,
    gradient_steps=2,
    max_grad_norm=5.0,
    td_lambda=0.3,
    double_q=False,
    optimizer="rmsprop",
    optimizer_kwargs={"alpha": 0.9},
    obs_last_action=False,
    obs_agent_id=False,
    global_state="concat",
    agent_kwargs={"fc_dim": 6, "hidden_dim": 5, "num_layers": 2, "core_kwargs": {"threshold": 0.7}},
    mixer_kwargs={"embed_dim": 4, "hypernet_hidden": 6},
    stats_window_size=7,
    tensorboard_log="tb_logs",
    verbose=1,
    seed=3,
    policy=MyQMIXPolicy,
)


def _assert_same_state(state: dict[str, Any], other: dict[str, Any]) -> None:
    """Equal tensors, and equal extra state (the surrogates' parameters)."""
    assert state.keys() == other.keys()
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, other[key]), key
        else:
            assert value == other[key], key


def test_every_constructor_argument_survives_save_load(tmp_path: Any) -> None:
    parameters = inspect.signature(QMIX.__init__).parameters
    assert set(NON_DEFAULT) == set(parameters) - {"self", "env", "device", "_init_setup_model"}
    assert all(value != parameters[name].default for name, value in NON_DEFAULT.items())
    model = QMIX(env=spread_env(), device="cpu", **NON_DEFAULT)
    model.set_logger(configure(str(tmp_path), ["csv"]))  # no TensorBoard writer in the test
    model.learn(20)  # 4 episodes; with batch_size 3 and train_freq 2, one training phase of 2 steps
    model.save(tmp_path / "qmix")
    loaded = QMIX.load(tmp_path / "qmix.zip", device="cpu")
    stored = {"policy": "policy_class", "stats_window_size": "_stats_window_size"}
    for name, value in NON_DEFAULT.items():
        assert getattr(loaded, stored.get(name, name)) == value, name
    # the networks and optimiser are the ones the arguments ask for
    policy = loaded.policy
    assert type(policy) is MyQMIXPolicy and isinstance(policy.optimizer, torch.optim.RMSprop)
    assert policy.optimizer.param_groups[0]["alpha"] == 0.9 and policy.optimizer.param_groups[0]["lr"] == 1e-3
    assert policy.input_dim == loaded.env_spec.obs_dim  # no last action, no agent id
    assert loaded.env_spec.state_source == "concat" and policy.mixer.embed_dim == 4
    assert policy.agent_net.num_layers == 2 and policy.agent_net.hidden_dim == 5
    assert [cell.threshold for cell in policy.agent_net.core.cells] == [0.7, 0.7]
    assert loaded.num_timesteps == 20 and loaded._episode_num == 4 and loaded._n_updates == 2
    _assert_same_state(model.policy.state_dict(), loaded.policy.state_dict())


def test_get_and_set_parameters_come_from_sb3() -> None:
    source = QMIX("grsn", spread_env(), seed=0, **SMALL)
    source.learn(20)
    target = QMIX("grsn", spread_env(), seed=1, **SMALL)
    params = source.get_parameters()
    assert set(params) == {"policy", "policy.optimizer"}
    target.set_parameters(params)
    obs, _ = spread_env().reset(seed=4)
    state_a = state_b = None
    for _ in range(3):
        act_a, state_a = source.predict(obs, state_a)
        act_b, state_b = target.predict(obs, state_b)
        assert act_a == act_b
    for a, b in zip(state_a, state_b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(target.policy.optimizer.state_dict()["state"][0]["step"]) == source._n_updates == 3


def _equal_buffers(a: Any, b: Any) -> None:
    assert (a.buffer_size, a.pos, len(a.episodes)) == (b.buffer_size, b.pos, len(b.episodes))
    for ep_a, ep_b in zip(a.episodes, b.episodes, strict=True):
        for field in ep_a._fields:
            np.testing.assert_array_equal(getattr(ep_a, field), getattr(ep_b, field), err_msg=field)


def test_resume_from_model_and_replay_buffer_loses_nothing(tmp_path: Any) -> None:
    kwargs = dict(SMALL, buffer_size=6, target_update_interval=2, td_lambda=0.5)
    model = QMIX("grsn", spread_env(), seed=5, **kwargs)
    model.learn(23)  # 4 full episodes and one cut after 3 steps; the buffer has not wrapped yet
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")
    assert [len(ep.actions) for ep in model.replay_buffer.episodes] == [5, 5, 5, 5, 3]

    resumed = QMIX.load(tmp_path / "model.zip", env=spread_env())
    resumed.load_replay_buffer(tmp_path / "buffer.pkl")
    assert (resumed.num_timesteps, resumed._episode_num, resumed._n_updates) == (23, 5, 4)
    assert resumed._last_target_update == model._last_target_update == 4
    assert resumed.exploration_rate == model.exploration_rate
    _equal_buffers(model.replay_buffer, resumed.replay_buffer)
    opt_a, opt_b = model.policy.optimizer.state_dict(), resumed.policy.optimizer.state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for key, values in opt_a["state"].items():
        for name, value in values.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b["state"][key][name])), (key, name)

    # continuing both gives the same networks; numpy's global RNG is shared, so each run starts from the seed
    model._last_obs = None  # as load(env=...) does: reset the env before continuing
    for m in (model, resumed):
        m.set_random_seed(m.seed)
        m.learn(12, reset_num_timesteps=False)
    assert model.num_timesteps == resumed.num_timesteps == 35
    assert [len(ep.actions) for ep in resumed.replay_buffer.episodes] == [5, 2, 5, 5, 3, 5]  # wrapped at 6
    _equal_buffers(model.replay_buffer, resumed.replay_buffer)
    _assert_same_state(model.policy.state_dict(), resumed.policy.state_dict())


def test_load_replay_buffer_refuses_other_pickles(tmp_path: Any) -> None:
    model = QMIX("gru", spread_env(), **SMALL)
    save_to_pkl(tmp_path / "other.pkl", {"not": "a buffer"})
    with pytest.raises(TypeError, match="EpisodeReplayBuffer"):
        model.load_replay_buffer(tmp_path / "other.pkl")


def test_foreign_files_name_their_algorithm(tmp_path: Any) -> None:
    TD3("MlpPolicy", "Pendulum-v1", learning_starts=0).save(tmp_path / "td3")
    with pytest.raises(ValueError, match=r"not saved by QMIX: it holds a TD3 model .*TD3Policy"):
        QMIX.load(tmp_path / "td3.zip")
    save_to_zip_file(tmp_path / "old.zip", data={"agent": "grsn", "env_spec": {}}, params={})
    with pytest.raises(ValueError, match="before QMIX became an SB3 algorithm"):
        QMIX.load(tmp_path / "old.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip file"):
        QMIX.load(tmp_path / "junk.zip")


def test_eval_callback_through_wrap_parallel_env(tmp_path: Any) -> None:
    model = QMIX("grsn", spread_env(), seed=0, **SMALL)
    eval_env = wrap_parallel_env(spread_env())
    eval_env.seed(11)
    callback = EvalCallback(eval_env, n_eval_episodes=3, eval_freq=15, log_path=str(tmp_path), verbose=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.learn(15, callback=callback)
    assert not [w for w in record if "Monitor" in str(w.message) or "not of the same type" in str(w.message)]
    assert np.asarray(callback.evaluations_results).shape == (1, 3)

    env = spread_env()  # the same three episodes, played by hand with the PettingZoo API
    returns, lengths = [], []
    for episode in range(3):
        obs, _ = env.reset(seed=11 if episode == 0 else None)
        state, total, steps = None, 0.0, 0
        while env.agents:
            actions, state = model.predict(obs, state, episode_start=steps == 0, agents=env.agents)
            obs, rewards, *_ = env.step(actions)
            total += sum(rewards.values())
            steps += 1
        returns.append(total)
        lengths.append(steps)
    np.testing.assert_allclose(callback.evaluations_results[0], returns, rtol=1e-5)
    assert callback.evaluations_length[0] == lengths == [5, 5, 5]


class RampSharpness(SharpnessSchedule):
    """Sharpness 1 + 9 * progress."""

    def value(self, progress: float, n_updates: int) -> float:
        return 1.0 + 9.0 * progress


class RecordSharpness(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, set[float]]] = []

    def _on_step(self) -> bool:
        values = {s.sharpness for s in iter_surrogates(self.model.policy)}
        self.seen.append((self.num_timesteps, values))
        return True


def test_surrogate_schedule_callback_drives_the_spiking_agents() -> None:
    model = QMIX("grsn", spread_env(), seed=0, **SMALL)
    surrogates = list(iter_surrogates(model.policy))
    agent_surrogates = list(iter_surrogates(model.agent_net))
    target_surrogates = list(iter_surrogates(model.target_agent_net))
    assert agent_surrogates and target_surrogates and len(surrogates) == len(agent_surrogates) * 2
    recorder = RecordSharpness()
    model.learn(20, callback=[SurrogateScheduleCallback(RampSharpness()), recorder])
    assert [step for step, _ in recorder.seen] == list(range(1, 21))
    for step, values in recorder.seen:  # every surrogate, online and target, follows the schedule at each step
        assert len(values) == 1 and values.pop() == pytest.approx(1.0 + 9.0 * step / 20)
