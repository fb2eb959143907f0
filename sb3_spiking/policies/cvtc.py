"""CVTC temporal-coded spiking Q-network (seed 001) for SB3's ``DQN`` and :class:`sb3_spiking.DoubleDQN`.

observation -> Gaussian population encoder (input spike times) -> CVTC layers -> one output neuron per action,
``Q = q_sign * z_out``. Use ``q_sign=+1`` (latest spike is best, the authors' CartPole setting) when returns
are positive so ``Q >= 1`` can be represented, ``q_sign=-1`` (first spike is best, their MountainCar setting)
when returns are <= -1, or shift the rewards with :class:`sb3_spiking.envs.wrappers.RewardShift`.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from sb3_spiking.policies.compile import maybe_compile
from sb3_spiking.snn.temporal import NO_SPIKE_Z, CVTCLayer, GaussianPopulationEncoder

INIT_SCHEMES = ("xavier_uniform", "normal")
INFERENCE_MODES = ("cvtc", "if")


def init_cvtc_weight(weight: th.Tensor, scheme: str, mean: float = 1.5, std: float = 5.0) -> None:
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
    :param hidden_sizes: sizes of the hidden CVTC layers
    :param q_sign: ``+1``: Q = z (latest spike is best); ``-1``: Q = -z (first spike is best)
    :param beta: self-incremental rate of every CVTC layer during training
    :param encoder_kwargs: arguments of :class:`GaussianPopulationEncoder` (``gains`` included)
    :param init: weight initialisation, one of ``INIT_SCHEMES``
    :param init_mean: summed-weight mean of the ``"normal"`` initialisation
    :param init_std: spread of the ``"normal"`` initialisation
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
        hidden_sizes: list[int],
        q_sign: int,
        beta: float,
        encoder_kwargs: dict[str, Any],
        init: str,
        init_mean: float = 1.5,
        init_std: float = 5.0,
        compile_network: bool = False,
        normalize_images: bool = True,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.features_dim = features_dim
        self.hidden_sizes = list(hidden_sizes)
        self.q_sign = q_sign
        self.beta = beta
        self.encoder_kwargs = encoder_kwargs
        self.init = init
        self.init_mean = init_mean
        self.init_std = init_std
        self.encoder = GaussianPopulationEncoder(**encoder_kwargs)
        if self.encoder.gains.numel() != features_dim:
            raise ValueError(f"gains needs one entry per feature ({features_dim}), got {self.encoder.gains.numel()}")
        sizes = [self.encoder.out_features, *self.hidden_sizes, int(action_space.n)]
        self.layers = nn.ModuleList(CVTCLayer(n_in, n_out, beta) for n_in, n_out in itertools.pairwise(sizes))
        for layer in self.layers:
            init_cvtc_weight(layer.weight, init, init_mean, init_std)
        self.compile_network = compile_network
        self._run_layers = maybe_compile(self._encode_and_fire, compile_network)

    def _encode_and_fire(self, features: th.Tensor) -> th.Tensor:
        z = self.encoder(features)
        for layer in self.layers:
            z = layer(z)
        return z

    def spike_times(self, obs: PyTorchObs) -> th.Tensor:
        """
        Output spike times.

        :param obs: observation
        :return: z of each action neuron (batch, n_actions)
        """
        return self._run_layers(self.extract_features(obs, self.features_extractor))

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        """
        Predict the Q-values.

        :param obs: observation
        :return: Q-value of each action (batch, n_actions)
        """
        return self.q_sign * self.spike_times(obs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> th.Tensor:
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
            dict(
                features_dim=self.features_dim,
                hidden_sizes=self.hidden_sizes,
                q_sign=self.q_sign,
                beta=self.beta,
                encoder_kwargs=self.encoder_kwargs,
                init=self.init,
                init_mean=self.init_mean,
                init_std=self.init_std,
                compile_network=self.compile_network,
                features_extractor=self.features_extractor,
            )
        )
        return data


class CVTCPolicy(DQNPolicy):
    """
    DQN policy with a CVTC spiking Q-network and target network (seed 001).

    :param observation_space: observation space (Box)
    :param action_space: action space (Discrete)
    :param lr_schedule: learning rate schedule
    :param hidden_sizes: sizes of the hidden CVTC layers (default ``[128]``)
    :param q_sign: ``+1``: Q = z, latest spike is best (positive returns); ``-1``: Q = -z, first spike is best
        (returns <= -1)
    :param beta: self-incremental rate ``beta`` of seed 001 Eq. 7
    :param gains: encoder gain per observation component; ``None`` derives them from finite observation bounds
    :param n_neurons: K, encoder neurons per observation component
    :param sigma: encoder Gaussian width
    :param z_max: encoder spike time (z-domain) far from the value
    :param height: encoder Gaussian scale
    :param cap: encoder cap of ``height * NormalPDF`` (``None`` for none)
    :param init: weight initialisation, ``"xavier_uniform"`` or ``"normal"`` (see :func:`init_cvtc_weight`)
    :param init_mean: summed-weight mean of the ``"normal"`` initialisation
    :param init_std: spread of the ``"normal"`` initialisation
    :param compile_network: run both Q-networks through ``torch.compile``: about 2x the training throughput on CPU once
        compiled (needs a C++ compiler; the first calls of each batch size and grad mode take seconds to compile)
    :param features_extractor_class: features extractor (flattening by default)
    :param features_extractor_kwargs: its keyword arguments
    :param normalize_images: whether to divide image observations by 255
    :param optimizer_class: optimizer
    :param optimizer_kwargs: optimizer keyword arguments, excluding the learning rate
    """

    q_net: CVTCQNetwork
    q_net_target: CVTCQNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        hidden_sizes: list[int] | None = None,
        q_sign: int = 1,
        beta: float = 1e-3,
        gains: list[float] | None = None,
        n_neurons: int = 20,
        sigma: float = 1.4,
        z_max: float = 6.0,
        height: float = 20.0,
        cap: float | None = 5.0,
        init: str = "xavier_uniform",
        init_mean: float = 1.5,
        init_std: float = 5.0,
        compile_network: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"CVTCPolicy supports action spaces of type spaces.Discrete only, got {action_space}")
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(f"CVTCPolicy supports observation spaces of type spaces.Box only, got {observation_space}")
        if q_sign not in (1, -1):
            raise ValueError(f"q_sign must be one of (1, -1), got {q_sign!r}")
        if init not in INIT_SCHEMES:
            raise ValueError(f"init must be one of {INIT_SCHEMES}, got {init!r}")
        hidden_sizes = [128] if hidden_sizes is None else [int(h) for h in hidden_sizes]
        if any(h <= 0 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {hidden_sizes}")
        if gains is None:
            low, high = observation_space.low.reshape(-1), observation_space.high.reshape(-1)
            gains = GaussianPopulationEncoder.gains_from_bounds(low, high, n_neurons)
        self.hidden_sizes = hidden_sizes
        self.q_sign = int(q_sign)
        self.beta = float(beta)
        self.init = init
        self.init_mean = float(init_mean)
        self.init_std = float(init_std)
        self.compile_network = bool(compile_network)
        self.encoder_kwargs = dict(
            gains=[float(g) for g in np.asarray(gains, dtype=float).reshape(-1)],
            n_neurons=int(n_neurons),
            sigma=float(sigma),
            z_max=float(z_max),
            height=float(height),
            cap=None if cap is None else float(cap),
        )
        encoder = GaussianPopulationEncoder(**self.encoder_kwargs)
        n_obs = int(np.prod(observation_space.shape))
        if encoder.gains.numel() != n_obs:
            raise ValueError(f"gains needs one entry per observation component ({n_obs}), got {len(gains)}")
        if encoder.min_z <= 0.0:
            raise ValueError(
                f"the encoder can emit z = {encoder.min_z:.3f} <= 0, not a spike time: "
                f"set cap < z_max = {z_max} (z_max - 1 keeps t >= 0) or lower height"
            )
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

    def make_q_net(self) -> CVTCQNetwork:
        features_extractor = self.make_features_extractor()
        return CVTCQNetwork(
            self.observation_space,
            self.action_space,
            features_extractor=features_extractor,
            features_dim=features_extractor.features_dim,
            hidden_sizes=self.hidden_sizes,
            q_sign=self.q_sign,
            beta=self.beta,
            encoder_kwargs=self.encoder_kwargs,
            init=self.init,
            init_mean=self.init_mean,
            init_std=self.init_std,
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
            net.set_beta(self.beta if mode == "cvtc" else 0.0)
        self.inference_mode = mode

    @th.no_grad()
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
            q_if = self.q_net.q_sign * z_if
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
        data.update(hidden_sizes=self.hidden_sizes, q_sign=self.q_sign, beta=self.beta, init=self.init)
        data.update(init_mean=self.init_mean, init_std=self.init_std, compile_network=self.compile_network)
        data.update(self.encoder_kwargs)
        return data
