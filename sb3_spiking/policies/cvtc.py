"""CVTC temporal-coded spiking Q-network (seed 001) for SB3's ``DQN`` and :class:`sb3_spiking.DoubleDQN`.

observation -> Gaussian population encoder (input spike times) -> CVTC layers -> one output neuron per action,
``Q = q_sign * z_out``. Use ``q_sign=+1`` (latest spike is best, the authors' CartPole setting) when returns
are positive so ``Q >= 1`` can be represented, ``q_sign=-1`` (first spike is best, their MountainCar setting)
when returns are <= -1, or shift the rewards with :class:`sb3_spiking.envs.wrappers.RewardShift`.

The encoder's gains map the range of what the network receives onto its receptive fields. They are given
(``gains``), derived from ``obs_range`` (the largest magnitude of each observation component, e.g. ``clip_obs`` of
a ``VecNormalize``: the policy cannot see that wrapper), or derived from the observation space: finite Box bounds,
[0, 1] for images divided by 255 (``normalize_images``) and for one-hot Discrete / MultiDiscrete / MultiBinary
observations. An unbounded Box without ``gains`` or ``obs_range`` is refused.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from sb3_spiking.policies.compile import maybe_compile
from sb3_spiking.snn.extra_state import ExtraStateMixin
from sb3_spiking.snn.temporal import NO_SPIKE_Z, CVTCLayer, GaussianPopulationEncoder
from sb3_spiking.validation import (
    check_bool,
    check_choice,
    check_finite_observation,
    check_float,
    check_int,
    check_sizes,
)

INIT_SCHEMES = ("xavier_uniform", "normal")
INFERENCE_MODES = ("cvtc", "if")
ONE_HOT_SPACES = (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def _check_floats(name: str, value: Any, minimum: float | None = None, strict: bool = False) -> tuple[float, ...]:
    """A non-empty list or tuple of finite numbers (each checked by ``check_float``)."""
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
        raise TypeError(f"{name} must be a non-empty list of numbers, got {value!r} ({type(value).__name__})")
    return tuple(check_float(f"{name}[{i}]", v, minimum=minimum, strict=strict) for i, v in enumerate(value))


@dataclasses.dataclass(frozen=True)
class CVTCConfig:
    """
    Settings of the CVTC Q-network, checked on construction (a bad value raises ``TypeError`` / ``ValueError``
    naming the setting) and stored as plain values; ``dataclasses.asdict`` is what SB3 saves with the policy.

    :param hidden_sizes: sizes of the hidden CVTC layers
    :param q_sign: ``+1``: Q = z, latest spike is best (positive returns); ``-1``: Q = -z, first spike is best
        (returns <= -1)
    :param beta: self-incremental rate ``beta`` of seed 001 Eq. 7, >= 0
    :param gains: encoder gain per observation feature; ``None`` derives them from ``obs_range`` or the space
    :param obs_range: largest magnitude of each observation feature (one number for all, or one per feature),
        mapped to 90 % of the outermost receptive field centre; e.g. ``clip_obs`` under ``VecNormalize``. Not with
        ``gains``
    :param n_neurons: K, encoder neurons per observation feature
    :param sigma: encoder Gaussian width
    :param z_max: encoder spike time (z-domain) far from the value
    :param height: encoder Gaussian scale
    :param cap: encoder cap of ``height * NormalPDF`` (``None`` for none); the earliest input spike
        ``z_max - min(peak, cap)`` must be positive
    :param init: weight initialisation, ``"normal"`` or ``"xavier_uniform"`` (see :func:`init_cvtc_weight`)
    :param init_mean: summed-weight mean of the ``"normal"`` initialisation (3: every neuron starts firing soon
        after its inputs, so the initial Q-values are small)
    :param init_std: spread of the ``"normal"`` initialisation, >= 0
    """

    hidden_sizes: tuple[int, ...] = (128,)
    q_sign: int = 1
    beta: float = 1e-3
    gains: tuple[float, ...] | None = None
    obs_range: float | tuple[float, ...] | None = None
    n_neurons: int = 20
    sigma: float = 1.4
    z_max: float = 6.0
    height: float = 20.0
    cap: float | None = 5.0
    init: str = "normal"
    init_mean: float = 3.0
    init_std: float = 5.0

    def __post_init__(self) -> None:
        self._set("hidden_sizes", tuple(check_sizes("hidden_sizes", self.hidden_sizes)))
        self._set("q_sign", check_choice("q_sign", check_int("q_sign", self.q_sign), (1, -1)))
        self._set("beta", check_float("beta", self.beta, minimum=0.0))
        if self.gains is not None:
            gains = _check_floats("gains", self.gains)
            if not any(gains):
                raise ValueError(f"gains must not all be zero (every feature would encode the same), got {gains}")
            self._set("gains", gains)
        if self.obs_range is not None:
            if self.gains is not None:
                raise ValueError("give gains or obs_range, not both (obs_range only derives the gains)")
            if isinstance(self.obs_range, Real) and not isinstance(self.obs_range, bool):
                self._set("obs_range", check_float("obs_range", self.obs_range, minimum=0.0, strict=True))
            else:
                self._set("obs_range", _check_floats("obs_range", self.obs_range, minimum=0.0, strict=True))
        self._set("n_neurons", check_int("n_neurons", self.n_neurons, minimum=2))
        self._set("sigma", check_float("sigma", self.sigma, minimum=0.0, strict=True))
        self._set("z_max", check_float("z_max", self.z_max))
        self._set("height", check_float("height", self.height, minimum=0.0, strict=True))
        if self.cap is not None:
            self._set("cap", check_float("cap", self.cap, minimum=0.0, strict=True))
        min_z = GaussianPopulationEncoder.earliest_z(self.z_max, self.height, self.sigma, self.cap)
        if min_z <= 0.0:
            raise ValueError(
                f"the encoder can emit z = {min_z:.3f} <= 0, not a spike time: set cap < z_max = {self.z_max} "
                f"(z_max - 1 keeps t >= 0) or lower height (cap={self.cap}, height={self.height})"
            )
        self._set("init", check_choice("init", self.init, INIT_SCHEMES))
        self._set("init_mean", check_float("init_mean", self.init_mean))
        self._set("init_std", check_float("init_std", self.init_std, minimum=0.0))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> CVTCConfig:
        """
        :param kwargs: settings by name (the fields of this class), e.g. a saved ``as_kwargs()``
        :return: the validated config
        """
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(f"unknown keyword arguments {unknown}; the CVTC settings are {names}")
        return cls(**kwargs)

    def as_kwargs(self) -> dict[str, Any]:
        """The settings as plain values (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)

    def encoder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`GaussianPopulationEncoder` (the gains must be resolved)."""
        if self.gains is None:
            raise ValueError("the gains are not resolved yet (see CVTCPolicy.resolve_gains)")
        return dict(gains=list(self.gains), n_neurons=self.n_neurons, sigma=self.sigma, z_max=self.z_max,
                    height=self.height, cap=self.cap)  # fmt: skip


def feature_range(observation_space: spaces.Space, normalize_images: bool) -> list[float]:
    """
    Largest magnitude of each feature the network receives after SB3's preprocessing and flattening.

    :param observation_space: observation space
    :param normalize_images: whether image observations are divided by 255
    :return: one bound per feature
    """
    n_features = get_flattened_obs_dim(observation_space)
    if isinstance(observation_space, ONE_HOT_SPACES):
        return [1.0] * n_features  # one-hot (Discrete, MultiDiscrete) or 0/1 (MultiBinary)
    if not isinstance(observation_space, spaces.Box):
        raise ValueError(f"CVTCPolicy supports Box, Discrete, MultiDiscrete and MultiBinary observations, got "
                         f"{observation_space}")  # fmt: skip
    if normalize_images and is_image_space(observation_space):
        return [1.0] * n_features
    low, high = observation_space.low.reshape(-1), observation_space.high.reshape(-1)
    bound = np.maximum(np.abs(low.astype(np.float64)), np.abs(high.astype(np.float64)))
    unbounded = np.flatnonzero(~np.isfinite(bound)).tolist()
    if unbounded:
        raise ValueError(
            f"the observation space is unbounded in components {unbounded} ({observation_space}), so CVTCPolicy cannot "
            f"derive its encoder gains: pass policy_kwargs obs_range (the largest magnitude of each component, e.g. "
            f"clip_obs under VecNormalize) or gains"
        )
    return bound.tolist()


def init_cvtc_weight(weight: torch.Tensor, scheme: str, mean: float = 3.0, std: float = 5.0) -> None:
    """
    Initialise a CVTC weight matrix (out, in) in place.

    :param weight: the weight
    :param scheme: ``"xavier_uniform"`` (the authors' CartPole code) or ``"normal"``: ``N(mean / n_in, std / n_in)``
        (the authors' MountainCar code uses mean 1.5, std 5). The sum of a neuron's weights then starts near
        ``mean``; above 1, the neuron fires soon after its inputs instead of at ``z ~ 1 / beta``
    :param mean: mean of the summed weights of a neuron (``"normal"``)
    :param std: standard deviation of one weight times ``n_in`` (``"normal"``)
    """
    if scheme == "xavier_uniform":
        nn.init.xavier_uniform_(weight)
    elif scheme == "normal":
        n_in = weight.shape[1]
        nn.init.normal_(weight, mean=mean / n_in, std=std / n_in)
    else:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {scheme!r}")


class CVTCQNetwork(BasePolicy):
    """
    Q-network of CVTC neurons: encoder -> CVTC layers -> one neuron per action, ``Q = q_sign * z``.

    :param observation_space: observation space
    :param action_space: action space (Discrete)
    :param features_extractor: features extractor (flattens the observation)
    :param features_dim: number of features
    :param config: the CVTC settings, gains resolved (one per feature)
    :param compile_network: run the network through ``torch.compile`` (fuses each layer's elementwise steps)
    :param normalize_images: whether to divide image observations by 255
    """

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        config: CVTCConfig | Mapping[str, Any],
        compile_network: bool = False,
        normalize_images: bool = True,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.features_dim = features_dim
        self.config = config if isinstance(config, CVTCConfig) else CVTCConfig.from_kwargs(config)
        self.encoder = GaussianPopulationEncoder(**self.config.encoder_kwargs())
        if self.encoder.gains.numel() != features_dim:
            raise ValueError(f"gains needs one entry per feature ({features_dim}), got {self.encoder.gains.numel()}")
        sizes = [self.encoder.out_features, *self.config.hidden_sizes, int(action_space.n)]
        beta = self.config.beta
        self.layers = nn.ModuleList(CVTCLayer(n_in, n_out, beta) for n_in, n_out in itertools.pairwise(sizes))
        for layer in self.layers:
            init_cvtc_weight(layer.weight, self.config.init, self.config.init_mean, self.config.init_std)
        self.compile_network = check_bool("compile_network", compile_network)
        self._run_layers = maybe_compile(self._encode_and_fire, self.compile_network)

    def _encode_and_fire(self, features: torch.Tensor) -> torch.Tensor:
        z = self.encoder(features)
        for layer in self.layers:
            z = layer(z)
        return z

    def spike_times(self, obs: PyTorchObs) -> torch.Tensor:
        """
        Output spike times.

        :param obs: observation (finite)
        :return: z of each action neuron (batch, n_actions)
        """
        check_finite_observation(obs)
        return self._run_layers(self.extract_features(obs, self.features_extractor))

    def forward(self, obs: PyTorchObs) -> torch.Tensor:
        """
        Predict the Q-values.

        :param obs: observation
        :return: Q-value of each action (batch, n_actions)
        """
        return self.config.q_sign * self.spike_times(obs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> torch.Tensor:
        return self(observation).argmax(dim=1).reshape(-1)

    def set_beta(self, beta: float) -> None:
        """
        Set the self-incremental rate of every layer (``0`` for pure integrate-and-fire neurons).

        :param beta: the rate
        """
        for layer in self.layers:
            layer.beta = float(beta)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features_dim=self.features_dim,
            config=self.config.as_kwargs(),
            compile_network=self.compile_network,
            features_extractor=self.features_extractor,
        )
        return data


class CVTCPolicy(ExtraStateMixin, DQNPolicy):
    """
    DQN policy with a CVTC spiking Q-network and target network (seed 001).

    :param observation_space: observation space (Box, Discrete, MultiDiscrete or MultiBinary)
    :param action_space: action space (Discrete)
    :param lr_schedule: learning rate schedule
    :param compile_network: run both Q-networks through ``torch.compile``: about 2x the training throughput on CPU once
        compiled (needs a C++ compiler; the first calls of each batch size and grad mode take seconds to compile)
    :param features_extractor_class: features extractor (flattening by default; another one needs explicit ``gains``)
    :param features_extractor_kwargs: its keyword arguments
    :param normalize_images: whether to divide image observations by 255
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer keyword arguments, excluding the learning rate
    :param cvtc_kwargs: the CVTC settings, the fields of :class:`CVTCConfig` (``hidden_sizes``, ``q_sign``, ``beta``,
        ``gains``, ``obs_range``, ``n_neurons``, ``sigma``, ``z_max``, ``height``, ``cap``, ``init``, ``init_mean``,
        ``init_std``)
    """

    saved_modes = ("inference_mode",)  # saved with the state_dict, restored by set_inference_mode
    q_net: CVTCQNetwork
    q_net_target: CVTCQNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        compile_network: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        **cvtc_kwargs: Any,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"CVTCPolicy supports action spaces of type spaces.Discrete only, got {action_space}")
        config = CVTCConfig.from_kwargs(cvtc_kwargs)
        normalize_images = check_bool("normalize_images", normalize_images)
        self.config = self.resolve_gains(config, observation_space, normalize_images, features_extractor_class)
        self.compile_network = check_bool("compile_network", compile_network)
        self.inference_mode = "cvtc"
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    @staticmethod
    def resolve_gains(
        config: CVTCConfig,
        observation_space: spaces.Space,
        normalize_images: bool,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
    ) -> CVTCConfig:
        """
        The config with one encoder gain per feature: ``gains`` as given, or mapping ``obs_range`` (else the range
        the space allows, see :func:`feature_range`) to 90 % of the outermost receptive field centre.

        :param config: the settings
        :param observation_space: observation space
        :param normalize_images: whether image observations are divided by 255
        :param features_extractor_class: the features extractor; the range of a custom one's output is unknown
        :return: the config with ``gains`` set and ``obs_range`` cleared
        """
        if config.gains is not None:
            return config
        if features_extractor_class is not FlattenExtractor:
            raise ValueError(
                f"CVTCPolicy cannot derive its encoder gains from the output of {features_extractor_class.__name__}: "
                f"pass gains (one per feature)"
            )
        n_features = get_flattened_obs_dim(observation_space)
        if config.obs_range is None:
            bounds = feature_range(observation_space, normalize_images)
        elif isinstance(config.obs_range, float):
            bounds = [config.obs_range] * n_features
        elif len(config.obs_range) != n_features:
            raise ValueError(
                f"obs_range needs one entry per observation feature ({n_features}), got {config.obs_range}"
            )
        else:
            bounds = list(config.obs_range)
        gains = GaussianPopulationEncoder.gains_from_bounds([-b for b in bounds], bounds, config.n_neurons)
        return dataclasses.replace(config, gains=tuple(gains), obs_range=None)

    def make_q_net(self) -> CVTCQNetwork:
        features_extractor = self.make_features_extractor()
        return CVTCQNetwork(
            self.observation_space,
            self.action_space,
            features_extractor=features_extractor,
            features_dim=features_extractor.features_dim,
            config=self.config,
            compile_network=self.compile_network,
            normalize_images=self.normalize_images,
        ).to(self.device)

    def set_inference_mode(self, mode: str) -> None:
        """
        Choose the neuron model of both Q-networks: ``"cvtc"`` (trained ``beta``, seed 001 Eq. 9) or ``"if"``
        (``beta = 0``: plain integrate-and-fire neurons, seed 001 Eq. 4, Theorem 1).

        :param mode: ``"cvtc"`` or ``"if"``
        """
        if mode not in INFERENCE_MODES:
            raise ValueError(f"mode must be one of {INFERENCE_MODES}, got {mode!r}")
        for net in (self.q_net, self.q_net_target):
            net.set_beta(self.config.beta if mode == "cvtc" else 0.0)
        self.inference_mode = mode

    @torch.no_grad()
    def compare_inference_modes(self, obs: np.ndarray) -> dict[str, float]:
        """
        Compare the Q-values of the CVTC network with those of the same weights run as I&F neurons (``beta = 0``).

        :param obs: a batch of observations (batch, *obs_shape)
        :return: ``q_abs_diff_mean``, ``q_abs_diff_max`` and ``q_rel_diff_mean`` (|Q_if - Q_cvtc| / |Q_cvtc|),
            ``action_disagreement`` (fraction of observations whose greedy action changes) and
            ``if_silent_fraction`` (fraction of I&F output neurons that never fire)
        """
        obs_tensor, _ = self.obs_to_tensor(obs)
        mode = self.inference_mode
        try:
            self.set_inference_mode("cvtc")
            q_cvtc = self.q_net(obs_tensor)
            self.set_inference_mode("if")
            z_if = self.q_net.spike_times(obs_tensor)
            q_if = self.config.q_sign * z_if
        finally:
            self.set_inference_mode(mode)
        diff = (q_if - q_cvtc).abs()
        return dict(
            q_abs_diff_mean=float(diff.mean()),
            q_abs_diff_max=float(diff.max()),
            q_rel_diff_mean=float((diff / q_cvtc.abs()).mean()),
            action_disagreement=float((q_if.argmax(dim=1) != q_cvtc.argmax(dim=1)).float().mean()),
            if_silent_fraction=float((z_if >= NO_SPIKE_Z).float().mean()),
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        del data["net_arch"], data["activation_fn"]
        data.update(self.config.as_kwargs(), compile_network=self.compile_network)
        return data
