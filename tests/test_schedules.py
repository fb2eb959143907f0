"""Sharpness schedules (spec 01, seed 002) and the callback that applies them to every spiking layer."""

import csv
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

import sb3_spiking  # noqa: F401  (registers SpikingPopPolicy)
from sb3_spiking.callbacks import SurrogateScheduleCallback
from sb3_spiking.snn import surrogate
from sb3_spiking.snn.schedules import (
    ConstantSharpness,
    IntervalSharpness,
    LinearSharpness,
    RewardAdaptiveSharpness,
    iter_surrogates,
    set_sharpness,
)


def test_constant_and_linear() -> None:
    assert ConstantSharpness(7.0).value(0.3, 10) == 7.0
    lin = LinearSharpness(2.0, 50.0, fraction=0.5)
    for progress in np.linspace(0, 1, 11):
        expected = 2.0 + 48.0 * min(progress / 0.5, 1.0)
        assert lin.value(progress, 0) == pytest.approx(expected)


def test_interval_ramps_every_n_updates() -> None:
    values = np.linspace(1, 100, 4)
    sched = IntervalSharpness(values, every=10)
    got = [sched.value(0.0, n) for n in range(0, 60)]
    expected = [values[min(n // 10, 3)] for n in range(0, 60)]
    assert got == pytest.approx(expected)


def test_reward_adaptive_maps_mean_of_window() -> None:
    sched = RewardAdaptiveSharpness(reward_range=(-400, 400), slope_range=(2, 50), window=3)
    assert sched.value(0, 0) == 2.0
    rewards = [(-400, -400), (0, 100), (400, 200), (1000, 1000)]
    for r, r2 in rewards:
        sched.observe(r, r2)
    last3 = [0.5 * r + 0.5 * r2 for r, r2 in rewards[-3:]]
    fraction = np.clip((np.mean(last3) + 400) / 800, 0, 1)
    assert sched.value(0, 0) == pytest.approx(2 + 48 * fraction)
    for _ in range(3):
        sched.observe(-1000)
    assert sched.value(0, 0) == 2.0


@pytest.mark.parametrize(
    ("make_bad", "error", "match"),
    [
        (lambda: ConstantSharpness(0.0), ValueError, "sharpness"),
        (lambda: ConstantSharpness(float("inf")), ValueError, "sharpness must be finite"),
        (lambda: ConstantSharpness("8"), TypeError, "sharpness must be a real number"),
        (lambda: LinearSharpness(1.0, 2.0, fraction=0.0), ValueError, r"fraction must be in \(0, 1\]"),
        (lambda: LinearSharpness(1.0, 2.0, fraction=1.5), ValueError, "fraction"),
        (lambda: LinearSharpness(-1.0, 2.0), ValueError, "start"),
        (lambda: LinearSharpness(1.0, float("nan")), ValueError, "end must be finite"),
        (lambda: LinearSharpness(True, 2.0), TypeError, "start"),
        (lambda: IntervalSharpness([], every=3), ValueError, "values"),
        (lambda: IntervalSharpness("1, 2", every=3), TypeError, "values must be a sequence"),
        (lambda: IntervalSharpness(5.0, every=3), TypeError, "values must be a sequence"),
        (lambda: IntervalSharpness([1.0, -2.0], every=3), ValueError, r"values\[1\]"),
        (lambda: IntervalSharpness([1.0, float("inf")], every=3), ValueError, r"values\[1\] must be finite"),
        (lambda: IntervalSharpness([1.0], every=0), ValueError, "every must be >= 1"),
        (lambda: IntervalSharpness([1.0], every=2.5), TypeError, "every must be an int"),
        (lambda: RewardAdaptiveSharpness(reward_range=(1, 0)), ValueError, "reward_range must be increasing"),
        (lambda: RewardAdaptiveSharpness(reward_range=(0, float("inf"))), ValueError, r"reward_range\[1\]"),
        (lambda: RewardAdaptiveSharpness(reward_range=(0, 1, 2)), ValueError, "reward_range must be a pair"),
        (lambda: RewardAdaptiveSharpness(reward_range=100.0), TypeError, "reward_range must be a pair"),
        (lambda: RewardAdaptiveSharpness(slope_range=(0.0, 5.0)), ValueError, "slope_range must be positive"),
        (lambda: RewardAdaptiveSharpness(slope_range=(5.0, 2.0)), ValueError, "slope_range"),
        (lambda: RewardAdaptiveSharpness(slope_range=("2", 5.0)), TypeError, r"slope_range\[0\]"),
        (lambda: RewardAdaptiveSharpness(window=0), ValueError, "window must be >= 1"),
        (lambda: RewardAdaptiveSharpness(window=2.0), TypeError, "window must be an int"),
        (lambda: set_sharpness(nn.Linear(1, 1), "8"), TypeError, "sharpness"),
        (lambda: set_sharpness(nn.Linear(1, 1), 0.0), ValueError, "sharpness"),
    ],
)
def test_bad_schedule_arguments_name_the_argument(make_bad, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make_bad()


def test_schedule_arguments_accept_numpy_values() -> None:
    sched = IntervalSharpness(np.linspace(1, 100, 4), every=np.int64(10))
    assert sched.value(0.0, 35) == 100.0 and isinstance(sched.value(0.0, 0), float)
    assert RewardAdaptiveSharpness(np.array([-1.0, 1.0]), (np.float32(2.0), 4), window=np.int64(2)).value(0, 0) == 2.0


def test_names_do_not_shadow_sb3_schedules() -> None:
    from sb3_spiking.snn import schedules

    for name in ("ConstantSchedule", "LinearSchedule", "IntervalSchedule", "RewardAdaptiveSchedule"):
        assert not hasattr(schedules, name)


class TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(3, 3)
        self.first.spike = surrogate.make("fast_sigmoid", k=25)
        self.second = nn.Sequential(nn.Linear(3, 3))
        self.second[0].spike = surrogate.make("trapezoidal")
        self.shared = self.first.spike


def test_set_sharpness_reaches_every_distinct_layer() -> None:
    net = TwoLayers()
    assert len(list(iter_surrogates(net))) == 2
    assert set_sharpness(net, 4.0) == 2
    assert net.first.spike.k == 4.0
    assert net.second[0].spike.w2 == pytest.approx(0.25)
    x = torch.tensor([0.1, 0.3], requires_grad=True)
    net.second[0].spike(x).sum().backward()
    # trapezoid w1 = 0.125, w2 = 0.25, h = 1 / 0.375: 0.1 is on the flat top, 0.3 outside
    assert x.grad.tolist() == pytest.approx([1 / 0.375, 0.0])


def test_callback_changes_every_layer_during_learn_and_logs(tmp_path) -> None:
    class Record(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[int, set[float]]] = []

        def _on_step(self) -> bool:
            values = {s.sharpness for s in iter_surrogates(self.model.policy)}
            self.seen.append((self.model._n_updates, values))
            return True

    model = TD3(
        "SpikingPopPolicy",
        "Pendulum-v1",
        learning_starts=100,
        batch_size=16,
        policy_kwargs=dict(hidden_sizes=[16], surrogate="trapezoidal", net_arch=[16]),
        seed=0,
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    n_layers = len(list(iter_surrogates(model.policy.actor)))
    assert n_layers >= 2 and len(list(iter_surrogates(model.policy))) == 2 * n_layers  # actor and target
    schedule = IntervalSharpness([2.0, 4.0, 8.0], every=100)
    record = Record()
    model.learn(400, callback=[SurrogateScheduleCallback(schedule), record], log_interval=1)
    # callbacks run in order: after ours, every layer of actor and target holds the value for the update count
    for n_updates, values in record.seen:
        assert values == {schedule.value(0.0, n_updates)}
    assert {v for _, vals in record.seen for v in vals} == {2.0, 4.0, 8.0}
    with open(tmp_path / "progress.csv") as f:
        logged = {float(row["train/surrogate_sharpness"]) for row in csv.DictReader(f)}
    assert logged and logged <= {2.0, 4.0, 8.0}


@pytest.mark.parametrize("bad", ["linear", 8.0, LinearSharpness])
def test_callback_refuses_what_is_not_a_schedule(bad) -> None:
    with pytest.raises(TypeError, match="schedule must be a SharpnessSchedule"):
        SurrogateScheduleCallback(bad)


def test_callback_refuses_a_policy_without_surrogates() -> None:
    model = TD3("MlpPolicy", "Pendulum-v1", learning_starts=100, policy_kwargs=dict(net_arch=[8]))
    with pytest.raises(ValueError, match="no spiking layer"):
        model.learn(5, callback=SurrogateScheduleCallback(ConstantSharpness(4.0)))


def _short_pendulum_td3(env) -> TD3:
    kwargs = dict(hidden_sizes=[8], net_arch=[8], encoder_pop_dim=3, decoder_pop_dim=2)
    return TD3("SpikingPopPolicy", env, learning_starts=1000, policy_kwargs=kwargs, seed=0)


def test_reward_adaptive_without_monitor_warns() -> None:
    env = DummyVecEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=5)])  # a VecEnv: SB3 adds no Monitor
    model = _short_pendulum_td3(env)
    schedule = RewardAdaptiveSharpness(reward_range=(-50, 0), slope_range=(2, 50), window=10)
    with pytest.warns(UserWarning, match="Monitor"):
        model.learn(12, callback=SurrogateScheduleCallback(schedule))
    assert not schedule.scores


def test_reward_adaptive_with_monitor_follows_the_episode_returns() -> None:
    model = _short_pendulum_td3(gym.make("Pendulum-v1", max_episode_steps=5))  # SB3 wraps it in Monitor
    schedule = RewardAdaptiveSharpness(reward_range=(-50, 0), slope_range=(2, 50), window=10)
    callback = SurrogateScheduleCallback(schedule)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.learn(12, callback=callback)
    returns = [episode["r"] for episode in model.ep_info_buffer]
    assert len(returns) == 2 and list(schedule.scores) == pytest.approx(returns)
    expected = 2 + 48 * float(np.clip((np.mean(returns) + 50) / 50, 0, 1))
    assert callback.sharpness == pytest.approx(expected)
    surrogates = list(iter_surrogates(model.policy))
    assert [s.sharpness for s in surrogates] == pytest.approx([expected] * len(surrogates))


def test_interval_schedule_without_monitor_does_not_warn() -> None:
    model = _short_pendulum_td3(DummyVecEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=5)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.learn(12, callback=SurrogateScheduleCallback(IntervalSharpness([3.0], every=1)))
