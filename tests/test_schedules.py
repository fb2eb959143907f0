"""Sharpness schedules (spec 01, seed 002) and the callback that applies them to every spiking layer."""

import csv

import numpy as np
import pytest
import torch
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from torch import nn

import sb3_spiking  # noqa: F401  (registers SpikingPopPolicy)
from sb3_spiking.callbacks import SurrogateScheduleCallback
from sb3_spiking.snn import surrogate
from sb3_spiking.snn.schedules import (
    ConstantSchedule,
    IntervalSchedule,
    LinearSchedule,
    RewardAdaptiveSchedule,
    iter_surrogates,
    set_sharpness,
)


def test_constant_and_linear() -> None:
    assert ConstantSchedule(7.0).value(0.3, 10) == 7.0
    lin = LinearSchedule(2.0, 50.0, fraction=0.5)
    for progress in np.linspace(0, 1, 11):
        expected = 2.0 + 48.0 * min(progress / 0.5, 1.0)
        assert lin.value(progress, 0) == pytest.approx(expected)


def test_interval_ramps_every_n_updates() -> None:
    values = np.linspace(1, 100, 4)
    sched = IntervalSchedule(values, every=10)
    got = [sched.value(0.0, n) for n in range(0, 60)]
    expected = [values[min(n // 10, 3)] for n in range(0, 60)]
    assert got == pytest.approx(expected)


def test_reward_adaptive_maps_mean_of_window() -> None:
    sched = RewardAdaptiveSchedule(reward_range=(-400, 400), slope_range=(2, 50), window=3)
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
    "make_bad",
    [
        lambda: ConstantSchedule(0.0),
        lambda: LinearSchedule(1.0, 2.0, fraction=0.0),
        lambda: IntervalSchedule([], every=3),
        lambda: IntervalSchedule([1.0], every=0),
        lambda: RewardAdaptiveSchedule(reward_range=(1, 0)),
        lambda: RewardAdaptiveSchedule(window=0),
    ],
)
def test_bad_schedule_arguments(make_bad) -> None:
    with pytest.raises(ValueError):
        make_bad()


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
    schedule = IntervalSchedule([2.0, 4.0, 8.0], every=100)
    record = Record()
    model.learn(400, callback=[SurrogateScheduleCallback(schedule), record], log_interval=1)
    # callbacks run in order: after ours, every layer of actor and target holds the value for the update count
    for n_updates, values in record.seen:
        assert values == {schedule.value(0.0, n_updates)}
    assert {v for _, vals in record.seen for v in vals} == {2.0, 4.0, 8.0}
    with open(tmp_path / "progress.csv") as f:
        logged = {float(row["train/surrogate_sharpness"]) for row in csv.DictReader(f)}
    assert logged and logged <= {2.0, 4.0, 8.0}
