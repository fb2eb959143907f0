"""
Energy per decision of spiking policies, counted on rollouts (synaptic operations of spiking inputs, dense
multiply-accumulates of real-valued ones; seed 003 section 5.4), beside the ANN each one replaces.

- :func:`estimate`: ``estimate(model, env) -> EnergyReport``;
- :class:`EnergyReport`, :class:`LayerEnergy`: the result (``str(report)`` a table, ``to_dict()`` plain values).
"""

from sb3_spiking.energy.count import estimate
from sb3_spiking.energy.report import CONVENTION, EnergyReport, LayerEnergy

__all__ = ["CONVENTION", "EnergyReport", "LayerEnergy", "estimate"]
