"""
The fast paths of the recurrent off-policy updates against the straightforward implementation written here: one
RecurrentTD3 / RecurrentDQN update on a fixed batch (losses and gradients) against networks run step by step with
plain autograd; cores scanned as one batch against one by one; polyak and the multi-tensor optimizer against SB3's
and PyTorch's defaults.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3.common.utils import polyak_update
from torch import Tensor, nn
from torch.nn import functional as F

import sb3_spiking
from sb3_spiking.algos.recurrent_off_policy import SequenceNetwork, polyak
from sb3_spiking.snn.cores import GRUCore, make_core, run_cores
from sb3_spiking.snn.neurons import GRSNCell
from sb3_spiking.snn.recurrent import SpikingRecurrent, stackable

SMALL = dict(learning_starts=30, seq_len=6, batch_size=3, buffer_size=1000, seed=0)
POLICY = dict(hidden_size=16, net_arch=[16], core_kwargs=None)


class _Spike(torch.autograd.Function):
    """Heaviside forward, the surrogate's derivative backward (seed 003, Eq. 4-6)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: Any) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.grad(x), None


def _core_reference(core: nn.Module, x: Tensor, state: tuple[Tensor, ...] | None, starts: Tensor | None) -> tuple:
    """A core one step at a time with plain autograd: the equations of seed 003 (Eq. 1-4, 12-14), or nn.GRU."""
    steps, batch = x.shape[:2]
    keep = x.new_ones(steps, batch, 1) if starts is None else (1.0 - starts).unsqueeze(-1)
    if isinstance(core, GRUCore):
        (h,) = state if state is not None else (x.new_zeros(1, batch, core.hidden_size),)
        outputs = []
        for t in range(steps):
            out, h = core.gru(x[t : t + 1], h * keep[t])
            outputs.append(out[0])
        return torch.stack(outputs), (h,)
    layer_input, final_u, final_c = x, [], []
    for layer, cell in enumerate(core.cells):
        u_hat = state[0][layer] if state is not None else x.new_zeros(batch, cell.hidden_size)
        c = state[1][layer] if state is not None else x.new_zeros(batch, cell.hidden_size)
        outputs = []
        for t in range(steps):
            u_hat, c = u_hat * keep[t], c * keep[t]
            if isinstance(cell, GRSNCell):
                f = torch.sigmoid(layer_input[t] @ cell.forget_gate.weight.T + cell.forget_gate.bias)  # Eq. 14
                j = torch.relu(layer_input[t] @ cell.input_gate.weight.T + cell.input_gate.bias)  # Eq. 14
                c = f * c + (1.0 - f) * j  # Eq. 13
                beta = torch.sigmoid(cell.beta_logit)
            else:
                c = layer_input[t] @ cell.fc.weight.T + cell.fc.bias  # Eq. 2
                beta = cell.beta
            u = beta * u_hat + (1.0 - beta) * c  # Eq. 1
            s = _Spike.apply(u - cell.threshold, cell.spike)  # Eq. 4
            if isinstance(cell, GRSNCell):
                u_hat = u - cell.threshold * s  # Eq. 12
            else:
                u_hat = cell.reset_potential * s + (1.0 - s) * u  # Eq. 3
            outputs.append(s)
        layer_input = torch.stack(outputs)
        final_u.append(u_hat)
        final_c.append(c)
    return layer_input, (torch.stack(final_u), torch.stack(final_c))


def _features(net: SequenceNetwork, obs: Tensor, state: tuple | None = None, starts: Tensor | None = None) -> tuple:
    """[core output, observation embedding] of a sequence network: three embeddings, their concatenation, the core."""
    o, a, r = obs[..., : net.obs_dim], obs[..., net.obs_dim : net.obs_dim + net.prev_action_dim], obs[..., -1:]
    obs_emb = net.obs_embedding(o)
    x = torch.cat([obs_emb, net.action_embedding(a), net.reward_embedding(r)], dim=-1)
    out, state = _core_reference(net.core, x, state, starts)
    return torch.cat([out, obs_emb], dim=-1), state


def _warm(net: SequenceNetwork, burn_in: Any) -> tuple | None:
    with torch.no_grad():
        _, state = _features(net, burn_in.observations, None, burn_in.episode_starts)
    return tuple(s * burn_in.warm[None, :, None] for s in state)


def _grads(loss: Tensor, module: nn.Module) -> dict[str, Tensor]:
    params = dict(module.named_parameters())
    return dict(zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True), strict=True))


def _assert_grads(module: nn.Module, expected: dict[str, Tensor | None]) -> None:
    for name, param in module.named_parameters():
        if expected[name] is None:
            assert param.grad is None or not param.grad.any(), name
        else:
            torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("core", ["grsn", "lif", "gru"])
def test_td3_update_matches_straightforward_implementation(core: str) -> None:
    policy_kwargs = dict(POLICY, core=core, core_kwargs=None if core == "gru" else dict(input_bias=1.0))
    model = sb3_spiking.RecurrentTD3(
        "GRSNPolicy",
        "Pendulum-P-v0",
        policy_kwargs=policy_kwargs,
        burn_in=2,
        policy_delay=1,
        target_policy_noise=0.0,  # the target actions without noise: no random draw inside train()
        gamma=0.8,
        **SMALL,
    )
    model.learn(40)
    # sequences without burn-in, starting inside the burn-in window, and with a whole burn-in
    data = model.replay_buffer._get_samples(np.array([0, 1, model.replay_buffer.size() - 1]))
    model.replay_buffer.sample = lambda *_args, **_kwargs: data
    burn_in, trained = data.split_burn_in(2)
    assert data.burn_in_steps.tolist() == [0, 1, 2]
    actor, actor_target = copy.deepcopy(model.actor), copy.deepcopy(model.actor_target)
    critic, critic_target = copy.deepcopy(model.critic), copy.deepcopy(model.critic_target)
    model.train(1, 3)

    obs, mask = trained.observations, trained.mask
    with torch.no_grad():
        features, _ = _features(actor_target, obs, _warm(actor_target, burn_in))
        next_actions = actor_target.head(features).clamp(-1.0, 1.0)
        next_qs = []
        for net in critic_target.q_networks:
            features, _ = _features(net, obs, _warm(net, burn_in))
            next_qs.append(net.head(torch.cat([features, next_actions], dim=-1))[..., 0])
        next_q = torch.minimum(*next_qs)[1:]
        target_q = trained.rewards + 0.8 * (1.0 - trained.terminated) * next_q
    critic_loss = 0.0
    for net in critic.q_networks:
        features, _ = _features(net, obs[:-1], _warm(net, burn_in))
        q = net.head(torch.cat([features, trained.actions], dim=-1))[..., 0]
        critic_loss = critic_loss + ((q - target_q) ** 2 * mask).sum() / mask.sum()
    assert model.logger.name_to_value["train/critic_loss"] == pytest.approx(critic_loss.item(), rel=1e-5)
    _assert_grads(model.critic, _grads(critic_loss, critic))

    q1 = model.critic.q_networks[0]  # after the critic step; the actor step leaves it unchanged
    features, _ = _features(actor, obs[:-1], _warm(actor, burn_in))
    actions = actor.head(features)
    with torch.no_grad():
        q1_features, _ = _features(q1, obs[:-1], _warm(q1, burn_in))
    actor_loss = -(q1.head(torch.cat([q1_features, actions], dim=-1))[..., 0] * mask).sum() / mask.sum()
    assert model.logger.name_to_value["train/actor_loss"] == pytest.approx(actor_loss.item(), rel=1e-5)
    _assert_grads(model.actor, _grads(actor_loss, actor))


@pytest.mark.parametrize("core", ["grsn", "gru"])
def test_dqn_update_matches_straightforward_implementation(core: str) -> None:
    policy_kwargs = dict(POLICY, core=core, core_kwargs=None if core == "gru" else dict(input_bias=1.0))
    model = sb3_spiking.RecurrentDQN(
        "GRSNPolicy", "CartPole-P-v0", policy_kwargs=policy_kwargs, burn_in=2, gamma=0.8, max_grad_norm=1e9, **SMALL
    )
    model.learn(40)
    data = model.replay_buffer._get_samples(np.array([0, 1, model.replay_buffer.size() - 1]))
    model.replay_buffer.sample = lambda *_args, **_kwargs: data
    burn_in, trained = data.split_burn_in(2)
    q_net, q_target = copy.deepcopy(model.q_net), copy.deepcopy(model.q_net_target)
    model.train(1, 3)

    features, _ = _features(q_net, trained.observations, _warm(q_net, burn_in))
    q_values = q_net.head(features)
    with torch.no_grad():
        target_features, _ = _features(q_target, trained.observations, _warm(q_target, burn_in))
        best = q_values[1:].argmax(dim=-1, keepdim=True)
        next_q = q_target.head(target_features)[1:].gather(-1, best)[..., 0]
        target_q = trained.rewards + 0.8 * (1.0 - trained.terminated) * next_q
    current_q = q_values[:-1].gather(-1, trained.actions.long())[..., 0]
    loss = (F.smooth_l1_loss(current_q, target_q, reduction="none") * trained.mask).sum() / trained.mask.sum()
    assert model.logger.name_to_value["train/loss"] == pytest.approx(loss.item(), rel=1e-5)
    _assert_grads(model.q_net, _grads(loss, q_net))


def _spiking_cores(cell: str, input_sizes: list[int], **kwargs: Any) -> list[SpikingRecurrent]:
    """Two-layer cores with strong input weights: both layers fire at a moderate rate."""
    torch.manual_seed(0)
    cores = [SpikingRecurrent(n, 9, num_layers=2, cell=cell, input_bias=1.0, **kwargs).double() for n in input_sizes]
    with torch.no_grad():
        for core in cores:
            for p in core.parameters():
                if p.dim() == 2:
                    p.mul_(4.0)
    return cores


@pytest.mark.parametrize("cell", ["grsn", "lif"])
@pytest.mark.parametrize("starts", ["none", "first step", "inside"])
def test_cores_scanned_as_one_batch_equal_one_by_one(cell: str, starts: str) -> None:
    cores = _spiking_cores(cell, [6, 4, 6])
    assert stackable(cores)
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(12, 5, c.input_size, dtype=torch.float64, generator=gen).requires_grad_() for c in cores]
    states = [(0.5 * torch.randn(2, 5, 9, dtype=torch.float64, generator=gen)).requires_grad_() for _ in cores]
    states = [(u, torch.randn(2, 5, 9, dtype=torch.float64, generator=gen).requires_grad_()) for u in states]
    episode_starts = {
        "none": None,
        "first step": torch.cat([torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0]]), torch.zeros(11, 5)]).double(),
        "inside": (torch.rand(12, 5, generator=gen) < 0.2).double(),
    }[starts]
    weights = torch.randn(12, 5, 9, dtype=torch.float64, generator=gen)
    inputs = [*xs, *(s for state in states for s in state), *(p for c in cores for p in c.parameters())]

    def loss(results: list) -> Tensor:
        return sum((out * weights).sum() + 0.3 * u.sum() + 0.7 * c.sum() for out, (u, c) in results)

    together = run_cores(cores, xs, states, episode_starts)
    one_by_one = [_core_reference(core, x, s, episode_starts) for core, x, s in zip(cores, xs, states, strict=True)]
    for (out, state), (ref_out, ref_state) in zip(together, one_by_one, strict=True):
        torch.testing.assert_close(out, ref_out)
        torch.testing.assert_close(state, ref_state)
    assert 0.05 < together[0][0].mean().item() < 0.95
    grads = torch.autograd.grad(loss(together), inputs, allow_unused=True)
    ref_grads = torch.autograd.grad(loss(one_by_one), inputs, allow_unused=True)
    for g, ref in zip(grads, ref_grads, strict=True):
        if ref is None:
            assert g is None or not g.any()
        else:
            torch.testing.assert_close(g, ref)


def test_cores_of_other_settings_run_one_by_one() -> None:
    grsn = _spiking_cores("grsn", [6, 6])
    sharper = _spiking_cores("grsn", [6])[0]
    sharper.cells[1].spike.sharpness = 5.0
    other_threshold = _spiking_cores("grsn", [6], threshold=0.8)[0]
    gru = make_core("gru", 6, 9).double()
    for cores in ([*grsn, sharper], [*grsn, other_threshold], [*grsn, gru], [*grsn, *_spiking_cores("lif", [6])]):
        assert not stackable(cores)
        x = torch.randn(7, 3, 6, dtype=torch.float64, requires_grad=True)
        together = run_cores(cores, [x] * len(cores))
        for core, (out, _) in zip(cores, together, strict=True):
            ref, _ = _core_reference(core, x, None, None)
            torch.testing.assert_close(out, ref)
            grad, ref_grad = (torch.autograd.grad(y.sum(), x)[0] for y in (out, ref))
            torch.testing.assert_close(grad, ref_grad)


def test_polyak_equals_sb3_polyak_update() -> None:
    torch.manual_seed(0)
    source, target = nn.Linear(5, 4), nn.Linear(5, 4)
    expected = copy.deepcopy(target)
    polyak_update(source.parameters(), expected.parameters(), 0.3)
    polyak(source.parameters(), target.parameters(), 0.3)
    for p, ref in zip(target.parameters(), expected.parameters(), strict=True):
        assert torch.equal(p, ref)


def test_multi_tensor_optimizer_gives_the_plain_updates() -> None:
    model = sb3_spiking.RecurrentDQN("GRSNPolicy", "CartPole-P-v0", policy_kwargs=POLICY, **SMALL)
    assert model.policy.optimizer.param_groups[0]["foreach"] is True
    plain = copy.deepcopy(model.q_net)
    optimizer = torch.optim.Adam(plain.parameters(), lr=model.learning_rate)  # PyTorch's choice: a loop on CPU
    size = (6, 4, model.observation_space.shape[0])
    x = torch.from_numpy(np.random.default_rng(0).normal(size=size).astype(np.float32))
    for net, opt in ((model.q_net, model.policy.optimizer), (plain, optimizer)):
        for _ in range(3):
            opt.zero_grad()
            (net(x)[0] ** 2).mean().backward()
            opt.step()
    for p, ref in zip(model.q_net.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, ref)
    custom = sb3_spiking.RecurrentDQN(
        "GRSNPolicy", "CartPole-P-v0", policy_kwargs=dict(POLICY, optimizer_kwargs=dict(foreach=False)), **SMALL
    )
    assert custom.policy.optimizer.param_groups[0]["foreach"] is False
