"""The Pop-SAN / MDC-SAN spiking actor network (seed 000, section II): population encoder, spiking layers,
population decoder."""

from __future__ import annotations

import itertools
from typing import Any

from torch import Tensor, nn

from sb3_spiking.policies.popsan.config import PopSANConfig
from sb3_spiking.snn.coding import PopulationDecoder, PopulationEncoder
from sb3_spiking.snn.neurons import CurrentLIF, DynamicNeuron
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
        frames = obs
        for k, (layer, neuron) in enumerate(zip(self.layers, self.neurons, strict=True)):
            if k == 0:
                drive = self.encoder.linear_drive(obs, layer)
            else:
                drive = layer(frames.flatten(0, 1)).view(*frames.shape[:2], -1)  # Eq. 11, W o + b
            frames = neuron(drive)
        return self.decoder(frames)
