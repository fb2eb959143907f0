"""Sharpness schedules (spec 01, seed 002) and the callback that applies them to every spiking layer."""

import numpy as np
import pytest
import torch
from torch import nn

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
