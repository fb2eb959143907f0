"""The Pop-SAN / MDC-SAN spiking actor network (seed 000, section II): population encoder, spiking layers,
population decoder."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor, nn

from sb3_spiking.policies.popsan.config import PopSANConfig
from sb3_spiking.snn.coding import (
    PopulationDecoder,
    PopulationEncoder,
    _counted_spikes,
    _steps,
    gaussian_stimulus,
    population_readout,
)
from sb3_spiking.snn.neurons import (
    CurrentLIF,
    DynamicNeuron,
    _compiled,
    _decay_matrix,
    _lif_loop,
    _lif_spikes,
    _silent_bound,
)
from sb3_spiking.validation import check_int

NEURONS: dict[str, type[nn.Module]] = {"lif": CurrentLIF, "dynamic": DynamicNeuron}


class PopSpikingNetwork(nn.Module):
    """
    Encoder -> spiking layers (T steps, state reset per observation) -> decoder, returning the
    pre-squashing action readout. Layer-major: each layer's synaptic input for all T steps is one matmul.

    :param obs_dim: observation size
    :param act_dim: action size
    :param config: the spiking settings (defaults: ``PopSANConfig()``, Pop-SAN's)
    """

    def __init__(self, obs_dim: int, act_dim: int, config: PopSANConfig | None = None) -> None:
        super().__init__()
        obs_dim, act_dim = check_int("obs_dim", obs_dim, minimum=1), check_int("act_dim", act_dim, minimum=1)
        config = PopSANConfig() if config is None else config
        if not isinstance(config, PopSANConfig):
            raise TypeError(f"config must be a PopSANConfig, got {config!r} ({type(config).__name__})")
        self.config = config
        self.encoder = PopulationEncoder(
            obs_dim, config.encoder_pop_dim, config.spike_ts, config.encoder, config.mean_range, config.encoder_std
        )
        sizes = [self.encoder.num_neurons, *config.hidden_sizes, act_dim * config.decoder_pop_dim]
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes))
        if config.neuron == "lif":
            neuron_kwargs: dict[str, Any] = dict(voltage_decay=config.voltage_decay)
        else:
            neuron_kwargs = dict(config.dynamic_params or {})
        self.neurons = nn.ModuleList(
            NEURONS[config.neuron](
                surrogate=config.surrogate, current_decay=config.current_decay, threshold=config.threshold,
                **neuron_kwargs,
            )
            for _ in self.layers
        )  # fmt: skip
        self.decoder = PopulationDecoder(act_dim, config.decoder_pop_dim)

    def forward(self, obs: Tensor) -> Tensor:
        """
        :param obs: observations (batch, obs_dim)
        :return: action readout before squashing (batch, act_dim)
        """
        if self._scripted_inference(obs):
            lif = self.neurons[0]
            return _compiled(_lif_inference)(
                obs,
                self.encoder.mean,
                self.encoder.std,
                _steps(self.config.spike_ts, obs),  # shaped to broadcast against the (batch, N) stimulus
                [layer.weight for layer in self.layers],
                [layer.bias for layer in self.layers],
                _decay_matrix(lif.current_decay, self.config.spike_ts, obs.dtype, obs.device, sign=-1.0),
                _silent_bound(lif.threshold, obs.dtype),
                lif.voltage_decay,
                lif.threshold,
                self.decoder.weight,
                self.decoder.bias,
            )
        frames = obs
        for k, (layer, neuron) in enumerate(zip(self.layers, self.neurons, strict=True)):
            if k == 0:
                drive = self.encoder.linear_drive(obs, layer)
            else:
                drive = layer(frames.flatten(0, 1)).view(*frames.shape[:2], -1)  # Eq. 11, W o + b
            frames = neuron(drive)
        return self.decoder(frames)

    def _scripted_inference(self, obs: Tensor) -> bool:
        """Whether ``forward`` may take :func:`_lif_inference`: no autograd, no compilation, LIF neurons, encoder
        spikes from the deterministic closed form (the deterministic encoder, or the Bernoulli one in eval mode), and
        no hooks on the submodules (which it does not call; the energy count hooks them, for one)."""
        encoder = self.encoder.mode
        return (
            not torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
            and self.config.neuron == "lif"
            and (encoder == "deterministic" or (encoder == "bernoulli" and not self.encoder.training))
            and obs.dim() == 2
            and not _hooked(self)
        )


def _hooked(module: nn.Module) -> bool:
    """Whether a forward hook or pre-hook, global or on a submodule of ``module``, would run in its forward."""
    hooks = nn.modules.module
    if hooks._global_forward_hooks or hooks._global_forward_pre_hooks:
        return True
    return any(child._forward_hooks or child._forward_pre_hooks for child in module.modules())


def _lif_inference(
    obs: Tensor,
    mean: Tensor,
    std: Tensor,
    steps: Tensor,
    weights: list[Tensor],
    biases: list[Tensor],
    decay_matrix: Tensor,
    bound: float,
    voltage_decay: float,
    threshold: float,
    decoder_weight: Tensor,
    decoder_bias: Tensor,
) -> Tensor:
    """
    ``PopSpikingNetwork.forward`` without autograd for LIF neurons and closed-form encoder spikes, the same operations
    as the modules' own no-grad paths (:func:`gaussian_stimulus`, :func:`_counted_spikes`, ``CurrentLIF``'s
    :func:`_lif_loop` and :func:`_lif_spikes`, :func:`population_readout`) in one function that TorchScript runs
    (``_compiled``): about 60 small operations per observation, which Python would dispatch one by one.

    :return: action readout before squashing (batch, act_dim)
    """
    frames = _counted_spikes(gaussian_stimulus(obs, mean, std), steps)  # Eq. 7-10
    for k in range(len(weights)):
        drive = torch.nn.functional.linear(frames.flatten(0, 1), weights[k], biases[k])  # Eq. 11, W o + b
        negated = torch.mm(decay_matrix, drive.view(frames.shape[0], -1)).view(frames.shape[0], frames.shape[1], -1)
        _lif_loop(negated, bound, voltage_decay)  # Eq. 11-12
        frames = _lif_spikes(negated, threshold)  # Eq. 13
    return population_readout(frames, decoder_weight, decoder_bias)  # Eq. 14-16
