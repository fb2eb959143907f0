"""State of a spiking network that lives outside its parameters, saved and restored with its ``state_dict``.

Surrogates are plain Python objects held by the neuron modules, so a scheduled sharpness (see
:mod:`sb3_spiking.snn.schedules`) is not a parameter or buffer; neither are run modes such as CVTC's inference mode.
:class:`ExtraStateMixin` puts both into the module's ``_extra_state`` entry as plain values (dicts, lists, strings,
floats), which ``torch.load(weights_only=True)`` accepts, and tolerates state dicts saved without that entry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from sb3_spiking.snn.schedules import iter_surrogates

EXTRA_STATE_KEY = "_extra_state"
"""Suffix of the state-dict key that :meth:`torch.nn.Module.get_extra_state` fills."""


def _keep_current_extra_state(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook: a state dict saved without extra state leaves the current one (strict loads pass)."""
    state_dict.setdefault(prefix + EXTRA_STATE_KEY, module.get_extra_state())


class ExtraStateMixin:
    """
    Mixin for an ``nn.Module`` (put it before the module class in the bases): its ``state_dict`` also holds the
    parameters of every surrogate in :func:`~sb3_spiking.snn.schedules.iter_surrogates` order, and the modes named in
    :attr:`saved_modes`; ``load_state_dict`` puts them back, or keeps the current ones when the entry is missing.

    :param args: positional arguments of the module class
    :param kwargs: keyword arguments of the module class
    """

    saved_modes: ClassVar[tuple[str, ...]] = ()
    """Attributes saved as plain values and restored by calling ``self.set_<name>(value)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_load_state_dict_pre_hook(_keep_current_extra_state)  # type: ignore[attr-defined]

    def get_extra_state(self) -> dict[str, Any]:
        """
        :return: ``{"surrogates": [surrogate.to_dict(), ...], "modes": {name: value}}``
        """
        surrogates = [surrogate.to_dict() for surrogate in iter_surrogates(self)]  # type: ignore[arg-type]
        return {"surrogates": surrogates, "modes": {name: getattr(self, name) for name in self.saved_modes}}

    def set_extra_state(self, state: Any) -> None:
        """
        :param state: what :meth:`get_extra_state` returned for a module built with the same arguments
        """
        if not isinstance(state, dict) or set(state) != {"surrogates", "modes"}:
            raise ValueError(f"extra state must be a dict with keys 'surrogates' and 'modes', got {state!r}")
        surrogates = list(iter_surrogates(self))  # type: ignore[arg-type]
        if len(state["surrogates"]) != len(surrogates):
            raise ValueError(
                f"the saved state holds {len(state['surrogates'])} surrogates, "
                f"{type(self).__name__} has {len(surrogates)}: was it built with other arguments?"
            )
        for surrogate, spec in zip(surrogates, state["surrogates"], strict=True):
            surrogate.load_dict(spec)
        unknown = set(state["modes"]) - set(self.saved_modes)
        if unknown:
            raise ValueError(f"the saved state holds modes {sorted(unknown)} unknown to {type(self).__name__}")
        for name, value in state["modes"].items():
            getattr(self, f"set_{name}")(value)
