"""Energy per decision of a trained agent (run folder, agent folder or hub repo id), beside its equivalent ANN.

Synaptic operations and multiply-accumulates of the network that acts are counted with deterministic actions in the
agent's env (``sb3_spiking.energy.estimate``). Examples::

    sb3-spiking energy trained_agents/td3-SpikingPopPolicy-Pendulum-v1
    sb3-spiking energy logs/recurrent_td3/Pendulum-P-v0_1 --n-decisions 4096 --json energy.json
    sb3-spiking energy trained_agents/qmix-grsn-simple_spread_v3 --networks all
    sb3-spiking energy --repo-id sb3-spiking/td3-SpikingPopPolicy-Pendulum-v1 --ac-pj 0.03 --mac-pj 0.2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The agent to load, as ``sb3-spiking enjoy`` takes it (shared with ``sb3-spiking export``).

    :param parser: a command's parser
    """
    parser.add_argument("folder", nargs="?", help="run folder <log>/<algo>/<env>_<n> or agent folder")
    parser.add_argument("--repo-id", help="load ORG/NAME from the Hugging Face Hub instead of a folder")
    parser.add_argument("--revision", help="hub revision (branch, tag or commit)")
    parser.add_argument("--checkpoint", default="latest", choices=["latest", "final", "best"],
                        help="model of a run folder: final else newest checkpoint (latest), final, best")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the env")
    parser.add_argument("--device", default="cpu", help="torch device")


def load_source(args: argparse.Namespace) -> tuple[Any, Any]:
    """
    :param args: arguments parsed with :func:`add_source_arguments`
    :return: the model and its env
    """
    from sb3_spiking.cli.enjoy import load

    if bool(args.folder) == bool(args.repo_id):
        raise ValueError("give either a FOLDER or --repo-id ORG/NAME")
    return load(args)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the parser of ``sb3-spiking energy``"""
    add_source_arguments(parser)
    parser.add_argument("-n", "--n-decisions", type=int, default=1024, help="decisions to count (default 1024)")
    parser.add_argument("--ac-pj", type=float, default=0.9, help="pJ per accumulate (default 0.9: 45 nm, 32-bit)")
    parser.add_argument("--mac-pj", type=float, default=4.6, help="pJ per multiply-accumulate (default 4.6)")
    parser.add_argument("--networks", default="actor", choices=["actor", "all"],
                        help="actor: the network that acts (default); all: also the critics / value path / mixer "
                        "used in training, one evaluation per env step")  # fmt: skip
    parser.add_argument("--json", metavar="PATH", help="also write the report's to_dict() as JSON")


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: exit status
    """
    from sb3_spiking.energy import estimate

    model, env = load_source(args)
    report = estimate(
        model,
        env,
        n_decisions=args.n_decisions,
        ac_pj=args.ac_pj,
        mac_pj=args.mac_pj,
        seed=args.seed,
        networks=args.networks,
    )
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return 0
