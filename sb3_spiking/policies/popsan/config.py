"""The settings of the Pop-SAN / MDC-SAN spiking actor, declared, defaulted and validated once (seed 000,
section II): the network, the TD3 policy and the SAC policy all take a :class:`PopSANConfig`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sb3_spiking.snn.coding import PopulationEncoder
from sb3_spiking.snn.surrogate import SurrogateLike, make
from sb3_spiking.validation import check_choice, check_float, check_int, check_sizes

NEURONS = ("lif", "dynamic")
DEFAULT_ENCODER = {"lif": "deterministic", "dynamic": "real"}
DYNAMIC_PARAMS = ("theta_v", "theta_u", "theta_r", "theta_s", "u_sign")


@dataclasses.dataclass(frozen=True)
class PopSANConfig:
    """
    Settings of the population-coded spiking actor. Every value is checked on construction (a bad one raises
    ``TypeError`` / ``ValueError`` naming the setting) and stored as a plain value, so ``dataclasses.asdict``
    is what SB3 saves with the policy; the policies take these settings as flat ``policy_kwargs``.

    :param neuron: ``"lif"`` (Pop-SAN, current-based LIF) or ``"dynamic"`` (MDC-SAN)
    :param encoder: ``"deterministic"``, ``"bernoulli"`` or ``"real"`` (aliases ``"probabilistic"``, ``"none"``);
        ``None`` picks the neuron's default (deterministic for lif, real for dynamic)
    :param spike_ts: timesteps T per observation
    :param encoder_pop_dim: encoder neurons per observation dimension (at least 2)
    :param decoder_pop_dim: output neurons per action dimension
    :param mean_range: ``(low, high)``, initial span of the encoder's receptive field centres
    :param encoder_std: initial receptive field width
    :param hidden_sizes: sizes of the hidden spiking layers (at least one)
    :param surrogate: surrogate spike function (name, dict or instance; stored as a dict, each layer gets its own)
    :param current_decay: ``d_c`` of both neuron types, in [0, 1]
    :param voltage_decay: ``d_v`` of the LIF neuron, in [0, 1]
    :param threshold: firing threshold of both neuron types, positive
    :param dynamic_params: ``theta_v``, ``theta_u``, ``theta_r``, ``theta_s``, ``u_sign`` of the dynamic neuron
        (only with ``neuron="dynamic"``; see :class:`~sb3_spiking.snn.neurons.DynamicNeuron`)
    """

    neuron: str = "lif"
    encoder: str | None = None
    spike_ts: int = 5
    encoder_pop_dim: int = 10
    decoder_pop_dim: int = 10
    mean_range: tuple[float, float] = (-3.0, 3.0)
    encoder_std: float = 0.15**0.5
    hidden_sizes: tuple[int, ...] = (256, 256)
    surrogate: SurrogateLike = "rectangular"
    current_decay: float = 0.5
    voltage_decay: float = 0.75
    threshold: float = 0.5
    dynamic_params: dict[str, float] | None = None

    def __post_init__(self) -> None:
        neuron = check_choice("neuron", self.neuron, NEURONS)
        encoder = DEFAULT_ENCODER[neuron] if self.encoder is None else self.encoder
        if not isinstance(encoder, str):
            raise TypeError(f"encoder must be a string or None, got {encoder!r} ({type(encoder).__name__})")
        self._set("encoder", PopulationEncoder.resolve_mode(encoder))
        self._set("spike_ts", check_int("spike_ts", self.spike_ts, minimum=1))
        PopulationEncoder.check_spike_ts(self.spike_ts, self.encoder)
        self._set("encoder_pop_dim", check_int("encoder_pop_dim", self.encoder_pop_dim, minimum=2))
        self._set("decoder_pop_dim", check_int("decoder_pop_dim", self.decoder_pop_dim, minimum=1))
        self._set("mean_range", self._check_mean_range(self.mean_range))
        self._set("encoder_std", check_float("encoder_std", self.encoder_std, minimum=0.0, strict=True))
        self._set("hidden_sizes", tuple(check_sizes("hidden_sizes", self.hidden_sizes, allow_empty=False)))
        try:
            surrogate = make(self.surrogate).to_dict()
        except (TypeError, ValueError) as err:
            raise type(err)(f"surrogate: {err}") from err
        self._set("surrogate", surrogate)
        self._set("current_decay", check_float("current_decay", self.current_decay, 0.0, 1.0))
        self._set("voltage_decay", check_float("voltage_decay", self.voltage_decay, 0.0, 1.0))
        self._set("threshold", check_float("threshold", self.threshold, minimum=0.0, strict=True))
        self._set("dynamic_params", self._check_dynamic_params(self.dynamic_params, neuron))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @staticmethod
    def _check_mean_range(value: Any) -> tuple[float, float]:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise TypeError(f"mean_range must be a (low, high) pair of numbers, got {value!r}")
        low, high = (check_float(f"mean_range[{i}]", bound) for i, bound in enumerate(value))
        if not low < high:
            raise ValueError(f"mean_range must be increasing (low < high), got {value!r}")
        return low, high

    @staticmethod
    def _check_dynamic_params(value: Any, neuron: str) -> dict[str, float] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TypeError(f"dynamic_params must be a dict with keys {DYNAMIC_PARAMS} or None, got {value!r}")
        if neuron != "dynamic":
            raise ValueError(f"dynamic_params is only for neuron='dynamic', got neuron={neuron!r}")
        unknown = sorted(set(value) - set(DYNAMIC_PARAMS))
        if unknown:
            raise ValueError(f"dynamic_params takes the keys {DYNAMIC_PARAMS}, got unknown keys {unknown}")
        params = {key: check_float(f"dynamic_params[{key!r}]", val) for key, val in value.items()}
        if params.get("u_sign", 1.0) not in (1.0, -1.0):
            raise ValueError(f"dynamic_params['u_sign'] must be 1 or -1, got {params['u_sign']}")
        return params

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> PopSANConfig:
        """
        The config from a policy's flat keyword arguments.

        :param kwargs: spiking settings by name (the fields of this class)
        :return: the validated config
        """
        unknown = sorted(set(kwargs) - set(cls.field_names()))
        if unknown:
            raise TypeError(f"unknown keyword arguments {unknown}; the spiking settings are {list(cls.field_names())}")
        return cls(**kwargs)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the settings."""
        return tuple(field.name for field in dataclasses.fields(cls))

    def as_kwargs(self) -> dict[str, Any]:
        """The settings as plain values (``dataclasses.asdict``), what SB3 saves and :meth:`from_kwargs` takes."""
        return dataclasses.asdict(self)
