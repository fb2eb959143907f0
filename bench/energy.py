"""Energy per decision of every spiking family beside the ANN it replaces, like seed 003's Table 4 (benchmark, not CI).

Rows: GRSN vs GRU on the four POMDP tasks (RecurrentTD3 on Pendulum-P/V, RecurrentDQN on CartPole-P/V, and the
RecurrentPPO GRSN agent on CartPole-P), Pop-SAN vs the MLP actor on HalfCheetah-v5 (both neurons) and Pendulum-v1
(TD3 with each surrogate, SAC), CVTC vs the MLP Q-network on CartPole-v1 (DQN, DoubleDQN), QMIX GRSN vs GRU agents on
simple_spread. Each row is measured with ``sb3_spiking.energy.estimate`` (deterministic rollouts, ``--n-decisions``
decisions) on a trained agent when one is found (the packaged ``trained_agents/`` and the ``--agents`` folders: hub
layout or rl_zoo3 run folders; a row that names an agent folder takes only that one), else, with ``--untrained``, on
the zoo config's model at its initial weights (marked "untrained": the dense part of the count is exact, the spike
counts are not those of a trained agent). The GRU / MLP column is the equivalent ANN at the same widths, counted the
same way (its count does not depend on the weights). The next column adds the networks used only in training
(``networks="all"``: critics, value path, mixer, one evaluation per env step), as seed 003 counts actor and critics.

Example::

    python bench/energy.py --untrained --n-decisions 1024 --out bench/results/energy.md
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import yaml
from learn_qmix import load_config, make_env
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_spiking  # noqa: F401  (registers the policies and the POMDP ids)
from sb3_spiking.cli.common import config_name, find_run, load_run
from sb3_spiking.energy import EnergyReport, estimate
from sb3_spiking.marl import QMIX
from sb3_spiking.resources import data_dir
from sb3_spiking.zoo import load_entry

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Row:
    """
    One comparison: the spiking agent to measure (env, algorithm, spiking variant, and optionally the one agent
    folder to take), and seed 003's GRU / GRSN energies (KpJ) where it has them.
    """

    task: str
    env_id: str
    algo: str
    variant: str
    hyperparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed_ann_kpj: float | None = None
    seed_snn_kpj: float | None = None
    agent: str | None = None


SMALL_BUFFER = {"buffer_size": 1000}  # untrained models need no replay memory
ROWS = [
    Row("PO control", "Pendulum-P-v0", "recurrent_td3", "grsn", SMALL_BUFFER, 1164.22, 506.44),
    Row("PO control", "Pendulum-V-v0", "recurrent_td3", "grsn", SMALL_BUFFER, 1163.56, 507.07),
    Row("PO control", "CartPole-P-v0", "recurrent_dqn", "grsn", SMALL_BUFFER, 1165.85, 505.91),
    Row("PO control", "CartPole-V-v0", "recurrent_dqn", "grsn", SMALL_BUFFER, 1165.85, 505.60),
    Row("PO control", "CartPole-P-v0", "recurrentppo", "grsn", {}, 1165.85, 505.91),
    Row("Pop-SAN", "HalfCheetah-v5", "td3", "lif", SMALL_BUFFER),
    Row("Pop-SAN", "Pendulum-v1", "td3", "lif", SMALL_BUFFER, agent="td3-SpikingPopPolicy-Pendulum-v1"),
    Row("Pop-SAN", "Pendulum-v1", "td3", "lif", SMALL_BUFFER, agent="td3-SpikingPopPolicy-rectangular-Pendulum-v1"),
    Row("Pop-SAN", "Pendulum-v1", "sac", "lif", SMALL_BUFFER),
    Row("MDC-SAN", "HalfCheetah-v5", "td3", "dynamic",
        {**SMALL_BUFFER, "policy_kwargs.neuron": "dynamic", "policy_kwargs.encoder": "real"}),
    Row("CVTC", "CartPole-v1", "dqn", "cvtc", {**SMALL_BUFFER, "policy_kwargs.compile_network": False}),
    Row("CVTC", "CartPole-v1", "ddqn", "cvtc", {**SMALL_BUFFER, "policy_kwargs.compile_network": False}),
    Row("QMIX", "simple_spread_v3", "qmix", "grsn"),
    Row("QMIX (ANN reference)", "simple_spread_v3", "qmix", "gru"),
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Agent:
    """A trained agent found on disk, loaded with its evaluation env."""

    folder: Path
    env_id: str
    algo: str
    variant: str
    model: BaseAlgorithm
    env: Any


def variant(model: BaseAlgorithm) -> str:
    """:return: the spiking variant of a model: its core or cell, its Pop-SAN neuron, ``"cvtc"``, or ``"ann"``"""
    policy = model.policy
    if isinstance(model, QMIX):
        return model.agent
    for name in ("core", "cell"):  # recurrent off-policy cores, RecurrentPPO cells
        if isinstance(getattr(policy, name, None), str):
            return getattr(policy, name)
    if hasattr(policy, "config") and hasattr(policy.config, "neuron"):
        return policy.config.neuron
    return "cvtc" if type(policy).__name__ == "CVTCPolicy" else "ann"


def trained_agents(folders: list[Path]) -> list[Agent]:
    """:return: the agents found, loaded"""
    found = []
    for folder in sorted(folders):
        model, env = load_run(folder, device="cpu", seed=0)
        if (folder / "config.yml").is_file():  # hub layout
            config = yaml.safe_load((folder / "config.yml").read_text())
            env_id, algo = config["env_id"], config["algo"]
        else:
            run = find_run(folder)
            env_id, algo = run.env_id, run.algo
        env_id = env_id.split(":")[-1].split(".")[-1]  # "mpe2:simple_spread_v3" -> "simple_spread_v3"
        found.append(Agent(folder, env_id, config_name(algo), variant(model), model, env))
    return found


def matching(row: Row, agents: list[Agent]) -> Agent | None:
    """:return: the first agent of ``row``'s env, algorithm and variant (and folder, if the row names one)"""
    for agent in agents:
        if (agent.env_id, agent.algo, agent.variant) == (row.env_id, row.algo, row.variant) and (
            row.agent is None or agent.folder.name == row.agent
        ):
            return agent
    return None


def untrained(row: Row) -> tuple[BaseAlgorithm, Any]:
    """:return: the zoo config's model of ``row`` at its initial weights, and an evaluation env"""
    if row.algo == "qmix":
        config = load_config(ROOT / "zoo_configs" / "qmix.yml", row.env_id)
        hyper = {k: v for k, v in config.items() if k not in ("env_module", "env_kwargs", "n_timesteps", "agent")}
        return QMIX(row.variant, make_env(config), seed=0, device="cpu", **hyper), make_env(config)
    entry = load_entry(row.algo, row.env_id, hyperparams=row.hyperparams)
    env = entry.make_env(n_envs=1, seed=0, training=False)
    return entry.make_model(env=env, seed=0, device="cpu"), env


def table_row(row: Row, source: str, report: EnergyReport | None, everything: EnergyReport | None = None) -> str:
    """
    :param report: the acting network's count (``networks="actor"``)
    :param everything: the count with the networks used only in training (``networks="all"``)
    """
    seed = "-"
    if row.seed_ann_kpj is not None:
        seed = f"{row.seed_ann_kpj:.0f} / {row.seed_snn_kpj:.0f} ({row.seed_snn_kpj / row.seed_ann_kpj:.0%})"
    if report is None:
        return f"| {row.task} | {row.env_id} | {row.algo} {row.variant} | missing |{' - |' * 7} {seed} |"
    rates = [layer.firing_rate for layer in report.layers if layer.firing_rate is not None]
    rate = f"{sum(rates) / len(rates):.3f}" if rates else "-"
    total = "-"
    if everything is not None and everything.layers != report.layers:
        total = f"{everything.energy_pj / 1e3:.1f} / {everything.ann_energy_pj / 1e3:.1f} ({everything.ratio:.0%})"
    return (
        f"| {row.task} | {row.env_id} | {row.algo} {row.variant} | {source} | {rate} | {report.sops / 1e3:.2f} | "
        f"{report.macs / 1e3:.2f} | {report.energy_pj / 1e3:.1f} | {report.ann} | {report.ann_energy_pj / 1e3:.1f} "
        f"({report.ratio:.0%}) | {total} | {seed} |"
    )


def measure(row: Row, source: str, model: BaseAlgorithm, env: Any, n_decisions: int) -> str:
    """:return: the table row of ``model``: the acting network, then all its networks (the same rollout seed)"""
    report = estimate(model, env, n_decisions=n_decisions)
    return table_row(row, source, report, estimate(model, env, n_decisions=n_decisions, networks="all"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="*", default=[], help="more agent or run folders to measure")
    parser.add_argument("--untrained", action="store_true", help="measure missing agents at their initial weights")
    parser.add_argument("--n-decisions", type=int, default=1024, help="decisions counted per agent")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    packaged = [p for p in data_dir("trained_agents").iterdir() if (p / "config.yml").is_file()]
    agents = trained_agents(packaged + [Path(p) for p in args.agents])
    lines = [
        f"`python bench/energy.py{' --untrained' if args.untrained else ''} --n-decisions {args.n_decisions}`",
        "",
        "| task | env | spiking network | agent | mean input firing rate | SOPs (K) | MACs (K) | energy (KpJ) | "
        "equivalent ANN | ANN energy (KpJ) (SNN / ANN) | with the training networks: SNN / ANN (KpJ) | "
        "seed 003 GRU / GRSN (KpJ) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    used = set()
    for row in ROWS:
        agent = matching(row, agents)
        if agent is not None:
            model, env, source = agent.model, agent.env, f"trained (`{agent.folder.name}`)"
            used.add(agent.folder)
        elif args.untrained:
            (model, env), source = untrained(row), "untrained"
        else:
            lines.append(table_row(row, "missing", None))
            continue
        lines.append(measure(row, source, model, env, args.n_decisions))
        print(lines[-1], flush=True)
    for agent in agents:
        if agent.folder not in used:
            row = Row("other", agent.env_id, agent.algo, agent.variant)
            lines.append(measure(row, f"trained (`{agent.folder.name}`)", agent.model, agent.env, args.n_decisions))
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
