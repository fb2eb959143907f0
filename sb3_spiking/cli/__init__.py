"""
The ``sb3-spiking`` command line (also ``python -m sb3_spiking``): one subcommand per module in :data:`COMMANDS`.

Every command module defines ``add_arguments(parser)`` and ``run(args) -> int``; the first line of its docstring is
its help text. Only the module of the command that runs is imported, so a missing optional extra (ray, nir,
matplotlib) breaks its own command only.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "train": "sb3_spiking.cli.train",
    "enjoy": "sb3_spiking.cli.enjoy",
    "evaluate": "sb3_spiking.cli.enjoy",
    "sweep": "sb3_spiking.cli.sweep",
    "plot": "sb3_spiking.cli.plot",
    "tune": "sb3_spiking.cli.tune",
    "push": "sb3_spiking.cli.hub_push",
    "pull": "sb3_spiking.cli.hub_pull",
    "energy": "sb3_spiking.cli.energy",
    "export": "sb3_spiking.cli.export",
}


def command_help(module_name: str) -> str:
    """
    :param module_name: a command module
    :return: the first line of its docstring, read from the source without importing it
    """
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return "(not installed)"
    with open(spec.origin, encoding="utf-8") as f:
        docstring = ast.get_docstring(ast.parse(f.read())) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else ""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run one subcommand.

    :param argv: the arguments after the program name, ``None`` for ``sys.argv[1:]``
    :return: the exit status
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    epilog = "commands:\n" + "\n".join(f"  {name:<10} {command_help(module)}" for name, module in COMMANDS.items())
    top = argparse.ArgumentParser(
        prog="sb3-spiking",
        description="Train, evaluate, sweep, plot and tune spiking agents (rl_zoo3 underneath).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("command", metavar="COMMAND", help=f"one of {', '.join(COMMANDS)}")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; allowed: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[name])
    parser = argparse.ArgumentParser(prog=f"sb3-spiking {name}", description=module.__doc__)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    args.command = name
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as error:  # bad input: no traceback
        print(f"sb3-spiking {name}: error: {error}", file=sys.stderr)
        return 2
