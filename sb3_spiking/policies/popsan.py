"""
Population-coded spiking actors for SB3's off-policy algorithms: Pop-SAN (current-based LIF neurons) and
MDC-SAN (2nd-order dynamic neurons), seed 000 section II.

``TD3("SpikingPopPolicy", env)`` / ``DDPG(...)``: deterministic spiking actor, SB3's MLP critics.
``SAC("SpikingPopPolicy", env)``: spiking mean, log-std from a small non-spiking MLP (as Pop-SAN's SAC).
Observations should be z-scored and clipped to [-3, 3] (``VecNormalize(norm_obs=True, clip_obs=3.0)``),
the range the encoder's receptive fields cover by default.
"""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, SACPolicy
from stable_baselines3.td3 import TD3
from stable_baselines3.td3.policies import TD3Policy
from torch import Tensor, nn

from sb3_spiking.policies.compile import maybe_compile
from sb3_spiking.snn.coding import PopulationDecoder, PopulationEncoder
from sb3_spiking.snn.neurons import CurrentLIF, DynamicNeuron
from sb3_spiking.snn.surrogate import SurrogateLike, make

NEURONS: dict[str, type[nn.Module]] = {"lif": CurrentLIF, "dynamic": DynamicNeuron}
DEFAULT_ENCODER = {"lif": "deterministic", "dynamic": "real"}
DYNAMIC_PARAMS = ("theta_v", "theta_u", "theta_r", "theta_s", "u_sign")


class PopSpikingNetwork(nn.Module):
    """
    Encoder -> spiking layers (T steps, state reset per observation) -> decoder, returning the
    pre-squashing action readout. Layer-major: each layer's synaptic input for all T steps is one matmul.

    :param obs_dim: observation size
    :param act_dim: action size
    :param neuron: ``"lif"`` (Pop-SAN) or ``"dynamic"`` (MDC-SAN)
    :param encoder: ``"deterministic"``, ``"bernoulli"`` or ``"real"``; ``None`` picks the neuron's default
        (deterministic for lif, real for dynamic)
    :param spike_ts: timesteps T per observation
    :param encoder_pop_dim: encoder neurons per observation dimension
    :param decoder_pop_dim: output neurons per action dimension
    :param mean_range: initial span of the encoder's receptive field centres
    :param encoder_std: initial receptive field width
    :param hidden_sizes: sizes of the hidden spiking layers
    :param surrogate: surrogate spike function (name, dict or instance); each layer gets its own copy
    :param current_decay: ``d_c`` of both neuron types
    :param voltage_decay: ``d_v`` of the LIF neuron
    :param threshold: firing threshold of both neuron types
    :param dynamic_params: ``theta_v``, ``theta_u``, ``theta_r``, ``theta_s``, ``u_sign`` of the dynamic neuron
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        neuron: str = "lif",
        encoder: str | None = None,
        spike_ts: int = 5,
        encoder_pop_dim: int = 10,
        decoder_pop_dim: int = 10,
        mean_range: tuple[float, float] = (-3.0, 3.0),
        encoder_std: float = 0.15**0.5,
        hidden_sizes: tuple[int, ...] | list[int] = (256, 256),
        surrogate: SurrogateLike = "rectangular",
        current_decay: float = 0.5,
        voltage_decay: float = 0.75,
        threshold: float = 0.5,
        dynamic_params: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        if neuron not in NEURONS:
            raise ValueError(f"unknown neuron {neuron!r}; allowed: {list(NEURONS)}")
        if len(hidden_sizes) == 0 or any(int(h) < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be a non-empty list of positive ints, got {hidden_sizes}")
        dynamic_params = dict(dynamic_params or {})
        unknown = set(dynamic_params) - set(DYNAMIC_PARAMS)
        if unknown or (dynamic_params and neuron != "dynamic"):
            raise ValueError(f"dynamic_params (only for neuron='dynamic') takes keys {DYNAMIC_PARAMS}, got {unknown}")
        self.encoder = PopulationEncoder(
            obs_dim, encoder_pop_dim, spike_ts, encoder or DEFAULT_ENCODER[neuron], mean_range, encoder_std
        )
        sizes = [self.encoder.num_neurons, *(int(h) for h in hidden_sizes), act_dim * decoder_pop_dim]
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes))
        if neuron == "lif":
            neuron_kwargs: dict[str, Any] = dict(voltage_decay=voltage_decay)
        else:
            neuron_kwargs = dynamic_params
        self.neurons = nn.ModuleList(
            NEURONS[neuron](surrogate=surrogate, current_decay=current_decay, threshold=threshold, **neuron_kwargs)
            for _ in self.layers
        )
        self.decoder = PopulationDecoder(act_dim, decoder_pop_dim)

    def forward(self, obs: Tensor) -> Tensor:
        """
        :param obs: observations (batch, obs_dim)
        :return: action readout before squashing (batch, act_dim)
        """
        frames = self.neurons[0](self.encoder.linear_drive(obs, self.layers[0]))
        spike_ts, batch = frames.shape[:2]
        for layer, neuron in zip(self.layers[1:], self.neurons[1:], strict=True):
            drive = layer(frames.flatten(0, 1)).view(spike_ts, batch, -1)  # Eq. 11, W o + b
            frames = neuron(drive)
        return self.decoder(frames)


def pop_network_kwargs(
    neuron: str = "lif",
    encoder: str | None = None,
    spike_ts: int = 5,
    encoder_pop_dim: int = 10,
    decoder_pop_dim: int = 10,
    mean_range: tuple[float, float] | list[float] = (-3.0, 3.0),
    encoder_std: float = 0.15**0.5,
    hidden_sizes: tuple[int, ...] | list[int] = (256, 256),
    surrogate: SurrogateLike = "rectangular",
    current_decay: float = 0.5,
    voltage_decay: float = 0.75,
    threshold: float = 0.5,
    dynamic_params: dict[str, float] | None = None,
) -> dict[str, Any]:
    """
    Validate the spiking actor's keyword arguments and return them as plain values (what SB3 saves).
    See :class:`PopSpikingNetwork` for their meaning.
    """
    if neuron not in NEURONS:
        raise ValueError(f"unknown neuron {neuron!r}; allowed: {list(NEURONS)}")
    encoder = PopulationEncoder.resolve_mode(DEFAULT_ENCODER[neuron] if encoder is None else encoder)
    if len(mean_range) != 2:
        raise ValueError(f"mean_range must be (low, high), got {mean_range}")
    for name, value in (("spike_ts", spike_ts), ("encoder_pop_dim", encoder_pop_dim)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value}")
    if int(decoder_pop_dim) != decoder_pop_dim or decoder_pop_dim < 1:
        raise ValueError(f"decoder_pop_dim must be a positive int, got {decoder_pop_dim}")
    return dict(
        neuron=neuron,
        encoder=encoder,
        spike_ts=int(spike_ts),
        encoder_pop_dim=int(encoder_pop_dim),
        decoder_pop_dim=int(decoder_pop_dim),
        mean_range=(float(mean_range[0]), float(mean_range[1])),
        encoder_std=float(encoder_std),
        hidden_sizes=[int(h) for h in hidden_sizes],
        surrogate=make(surrogate).to_dict(),
        current_decay=float(current_decay),
        voltage_decay=float(voltage_decay),
        threshold=float(threshold),
        dynamic_params=None if dynamic_params is None else {k: float(v) for k, v in dynamic_params.items()},
    )


def _check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"SpikingPopPolicy needs a continuous Box action space, got {action_space}")
    if not isinstance(observation_space, spaces.Box):
        raise ValueError(f"SpikingPopPolicy needs a Box observation space, got {observation_space}")


def _critic_arch(net_arch: list[int] | dict[str, list[int]] | None) -> list[int]:
    if net_arch is None:
        return [256, 256]
    if isinstance(net_arch, dict):
        if set(net_arch) != {"qf"}:
            raise ValueError(
                f"net_arch only sets the critic (a list or dict(qf=[...])); the spiking actor uses hidden_sizes. "
                f"Got {net_arch}"
            )
        return list(net_arch["qf"])
    return list(net_arch)


class PopSpikingActor(BasePolicy):
    """
    Deterministic spiking actor for TD3 / DDPG: ``tanh`` of the population readout (SB3 rescales it to the
    action bounds).

    :param observation_space: observation space
    :param action_space: action space
    :param net_arch: unused by the spiking network, kept for SB3's actor interface
    :param features_extractor: flattens the observation
    :param features_dim: observation size after flattening
    :param network_kwargs: keyword arguments of :class:`PopSpikingNetwork`
    :param normalize_images: SB3's image flag (unused for Box vectors)
    :param compile_network: run the spiking network through ``torch.compile`` (compiled on first use)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        features_extractor: nn.Module,
        features_dim: int,
        network_kwargs: dict[str, Any],
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
        self.network_kwargs = network_kwargs
        self.compile_network = compile_network
        self.net = PopSpikingNetwork(features_dim, get_action_dim(action_space), **network_kwargs)
        self.run_net = maybe_compile(self.net.forward, compile_network)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features_dim=self.features_dim,
            features_extractor=self.features_extractor,
            network_kwargs=self.network_kwargs,
            compile_network=self.compile_network,
        )
        return data

    def forward(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.run_net(self.extract_features(obs, self.features_extractor)))

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> Tensor:
        with torch.inference_mode():
            return self(observation)


class SpikingPopPolicy(TD3Policy):
    """
    TD3 / DDPG policy with a population-coded spiking actor (Pop-SAN, or MDC-SAN with ``neuron="dynamic"``)
    and SB3's MLP critics.

    :param observation_space: observation space (Box)
    :param action_space: action space (Box)
    :param lr_schedule: learning rate schedule
    :param net_arch: critic sizes (default [256, 256]); a list or ``dict(qf=[...])``
    :param activation_fn: critic activation
    :param neuron: ``"lif"`` (Pop-SAN) or ``"dynamic"`` (MDC-SAN)
    :param encoder: ``"deterministic"``, ``"bernoulli"`` or ``"real"`` (default depends on ``neuron``)
    :param spike_ts: timesteps T per observation
    :param encoder_pop_dim: encoder neurons per observation dimension
    :param decoder_pop_dim: output neurons per action dimension
    :param mean_range: initial span of the receptive field centres
    :param encoder_std: initial receptive field width
    :param hidden_sizes: hidden spiking layer sizes
    :param surrogate: surrogate spike function (name, dict or instance; saved as a dict)
    :param current_decay: ``d_c``
    :param voltage_decay: ``d_v`` (LIF)
    :param threshold: firing threshold
    :param dynamic_params: constants of the dynamic neuron (see :class:`~sb3_spiking.snn.neurons.DynamicNeuron`)
    :param compile_network: ``torch.compile`` the spiking network (off by default: about a minute of compilation
        on CPU, pays off in long trainings)
    :param features_extractor_class: features extractor (flattening)
    :param features_extractor_kwargs: its keyword arguments
    :param normalize_images: SB3's image flag
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer keyword arguments, excluding the learning rate
    :param n_critics: number of critics
    :param share_features_extractor: must stay False (the spiking actor has no shared features)
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
        neuron: str = "lif",
        encoder: str | None = None,
        spike_ts: int = 5,
        encoder_pop_dim: int = 10,
        decoder_pop_dim: int = 10,
        mean_range: tuple[float, float] = (-3.0, 3.0),
        encoder_std: float = 0.15**0.5,
        hidden_sizes: tuple[int, ...] | list[int] = (256, 256),
        surrogate: SurrogateLike = "rectangular",
        current_decay: float = 0.5,
        voltage_decay: float = 0.75,
        threshold: float = 0.5,
        dynamic_params: dict[str, float] | None = None,
        compile_network: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ) -> None:
        _check_spaces(observation_space, action_space)
        self.network_kwargs = pop_network_kwargs(
            neuron, encoder, spike_ts, encoder_pop_dim, decoder_pop_dim, mean_range, encoder_std, hidden_sizes,
            surrogate, current_decay, voltage_decay, threshold, dynamic_params,
        )  # fmt: skip
        self.compile_network = bool(compile_network)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            _critic_arch(net_arch),
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
        data.update(self.network_kwargs, compile_network=self.compile_network)
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> PopSpikingActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return PopSpikingActor(
            **actor_kwargs, network_kwargs=self.network_kwargs, compile_network=self.compile_network
        ).to(self.device)


class PopSpikingSACActor(BasePolicy):
    """
    SAC actor: the spiking network gives the Gaussian mean (before tanh squashing), a small non-spiking
    MLP gives the log-std, clamped to SB3's bounds.

    :param observation_space: observation space
    :param action_space: action space
    :param features_extractor: flattens the observation
    :param features_dim: observation size after flattening
    :param network_kwargs: keyword arguments of :class:`PopSpikingNetwork`
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
        network_kwargs: dict[str, Any],
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
        self.network_kwargs = network_kwargs
        self.log_std_hidden_sizes = log_std_hidden_sizes
        self.compile_network = compile_network
        self.net = PopSpikingNetwork(features_dim, action_dim, **network_kwargs)
        self.run_net = maybe_compile(self.net.forward, compile_network)
        self.log_std = nn.Sequential(*create_mlp(features_dim, action_dim, log_std_hidden_sizes, nn.ReLU))
        self.action_dist = SquashedDiagGaussianDistribution(action_dim)
        self.use_sde = False

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features_dim=self.features_dim,
            features_extractor=self.features_extractor,
            network_kwargs=self.network_kwargs,
            log_std_hidden_sizes=self.log_std_hidden_sizes,
            compile_network=self.compile_network,
        )
        return data

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """
        :param obs: observations
        :return: mean, clamped log-std and (empty) extra arguments of the action distribution
        """
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


class SpikingPopSACPolicy(SACPolicy):
    """
    SAC policy with a population-coded spiking actor mean (registered on SAC as ``"SpikingPopPolicy"``).
    Same spiking keyword arguments as :class:`SpikingPopPolicy`, plus ``log_std_hidden_sizes``; gSDE is
    not supported.

    :param observation_space: observation space (Box)
    :param action_space: action space (Box)
    :param lr_schedule: learning rate schedule
    :param net_arch: critic sizes (default [256, 256]); a list or ``dict(qf=[...])``
    :param activation_fn: critic activation
    :param log_std_hidden_sizes: hidden sizes of the non-spiking log-std MLP
    :param use_sde: must be False
    :param compile_network: ``torch.compile`` the spiking network (see :class:`SpikingPopPolicy`)
    :param kwargs: the spiking actor's keyword arguments (see :class:`SpikingPopPolicy`) and SB3's
        ``SACPolicy`` arguments
    """

    actor: PopSpikingSACActor
    spiking_keys: ClassVar[tuple[str, ...]] = (
        "neuron", "encoder", "spike_ts", "encoder_pop_dim", "decoder_pop_dim", "mean_range", "encoder_std",
        "hidden_sizes", "surrogate", "current_decay", "voltage_decay", "threshold", "dynamic_params",
    )  # fmt: skip

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
        _check_spaces(observation_space, action_space)
        if use_sde:
            raise ValueError("SpikingPopPolicy on SAC does not support gSDE (use_sde=False)")
        self.network_kwargs = pop_network_kwargs(**{k: kwargs.pop(k) for k in self.spiking_keys if k in kwargs})
        self.log_std_hidden_sizes = [int(h) for h in log_std_hidden_sizes]
        self.compile_network = bool(compile_network)
        super().__init__(observation_space, action_space, lr_schedule, _critic_arch(net_arch), activation_fn, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            self.network_kwargs, log_std_hidden_sizes=self.log_std_hidden_sizes, compile_network=self.compile_network
        )
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> PopSpikingSACActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return PopSpikingSACActor(
            **actor_kwargs,
            network_kwargs=self.network_kwargs,
            log_std_hidden_sizes=self.log_std_hidden_sizes,
            compile_network=self.compile_network,
        ).to(self.device)


def load_popsan_checkpoint(
    model_path: str | Path, mean_var_path: str | Path, env: VecEnv | Any, device: str = "auto"
) -> tuple[TD3, VecNormalize]:
    """
    Import a TD3 actor trained with the original Pop-SAN code (Tang et al., CoRL 2020).

    The actor's sizes (P_enc, hidden layers, P_dec) are read from the state dict; T = 5, mean_range (-3, 3),
    rectangular surrogate and the deterministic encoder are the original's test-time settings. The critic
    is freshly initialised (the original does not ship it).

    :param model_path: torch state dict of the original ``PopSpikeActor``
    :param mean_var_path: pickle of ``[mean, var]``, the original's running observation statistics
    :param env: the environment (a gymnasium env, an env id or a VecEnv)
    :param device: torch device of the model
    :return: ``(model, venv)``: a TD3 model with ``SpikingPopPolicy`` and a frozen ``VecNormalize`` around
        ``env`` holding the checkpoint's statistics (clip 3, eps = float32 machine epsilon, no reward
        normalisation). ``model.predict(venv.normalize_obs(obs))`` acts exactly like the original actor;
        ``model.get_env()`` is ``venv``, so ``evaluate_policy(model, venv)`` works directly.
    """
    state = torch.load(model_path, map_location="cpu", weights_only=True)
    with open(mean_var_path, "rb") as file:
        mean, var = pickle.load(file)
    if isinstance(env, str):
        env = gym.make(env)
    if not isinstance(env, VecEnv):
        env = DummyVecEnv([lambda single=env: single])
    venv = VecNormalize(
        env, training=False, norm_obs=True, norm_reward=False, clip_obs=3.0, epsilon=float(np.finfo(np.float32).eps)
    )
    venv.obs_rms.mean, venv.obs_rms.var = np.asarray(mean), np.asarray(var)  # dtypes as the original's
    hidden = sorted(int(k.split(".")[2]) for k in state if k.startswith("snn.hidden_layers.") and k.endswith("weight"))
    obs_dim, encoder_pop_dim = state["encoder.mean"].shape[1:]
    act_dim, _, decoder_pop_dim = state["decoder.decoder.weight"].shape
    policy_kwargs = dict(
        spike_ts=5,
        encoder_pop_dim=int(encoder_pop_dim),
        decoder_pop_dim=int(decoder_pop_dim),
        hidden_sizes=[int(state[f"snn.hidden_layers.{k}.weight"].shape[0]) for k in hidden],
        encoder="deterministic",
        surrogate="rectangular",
    )
    model = TD3("SpikingPopPolicy", venv, policy_kwargs=policy_kwargs, learning_starts=0, device=device)
    if get_action_dim(model.action_space) != act_dim or model.observation_space.shape != (obs_dim,):
        raise ValueError(
            f"checkpoint is for obs_dim={obs_dim}, act_dim={act_dim}; env has {model.observation_space.shape}, "
            f"{model.action_space.shape}"
        )
    net_state = {
        "encoder.mean": state["encoder.mean"].reshape(obs_dim, encoder_pop_dim),
        "encoder.std": state["encoder.std"].reshape(obs_dim, encoder_pop_dim),
        "decoder.weight": state["decoder.decoder.weight"].reshape(act_dim, decoder_pop_dim),
        "decoder.bias": state["decoder.decoder.bias"],
    }
    names = [f"snn.hidden_layers.{k}" for k in hidden] + ["snn.out_pop_layer"]
    for i, name in enumerate(names):
        net_state[f"layers.{i}.weight"] = state[f"{name}.weight"]
        net_state[f"layers.{i}.bias"] = state[f"{name}.bias"]
    for actor in (model.policy.actor, model.policy.actor_target):
        actor.net.load_state_dict(net_state)
    return model, venv
