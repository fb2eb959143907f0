"""A model file loads only with the algorithm that made it: every other direction raises, naming that algorithm."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
from stable_baselines3 import DDPG, DQN, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_spiking
from sb3_spiking import DoubleDQN, RecurrentDQN, RecurrentTD3

TINY = dict(hidden_size=8, net_arch=[8])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    models = {
        "RecurrentTD3": RecurrentTD3("GRSNPolicy", "Pendulum-P-v0", policy_kwargs=TINY, seq_len=4),
        "RecurrentDQN": RecurrentDQN("GRSNPolicy", "CartPole-V-v0", policy_kwargs=TINY, seq_len=4),
        "TD3": TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])),
        "DQN": DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8])),
    }
    for name, model in models.items():
        model.save(folder / name)
    return {name: folder / f"{name}.zip" for name in models}


@pytest.mark.parametrize(
    "algo, made_by",
    [
        (TD3, "RecurrentTD3"),
        (DDPG, "RecurrentTD3"),
        (SAC, "RecurrentTD3"),
        (DQN, "RecurrentTD3"),
        (DQN, "RecurrentDQN"),
        (DoubleDQN, "RecurrentDQN"),
        (TD3, "RecurrentDQN"),
    ],
)
def test_sb3_algorithms_refuse_recurrent_files(algo: type[BaseAlgorithm], made_by: str, files: dict[str, Path]) -> None:
    with pytest.raises(TypeError, match=rf"sb3_spiking\.{made_by}\.load"):
        algo.load(files[made_by])


@pytest.mark.parametrize(
    "algo, made_by, policy, named",
    [
        (RecurrentTD3, "TD3", "TD3Policy", "DDPG.load / TD3.load"),
        (RecurrentDQN, "DQN", "DQNPolicy", "DQN.load / DoubleDQN.load"),
        (RecurrentTD3, "RecurrentDQN", "RecurrentDQNPolicy", r"sb3_spiking\.RecurrentDQN\.load"),
        (RecurrentDQN, "RecurrentTD3", "RecurrentTD3Policy", r"sb3_spiking\.RecurrentTD3\.load"),
    ],
)
def test_recurrent_algorithms_refuse_other_files(
    algo: type[BaseAlgorithm], made_by: str, policy: str, named: str, files: dict[str, Path]
) -> None:
    with pytest.raises(TypeError, match=rf"needs a .*Recurrent.*Policy.*got .*\.{policy}, .*{named}"):
        algo.load(files[made_by])


@pytest.mark.parametrize("algo, made_by", [(RecurrentTD3, "RecurrentTD3"), (RecurrentDQN, "RecurrentDQN")])
def test_own_files_still_load(algo: type[BaseAlgorithm], made_by: str, files: dict[str, Path]) -> None:
    model = algo.load(files[made_by])
    assert type(model) is algo and isinstance(model.policy, algo.policy_base)


def test_building_sb3_algorithms_with_recurrent_policies_fails_clearly() -> None:
    with pytest.raises(TypeError, match=r"sb3_spiking\.RecurrentTD3"):
        TD3(
            sb3_spiking.algos.recurrent_td3.RecurrentTD3Policy,
            sb3_spiking.envs.VecPrevActionReward(gym.make("Pendulum-P-v0")),
        )
    with pytest.raises(TypeError, match=r"needs a .*RecurrentTD3Policy"):
        RecurrentTD3(sb3_spiking.algos.recurrent_dqn.RecurrentDQNPolicy, "Pendulum-P-v0")


def test_target_networks_are_reached_through_network() -> None:
    model = RecurrentDQN("GRSNPolicy", "CartPole-V-v0", policy_kwargs=TINY, seq_len=4)
    assert model.q_net_target is model.policy.network("q_net_target")
    assert "q_net_target.head.0.weight" in model.policy.state_dict()  # file layout unchanged
    with pytest.raises(TypeError, match="q_net_target"):
        model.policy.q_net_target  # noqa: B018
