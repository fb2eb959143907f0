"""
Population-coded spiking actor for SAC (seed 000, section II): ``SAC("SpikingPopPolicy", env)``, the spiking
network gives the Gaussian mean, a small non-spiking MLP the log-std (as Pop-SAN's SAC), SB3's MLP critics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, SACPolicy
from torch import Tensor, nn

from sb3_spiking.policies.compile import maybe_compile
from sb3_spiking.policies.popsan.config import PopSANConfig
from sb3_spiking.policies.popsan.network import PopSpikingNetwork
from sb3_spiking.policies.popsan.td3 import as_config, check_spaces, critic_arch
from sb3_spiking.snn.extra_state import ExtraStateMixin
from sb3_spiking.validation import check_bool, check_finite_observation, check_sizes


class PopSpikingSACActor(BasePolicy):
    """
    SAC actor: the spiking network gives the Gaussian mean (before tanh squashing), a small non-spiking
    MLP gives the log-std, clamped to SB3's bounds.

    :param observation_space: observation space
    :param action_space: action space
    :param features_extractor: flattens the observation
    :param features_dim: observation size after flattening
    :param config: the spiking settings
    :param log_std_hidden_sizes: hidden sizes of the log-std MLP
    :param normalize_images: SB3's image flag
    :param compile_network: run the spiking network through ``torch.compile`` (compiled on first use)
    """

    action_space: spaces.Box

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        features_extractor: nn.Module,
        features_dim: int,
        config: PopSANConfig | Mapping[str, Any],
        log_std_hidden_sizes: list[int],
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
        action_dim = get_action_dim(action_space)
        self.features_dim = features_dim
        self.config = as_config(config)
        self.log_std_hidden_sizes = check_sizes("log_std_hidden_sizes", log_std_hidden_sizes)
        self.compile_network = check_bool("compile_network", compile_network)
        self.net = PopSpikingNetwork(features_dim, action_dim, self.config)
        self.run_net = maybe_compile(self.net.forward, self.compile_network)
        self.log_std = nn.Sequential(*create_mlp(features_dim, action_dim, self.log_std_hidden_sizes, nn.ReLU))
        self.action_dist = SquashedDiagGaussianDistribution(action_dim)
        self.use_sde = False

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features_dim=self.features_dim,
            features_extractor=self.features_extractor,
            config=self.config.as_kwargs(),
            log_std_hidden_sizes=self.log_std_hidden_sizes,
            compile_network=self.compile_network,
        )
        return data

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """
        :param obs: observations
        :return: mean, clamped log-std and (empty) extra arguments of the action distribution
        """
        check_finite_observation(obs)
        features = self.extract_features(obs, self.features_extractor)
        log_std = torch.clamp(self.log_std(features), LOG_STD_MIN, LOG_STD_MAX)
        return self.run_net(features), log_std, {}

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> Tensor:
        mean_actions, log_std, kwargs = self.get_action_dist_params(obs)
        return self.action_dist.actions_from_params(mean_actions, log_std, deterministic=deterministic, **kwargs)

    def action_log_prob(self, obs: PyTorchObs) -> tuple[Tensor, Tensor]:
        """Sampled (squashed) actions and their log-probabilities."""
        mean_actions, log_std, kwargs = self.get_action_dist_params(obs)
        return self.action_dist.log_prob_from_params(mean_actions, log_std, **kwargs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> Tensor:
        with torch.inference_mode():
            return self(observation, deterministic)


class SpikingPopSACPolicy(ExtraStateMixin, SACPolicy):
    """
    SAC policy with a population-coded spiking actor mean (registered on SAC as ``"SpikingPopPolicy"``).
    Same spiking settings as :class:`~sb3_spiking.policies.popsan.td3.SpikingPopPolicy`, plus
    ``log_std_hidden_sizes``; gSDE is not supported.

    :param observation_space: observation space (Box)
    :param action_space: action space (Box)
    :param lr_schedule: learning rate schedule
    :param net_arch: critic sizes (default [256, 256]); a list or ``dict(qf=[...])``
    :param activation_fn: critic activation
    :param log_std_hidden_sizes: hidden sizes of the non-spiking log-std MLP
    :param use_sde: must be False
    :param compile_network: ``torch.compile`` the spiking network
    :param kwargs: the spiking settings (the fields of :class:`PopSANConfig`) and SB3's ``SACPolicy`` arguments
    """

    actor: PopSpikingSACActor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        log_std_hidden_sizes: tuple[int, ...] | list[int] = (64, 64),
        use_sde: bool = False,
        compile_network: bool = False,
        **kwargs: Any,
    ) -> None:
        check_spaces(observation_space, action_space)
        if check_bool("use_sde", use_sde):
            raise ValueError("SpikingPopPolicy on SAC does not support gSDE (use_sde=False)")
        self.config = PopSANConfig.from_kwargs({k: kwargs.pop(k) for k in PopSANConfig.field_names() if k in kwargs})
        self.log_std_hidden_sizes = check_sizes("log_std_hidden_sizes", log_std_hidden_sizes)
        self.compile_network = check_bool("compile_network", compile_network)
        super().__init__(observation_space, action_space, lr_schedule, critic_arch(net_arch), activation_fn, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            self.config.as_kwargs(),
            log_std_hidden_sizes=self.log_std_hidden_sizes,
            compile_network=self.compile_network,
        )
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> PopSpikingSACActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return PopSpikingSACActor(
            **actor_kwargs,
            config=self.config,
            log_std_hidden_sizes=self.log_std_hidden_sizes,
            compile_network=self.compile_network,
        ).to(self.device)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> Tensor:
        if torch.is_grad_enabled():  # not from predict (SB3 runs it under no_grad): keep tensors autograd can use
            return super()._predict(observation, deterministic)
        with torch.inference_mode():  # no version counters or views tracked: about 10 % off a batch-1 predict
            return super()._predict(observation, deterministic)
