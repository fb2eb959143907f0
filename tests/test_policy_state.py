"""State outside the parameters survives save/load: scheduled surrogate sharpness, CVTC's inference mode."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from mpe2 import simple_spread_v3
from sb3_contrib import RecurrentPPO
from stable_baselines3 import DQN, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file
from torch import nn

import sb3_spiking
from sb3_spiking.snn import surrogate
from sb3_spiking.snn.extra_state import ExtraStateMixin
from sb3_spiking.snn.schedules import iter_surrogates, set_sharpness
from sb3_spiking.snn.temporal import CVTCLayer

ROOT = Path(__file__).resolve().parents[1]
# the Pendulum agent as shipped before policies/popsan.py became a package and before ExtraStateMixin
OLD_PENDULUM_ZIP = ROOT / "tests" / "data" / "td3-Pendulum-v1-before-0.2.zip"
POP = dict(hidden_sizes=[16], net_arch=[16], encoder_pop_dim=4, decoder_pop_dim=3)
RECURRENT = dict(core="grsn", hidden_size=16, net_arch=[16])
SMALL_REPLAY = dict(learning_starts=30, seq_len=6, batch_size=4, buffer_size=1000, seed=0)


def _inputs(n: int, dim: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, dim, generator=torch.Generator().manual_seed(0))


def _actor_grad_td3(model: BaseAlgorithm) -> torch.Tensor:
    return model.policy.actor(_inputs(64, 3))


def _actor_grad_sac(model: BaseAlgorithm) -> torch.Tensor:
    mean, log_std, _ = model.policy.actor.get_action_dist_params(_inputs(64, 3))
    return mean + log_std


def _actor_grad_ppo(model: BaseAlgorithm) -> torch.Tensor:
    policy = model.policy
    n_seq, seq_len = 8, 5
    obs = _inputs(n_seq * seq_len, policy.observation_space.shape[0], scale=2.0)
    zeros = torch.zeros(policy.lstm_hidden_state_shape[0], n_seq, policy.lstm_hidden_state_shape[2])
    distribution, _ = policy.get_distribution(obs, (zeros, zeros), torch.zeros(n_seq * seq_len))
    return distribution.distribution.probs[:, 0]


def _recurrent_obs(model: BaseAlgorithm) -> torch.Tensor:
    return _inputs(6 * 8, model.policy.observation_space.shape[0], scale=2.0).reshape(6, 8, -1)


def _actor_grad_recurrent_td3(model: BaseAlgorithm) -> torch.Tensor:
    return model.policy.actor(_recurrent_obs(model))[0]


def _q_grad_recurrent_dqn(model: BaseAlgorithm) -> torch.Tensor:
    return model.policy.q_net(_recurrent_obs(model))[0]


def _q_grad_qmix(model: BaseAlgorithm) -> torch.Tensor:
    return model.policy.agent_net(_inputs(6 * 4, model.policy.input_dim, scale=2.0).reshape(6, 4, -1))[0]


CASES: dict[str, tuple[Callable[[], BaseAlgorithm], Callable[[BaseAlgorithm], torch.Tensor]]] = {
    "td3": (lambda: TD3("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=dict(POP), seed=0), _actor_grad_td3),
    "sac": (lambda: SAC("SpikingPopPolicy", "Pendulum-v1", policy_kwargs=dict(POP), seed=0), _actor_grad_sac),
    "recurrent_ppo": (
        lambda: RecurrentPPO("GRSNPolicy", "CartPole-P-v0", n_steps=16, policy_kwargs=dict(lstm_hidden_size=16)),
        _actor_grad_ppo,
    ),
    "recurrent_td3": (
        lambda: sb3_spiking.RecurrentTD3("GRSNPolicy", "Pendulum-P-v0", policy_kwargs=dict(RECURRENT), **SMALL_REPLAY),
        _actor_grad_recurrent_td3,
    ),
    "recurrent_dqn": (
        lambda: sb3_spiking.RecurrentDQN("GRSNPolicy", "CartPole-V-v0", policy_kwargs=dict(RECURRENT), **SMALL_REPLAY),
        _q_grad_recurrent_dqn,
    ),
    "qmix": (
        lambda: sb3_spiking.marl.QMIX(
            "grsn", simple_spread_v3.parallel_env(N=2, max_cycles=5), agent_kwargs={"hidden_dim": 16}, seed=0
        ),
        _q_grad_qmix,
    ),
}


def _grads(model: BaseAlgorithm, output: Callable[[BaseAlgorithm], torch.Tensor]) -> list[torch.Tensor]:
    """Gradient of the summed output with respect to every parameter (zeros where it does not reach)."""
    params = [p for p in model.policy.parameters() if p.requires_grad]
    grads = torch.autograd.grad(output(model).sum(), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_scheduled_sharpness_survives_save_load(case: str, tmp_path: Path) -> None:
    make_model, output = CASES[case]
    model = make_model()
    default = [s.to_dict() for s in iter_surrogates(model.policy)]
    assert default and all(s["name"] == default[0]["name"] for s in default)
    default_sharpness = next(iter_surrogates(model.policy)).sharpness
    assert set_sharpness(model.policy, 8.0) == len(default) and default_sharpness != 8.0
    model.save(tmp_path / "model")

    loaded = type(model).load(tmp_path / "model", device="cpu")
    assert [s.sharpness for s in iter_surrogates(loaded.policy)] == pytest.approx([8.0] * len(default))
    assert [s.to_dict() for s in iter_surrogates(loaded.policy)] == [s.to_dict() for s in iter_surrogates(model.policy)]
    expected = _grads(model, output)
    assert sum(float(g.abs().sum()) for g in expected) > 0
    for got, want in zip(_grads(loaded, output), expected, strict=True):
        torch.testing.assert_close(got, want)
    # the check can fail: at the constructor's sharpness the same weights give other gradients
    set_sharpness(loaded.policy, default_sharpness)
    assert any(not torch.allclose(g, w) for g, w in zip(_grads(loaded, output), expected, strict=True))


def _cvtc_layers(policy: nn.Module) -> list[CVTCLayer]:
    return [m for m in policy.modules() if isinstance(m, CVTCLayer)]


def test_cvtc_inference_mode_survives_save_load(tmp_path: Path) -> None:
    kwargs = dict(hidden_sizes=[8], gains=[20.0, 2.0, 20.0, 2.0], beta=0.05, init="normal", init_mean=3.0)
    model = DQN("CVTCPolicy", "CartPole-v1", policy_kwargs=kwargs, seed=0)
    assert list(iter_surrogates(model.policy)) == []  # CVTC's gradients are exact: no surrogate to schedule
    obs = _inputs(32, 4, scale=0.5)
    q_cvtc = model.policy.q_net(obs).detach()
    model.policy.set_inference_mode("if")
    q_if = model.policy.q_net(obs).detach()
    assert not torch.allclose(q_if, q_cvtc)
    model.save(tmp_path / "model")

    loaded = DQN.load(tmp_path / "model", device="cpu")
    assert loaded.policy.inference_mode == "if"
    assert [layer.beta for layer in _cvtc_layers(loaded.policy)] == [0.0] * len(_cvtc_layers(model.policy))
    torch.testing.assert_close(loaded.policy.q_net(obs), q_if)
    torch.testing.assert_close(loaded.policy.q_net_target(obs), model.policy.q_net_target(obs))
    loaded.policy.set_inference_mode("cvtc")
    torch.testing.assert_close(loaded.policy.q_net(obs), q_cvtc)

    model.policy.set_inference_mode("cvtc")  # and back: a model saved in the training mode loads in it
    model.save(tmp_path / "model_cvtc")
    assert DQN.load(tmp_path / "model_cvtc").policy.inference_mode == "cvtc"


def test_zip_saved_before_the_extra_state_still_loads() -> None:
    _, params, _ = load_from_zip_file(OLD_PENDULUM_ZIP, device="cpu")
    assert params["policy"] and not any(key.endswith("_extra_state") for key in params["policy"])
    model = TD3.load(OLD_PENDULUM_ZIP, device="cpu")  # strict (exact_match=True)
    state = model.policy.state_dict()
    for key, value in params["policy"].items():
        assert torch.equal(state[key], value), key
    spec = model.policy_kwargs.get("surrogate", "rectangular")
    built = surrogate.make(spec).to_dict()
    assert [s.to_dict() for s in iter_surrogates(model.policy)] == [built] * len(list(iter_surrogates(model.policy)))


class TwoSpikingLayers(ExtraStateMixin, nn.Module):
    """A pure-torch module with two surrogates and a saved mode."""

    saved_modes = ("mode",)

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(2, 2)
        self.first.spike = surrogate.make("fast_sigmoid", k=25.0)
        self.second = nn.Linear(2, 2)
        self.second.spike = surrogate.make("trapezoidal")
        self.mode = "train"

    def set_mode(self, mode: str) -> None:
        self.mode = mode


def test_mixin_round_trip_through_weights_only_load() -> None:
    net = TwoSpikingLayers()
    net.first.spike.sharpness = 3.0
    net.second.spike.sharpness = 8.0
    net.set_mode("deploy")
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    fresh = TwoSpikingLayers()
    fresh.load_state_dict(state)  # strict
    assert fresh.first.spike.k == 3.0  # each layer gets its own value back, in order
    assert (fresh.second.spike.w1, fresh.second.spike.w2) == pytest.approx((0.0625, 0.125))
    assert fresh.mode == "deploy"
    torch.testing.assert_close(fresh.second.weight, net.second.weight)


def test_mixin_keeps_current_state_when_the_entry_is_missing() -> None:
    net = TwoSpikingLayers()
    old = {key: value for key, value in net.state_dict().items() if not key.endswith("_extra_state")}
    fresh = TwoSpikingLayers()
    fresh.first.spike.sharpness = 5.0
    result = fresh.load_state_dict(old, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert fresh.first.spike.k == 5.0 and fresh.mode == "train"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.update(surrogates=s["surrogates"][:1]), "holds 1 surrogates"),
        (lambda s: s["surrogates"].reverse(), "'fast_sigmoid' surrogate"),
        (lambda s: s.update(modes={"speed": 2}), "unknown"),
        (lambda s: s.pop("modes"), "keys"),
    ],
)
def test_mixin_refuses_a_state_of_another_network(edit: Callable[[dict], None], match: str) -> None:
    state = TwoSpikingLayers().state_dict()
    edit(state["_extra_state"])
    with pytest.raises(ValueError, match=match):
        TwoSpikingLayers().load_state_dict(state)
