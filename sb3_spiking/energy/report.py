"""The result of an energy estimate: per-layer operation counts, totals, and the equivalent ANN beside them."""

from __future__ import annotations

import dataclasses
from typing import Any

CONVENTION = (
    "Synaptic operations (SOP) as NeuroBench and seed 003 count them (Eq. 15): one accumulate (AC) per input spike per "
    "fan-out synapse, summed over time steps; layers on real-valued inputs (encoders, a first layer fed by real "
    "currents, gates on real inputs, decoders, embeddings, MLP heads, non-spiking recurrent weights) cost one "
    "multiply-accumulate (MAC) per synapse and evaluation (Eq. 16). Neuron state updates, biases and activation "
    "functions are not counted. Energies per operation: 45 nm, 32-bit float (Horowitz 2014)."
)


@dataclasses.dataclass(frozen=True)
class LayerEnergy:
    """
    Operations of one layer per decision.

    :param name: the layer (its module path in the network, or a description)
    :param inputs: what the layer receives: ``"spikes"``, ``"real"`` or ``"spikes+real"`` (a layer fed by both)
    :param firing_rate: fraction of its spiking inputs that carried a spike, over neurons and time steps
        (``None`` for real-valued inputs)
    :param sops: synaptic operations (accumulates) per decision
    :param macs: multiply-accumulates per decision
    :param energy_pj: energy per decision in pJ
    """

    name: str
    inputs: str
    firing_rate: float | None
    sops: float
    macs: float
    energy_pj: float


@dataclasses.dataclass(frozen=True)
class EnergyReport:
    """
    Energy per decision of a policy network, counted on rollouts, and of the ANN it replaces.

    :param network: what was counted (family and network, e.g. ``"SpikingPopPolicy actor (Pop-SAN, lif)"``)
    :param decisions: number of decisions (network evaluations on one observation) counted
    :param layers: the spiking network's layers
    :param ann: the equivalent ANN's description (e.g. ``"MLP actor [3, 64, 64, 1]"``)
    :param ann_layers: the equivalent ANN's layers (all dense)
    :param ac_pj: energy of one accumulate (pJ)
    :param mac_pj: energy of one multiply-accumulate (pJ)
    :param networks: what was counted: ``"actor"`` (the network that acts at deployment) or ``"all"`` (also the
        networks used only in training, one evaluation per env step)
    """

    network: str
    decisions: int
    layers: tuple[LayerEnergy, ...]
    ann: str
    ann_layers: tuple[LayerEnergy, ...]
    ac_pj: float
    mac_pj: float
    networks: str = "actor"

    @property
    def sops(self) -> float:
        """Synaptic operations per decision."""
        return sum(layer.sops for layer in self.layers)

    @property
    def macs(self) -> float:
        """Multiply-accumulates per decision."""
        return sum(layer.macs for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        """Energy per decision (pJ)."""
        return sum(layer.energy_pj for layer in self.layers)

    @property
    def ann_macs(self) -> float:
        """Multiply-accumulates per decision of the equivalent ANN."""
        return sum(layer.macs for layer in self.ann_layers)

    @property
    def ann_energy_pj(self) -> float:
        """Energy per decision of the equivalent ANN (pJ)."""
        return sum(layer.energy_pj for layer in self.ann_layers)

    @property
    def ratio(self) -> float:
        """Energy of the spiking network over that of the equivalent ANN."""
        return self.energy_pj / self.ann_energy_pj if self.ann_energy_pj > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready), for model cards and result files."""
        return {
            "network": self.network,
            "networks": self.networks,
            "decisions": self.decisions,
            "ac_pj": self.ac_pj,
            "mac_pj": self.mac_pj,
            "sops_per_decision": self.sops,
            "macs_per_decision": self.macs,
            "energy_pj_per_decision": self.energy_pj,
            "ann": self.ann,
            "ann_macs_per_decision": self.ann_macs,
            "ann_energy_pj_per_decision": self.ann_energy_pj,
            "ratio": self.ratio,
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
            "ann_layers": [dataclasses.asdict(layer) for layer in self.ann_layers],
            "convention": CONVENTION,
        }

    def to_markdown(self) -> str:
        """A short paragraph for a model card."""
        return (
            f"Energy per decision: {self.energy_pj:,.0f} pJ ({self.sops:,.0f} synaptic operations x {self.ac_pj} pJ + "
            f"{self.macs:,.0f} MACs x {self.mac_pj} pJ, counted over {self.decisions} decisions of the deterministic "
            f"policy in its env), {self.ratio:.1%} of the {self.ann_energy_pj:,.0f} pJ of the equivalent {self.ann}. "
            f"Synaptic operations as NeuroBench and seed 003 count them, 45 nm 32-bit figures (Horowitz 2014); "
            f"measured with `sb3_spiking.energy.estimate`."
        )

    def __str__(self) -> str:
        rows = [("layer", "inputs", "firing rate", "SOPs", "MACs", "energy (pJ)")]
        for layer in self.layers:
            rate = "-" if layer.firing_rate is None else f"{layer.firing_rate:.3f}"
            rows.append((layer.name, layer.inputs, rate, f"{layer.sops:,.1f}", f"{layer.macs:,.0f}",
                         f"{layer.energy_pj:,.1f}"))  # fmt: skip
        rows.append(("total", "", "", f"{self.sops:,.1f}", f"{self.macs:,.0f}", f"{self.energy_pj:,.1f}"))
        for layer in self.ann_layers:
            rows.append((f"ANN {layer.name}", layer.inputs, "-", "0", f"{layer.macs:,.0f}", f"{layer.energy_pj:,.1f}"))
        rows.append(("ANN total", "", "", "0", f"{self.ann_macs:,.0f}", f"{self.ann_energy_pj:,.1f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            f"Energy per decision of {self.network} over {self.decisions} decisions "
            f"(AC {self.ac_pj} pJ, MAC {self.mac_pj} pJ)",
        ]
        for i, row in enumerate(rows):
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
            cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
            lines.append("  ".join(cells).rstrip())
            if i == 0 or row[0] == "total":
                lines.append("  ".join("-" * w for w in widths))
        lines.append(
            f"{self.energy_pj:,.1f} pJ per decision, {self.ratio:.1%} of the equivalent {self.ann} "
            f"({self.ann_energy_pj:,.1f} pJ)"
        )
        lines.append(CONVENTION)
        return "\n".join(lines)
