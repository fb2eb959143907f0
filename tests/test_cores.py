"""The core registry: GRU / MLP cores against per-step references, argument checks, and a new cell added by one class
plus one registry line, trained through RecurrentTD3 and QMIX."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import Tensor, nn

import sb3_spiking
from sb3_spiking.snn.cores import CORES, GRUCore, MLPCore, make_core, register_core
from sb3_spiking.snn.neurons import CellState, ScanGradients, ScanRecord, SpikingCell
from sb3_spiking.snn.recurrent import SpikingRecurrent


class IntegrateAndFireCell(SpikingCell):
    """A toy cell: non-leaky integrate-and-fire with soft reset, ``u = u_hat + W x``, ``u_hat' = u - theta s``."""

    def __init__(self, input_size: int, hidden_size: int, surrogate: str = "arctan", threshold: float = 1.0) -> None:
        super().__init__(hidden_size, surrogate, threshold)
        self.fc = nn.Linear(input_size, hidden_size)

    def input_current(self, x: Tensor) -> tuple[Tensor]:
        return (self.fc(x),)

    def step(self, drive: tuple[Tensor, ...], state: CellState) -> tuple[Tensor, CellState]:
        (current,) = drive
        u = state[0] + current
        spikes = self.spike(u - self.threshold)
        return spikes, (u - self.threshold * spikes, current)

    def scan_backward(self, record: ScanRecord, grads: CellState, grad_spikes: Tensor) -> ScanGradients:
        (current,) = record.drive
        surrogate = self.spike.grad(record.u_prev + current - self.threshold)
        g_u_hat, grad_c = grads
        g_current = torch.empty_like(current)
        for t in range(current.shape[0] - 1, -1, -1):
            g_u = g_u_hat * (1.0 - self.threshold * surrogate[t]) + grad_spikes[t] * surrogate[t]
            g_current[t] = g_u
            g_u_hat = g_u * record.keep[t] if record.keep is not None else g_u
        g_current[-1] += grad_c
        return ScanGradients((), g_u_hat, torch.zeros_like(grad_c), (g_current,))


def _if_reference(cell: IntegrateAndFireCell, x: Tensor, u0: Tensor, starts: Tensor) -> Tensor:
    """Per-step autograd loop of the toy cell's equations, with a differentiable arctan surrogate."""
    alpha = cell.spike.sharpness

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v: Tensor) -> Tensor:
            ctx.save_for_backward(v)
            return (v > 0).to(v.dtype)

        @staticmethod
        def backward(ctx, grad: Tensor) -> Tensor:
            (v,) = ctx.saved_tensors
            return grad * alpha / (2.0 * (1.0 + (torch.pi / 2.0 * alpha * v) ** 2))

    u_hat, outputs = u0, []
    for t in range(x.shape[0]):
        u_hat = u_hat * (1.0 - starts[t]).unsqueeze(-1)
        u = u_hat + x[t] @ cell.fc.weight.T + cell.fc.bias
        s = Spike.apply(u - cell.threshold)
        u_hat = u - cell.threshold * s
        outputs.append(s)
    return torch.stack(outputs)


@pytest.fixture
def toy_core():
    register_core("toy_if", partial(SpikingRecurrent, cell=IntegrateAndFireCell))
    yield "toy_if"
    del CORES["toy_if"]


def test_new_cell_scan_matches_its_per_step_reference(toy_core: str) -> None:
    torch.manual_seed(0)
    core = make_core(toy_core, 3, 5).double()
    x = (2.0 * torch.randn(12, 4, 3, dtype=torch.float64)).requires_grad_()
    starts = torch.zeros(12, 4, dtype=torch.float64)
    starts[5, 1] = 1.0
    u0 = torch.randn(1, 4, 5, dtype=torch.float64).requires_grad_()
    weights = torch.randn(12, 4, 5, dtype=torch.float64)
    out, _ = core(x, (u0, torch.zeros_like(u0)), starts)
    ref = _if_reference(core.cells[0], x, u0[0], starts)
    torch.testing.assert_close(out, ref)
    assert 0.05 < out.mean().item() < 0.95
    params = [x, u0, *core.parameters()]
    grads = torch.autograd.grad((out * weights).sum(), params)
    ref_grads = torch.autograd.grad((ref * weights).sum(), params)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)


def test_gru_core_resets_like_a_per_step_gru_cell() -> None:
    torch.manual_seed(0)
    core = GRUCore(3, 4)
    cell = nn.GRUCell(3, 4)
    cell.load_state_dict({k[:-3]: v for k, v in core.gru.state_dict().items()})  # weight_ih_l0 -> weight_ih
    x, h0 = torch.randn(7, 2, 3), torch.randn(1, 2, 4)
    starts = torch.zeros(7, 2)
    starts[3, 0] = starts[0, 1] = 1.0
    out, (h,) = core(x, (h0,), starts)
    ref_h, ref_out = h0[0], []
    for t in range(7):
        ref_h = cell(x[t], ref_h * (1.0 - starts[t]).unsqueeze(-1))
        ref_out.append(ref_h)
    torch.testing.assert_close(out, torch.stack(ref_out))
    torch.testing.assert_close(h[0], ref_h)
    only_first = torch.zeros(7, 2)
    only_first[0] = 1.0  # the single-call path
    torch.testing.assert_close(core(x, (h0,), only_first)[0], core(x)[0])


def test_mlp_core_is_memoryless() -> None:
    torch.manual_seed(0)
    core = MLPCore(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    out, state = core(x, core.initial_state(2), torch.ones(5, 2))
    first, second = core.net[0], core.net[2]
    torch.testing.assert_close(out, torch.relu(second(torch.relu(first(x)))))
    assert state == ()


def test_make_core_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"unknown core 'lstm'.*'grsn'"):
        make_core("lstm", 3, 4)
    with pytest.raises(ValueError, match=r"\['surrogate'\].*allowed: \['num_layers'\]"):
        make_core("gru", 3, 4, surrogate="arctan")
    with pytest.raises(TypeError, match="hidden_size"):
        make_core("grsn", 3, "4")
    with pytest.raises(ValueError, match="num_layers"):
        make_core("gru", 3, 4, num_layers=0)
    with pytest.raises(TypeError, match="factory"):
        register_core("x", 3)


def _tensors(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items() if isinstance(v, Tensor)}


def _changed(before: dict[str, Tensor], after: dict[str, Tensor], part: str) -> list[str]:
    return [k for k, v in after.items() if part in k and not torch.equal(v, before[k])]


def test_new_cell_trains_through_recurrent_td3(toy_core: str) -> None:
    model = sb3_spiking.RecurrentTD3(
        "GRSNPolicy",
        "Pendulum-P-v0",
        policy_kwargs=dict(core=toy_core, hidden_size=8, net_arch=[8], core_kwargs={"threshold": 0.5}),
        learning_starts=20,
        seq_len=5,
        batch_size=4,
        buffer_size=500,
        seed=0,
    )
    cells = [m for m in model.policy.modules() if isinstance(m, IntegrateAndFireCell)]
    assert len(cells) >= 3 and all(c.threshold == 0.5 for c in cells)  # actor and both critics (and targets)
    before = _tensors(model.policy)
    model.learn(40)
    assert _changed(before, _tensors(model.policy), "cells.0.fc.weight")


def test_new_cell_trains_through_qmix(toy_core: str) -> None:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=2, max_cycles=5)
    model = sb3_spiking.marl.QMIX(toy_core, env, batch_size=2, buffer_size=50, exploration_steps=20, seed=0)
    cells = [m for m in model.policy.modules() if isinstance(m, IntegrateAndFireCell)]
    assert cells
    before = _tensors(model.policy)
    model.learn(30)
    assert _changed(before, _tensors(model.policy), "cells.0.fc.weight")
