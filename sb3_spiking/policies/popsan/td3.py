"""
Population-coded spiking actor for TD3 / DDPG (seed 000, section II): ``TD3("SpikingPopPolicy", env)``,
deterministic spiking actor (Pop-SAN, or MDC-SAN with ``neuron="dynamic"``) and SB3's MLP critics.

Observations should be z-scored and clipped to [-3, 3] (``VecNormalize(norm_obs=True, clip_obs=3.0)``),
the range the encoder's receptive fields cover by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.td3.policies import TD3Policy
from torch import Tensor, nn

from sb3_spiking.policies.compile import maybe_compile
from sb3_spiking.policies.popsan.config import PopSANConfig
from sb3_spiking.policies.popsan.network import PopSpikingNetwork
from sb3_spiking.snn.extra_state import ExtraStateMixin
from sb3_spiking.validation import check_bool, check_finite_observation, check_sizes


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """
    Refuse the spaces the spiking actor cannot handle.

    :param observation_space: must be a Box
    :param action_space: must be a Box
    """
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"SpikingPopPolicy needs a continuous Box action space, got {action_space}")
    if not isinstance(observation_space, spaces.Box):
        raise ValueError(f"SpikingPopPolicy needs a Box observation space, got {observation_space}")


def critic_arch(net_arch: list[int] | dict[str, list[int]] | None) -> list[int]:
    """
    The critic's hidden sizes from ``net_arch``.

    :param net_arch: ``None`` (``[256, 256]``), a list of sizes or ``dict(qf=[...])``; the spiking actor's sizes are
        ``hidden_sizes``
    :return: the critic's hidden sizes
    """
    if net_arch is None:
        return [256, 256]
    if isinstance(net_arch, dict):
        if set(net_arch) != {"qf"}:
            raise ValueError(
                f"net_arch only sets the critic (a list or dict(qf=[...])); the spiking actor uses hidden_sizes. "
                f"Got {net_arch}"
            )
        return check_sizes("net_arch['qf']", net_arch["qf"])
    return check_sizes("net_arch", net_arch)


def as_config(config: PopSANConfig | Mapping[str, Any]) -> PopSANConfig:
    """
    :param config: a config or its settings as plain values (``PopSANConfig.as_kwargs()``)
    :return: the config
    """
    return config if isinstance(config, PopSANConfig) else PopSANConfig.from_kwargs(config)


class PopSpikingActor(BasePolicy):
    """
    Deterministic spiking actor for TD3 / DDPG: ``tanh`` of the population readout (SB3 rescales it to the
    action bounds).

    :param observation_space: observation space
    :param action_space: action space
    :param features_extractor: flattens the observation
    :param features_dim: observation size after flattening
    :param config: the spiking settings
    :param normalize_images: SB3's image flag (unused for Box vectors)
    :param compile_network: run the spiking network through ``torch.compile`` (compiled on first use)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        features_extractor: nn.Module,
        features_dim: int,
        config: PopSANConfig | Mapping[str, Any],
        normalize_images: bool = True,
        compile_network: bool = False,
        **_unused: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )
        self.features_dim = features_dim
        self.config = as_config(config)
        self.compile_network = check_bool("compile_network", compile_network)
        self.net = PopSpikingNetwork(features_dim, get_action_dim(action_space), self.config)
        self.run_net = maybe_compile(self.net.forward, self.compile_network)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features_dim=self.features_dim,
            features_extractor=self.features_extractor,
            config=self.config.as_kwargs(),
            compile_network=self.compile_network,
        )
        return data

    def forward(self, obs: Tensor) -> Tensor:
        check_finite_observation(obs)
        return torch.tanh(self.run_net(self.extract_features(obs, self.features_extractor)))

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> Tensor:
        with torch.inference_mode():
            return self(observation)


class SpikingPopPolicy(ExtraStateMixin, TD3Policy):
    """
    TD3 / DDPG policy with a population-coded spiking actor (Pop-SAN, or MDC-SAN with ``neuron="dynamic"``)
    and SB3's MLP critics.

    :param observation_space: observation space (Box)
    :param action_space: action space (Box)
    :param lr_schedule: learning rate schedule
    :param net_arch: critic sizes (default [256, 256]); a list or ``dict(qf=[...])``
    :param activation_fn: critic activation
    :param features_extractor_class: features extractor (flattening)
    :param features_extractor_kwargs: its keyword arguments
    :param normalize_images: SB3's image flag
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer keyword arguments, excluding the learning rate
    :param n_critics: number of critics
    :param share_features_extractor: must stay False (the spiking actor has no shared features)
    :param compile_network: ``torch.compile`` the spiking network (off by default: about a minute of compilation
        on CPU, pays off in long trainings)
    :param spiking_kwargs: the spiking settings, the fields of :class:`PopSANConfig` (``neuron``, ``encoder``,
        ``spike_ts``, ``encoder_pop_dim``, ``decoder_pop_dim``, ``mean_range``, ``encoder_std``, ``hidden_sizes``,
        ``surrogate``, ``current_decay``, ``voltage_decay``, ``threshold``, ``dynamic_params``)
    """

    actor: PopSpikingActor
    actor_target: PopSpikingActor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        compile_network: bool = False,
        **spiking_kwargs: Any,
    ) -> None:
        check_spaces(observation_space, action_space)
        self.config = PopSANConfig.from_kwargs(spiking_kwargs)
        self.compile_network = check_bool("compile_network", compile_network)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            critic_arch(net_arch),
            activation_fn,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
            n_critics,
            share_features_extractor,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self.config.as_kwargs(), compile_network=self.compile_network)
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> PopSpikingActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return PopSpikingActor(**actor_kwargs, config=self.config, compile_network=self.compile_network).to(self.device)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> Tensor:
        if torch.is_grad_enabled():  # not from predict (SB3 runs it under no_grad): keep tensors autograd can use
            return super()._predict(observation, deterministic)
        with torch.inference_mode():  # no version counters or views tracked: about 10 % off a batch-1 predict
            return super()._predict(observation, deterministic)
