"""Plot learning curves of run folders: mean evaluation return across seeds with a std band per variant.

Every run folder under the given folders (one holding ``evaluations.npz``) is one curve point set; runs are grouped
by variant: the sweep's variant folder by default, or a config key (``--group-by policy_kwargs.surrogate``). Writes
``FILE.png``, ``FILE.svg`` and ``FILE.md`` (final and best mean return per variant with seed counts). Example::

    sb3-spiking plot logs/sweep -o surrogates.png --group-by policy_kwargs.surrogate
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sb3_spiking.zoo import LITERAL_KEYS, parse_literal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``plot`` parser"""
    parser.add_argument("folders", nargs="+", metavar="LOGDIR", help="folders holding run folders (searched deeply)")
    parser.add_argument("--group-by", metavar="KEY", help="config key naming the variant (dotted for a dict entry; "
                        "default: the sweep's variant folder, else the run folder)")  # fmt: skip
    parser.add_argument("-o", "--output", default="curves.png", help="PNG file; the SVG and the .md table go beside")
    parser.add_argument("--title", help="figure title (default: algorithm and env)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


@dataclass
class Curve:
    """
    The evaluations of one run.

    :param run: the run folder
    :param variant: its group
    :param steps: env steps of the evaluations
    :param returns: mean return of each evaluation (over its episodes)
    :param label: algorithm and env of the run
    """

    run: Path
    variant: str
    steps: np.ndarray
    returns: np.ndarray
    label: str


def config_value(config: dict[str, Any], key: str) -> Any:
    """
    :param config: a run's ``config.yml``
    :param key: ``name`` or ``name.sub.key``
    :return: the value (literal strings parsed); ``KeyError`` naming the key when absent
    """
    value: Any = config
    for i, name in enumerate(key.split(".")):
        if isinstance(value, str) and i > 0:
            value = parse_literal(value)
        if not isinstance(value, dict) or name not in value:
            known = sorted(value) if isinstance(value, dict) else []
            raise KeyError(f"{key!r} is not in the run's config.yml (keys there: {known})")
        value = value[name]
        if i == 0 and name in LITERAL_KEYS and isinstance(value, str):
            value = parse_literal(value)
    return value


def read_curves(folders: list[str], group_by: str | None = None) -> list[Curve]:
    """
    :param folders: folders searched for run folders (``evaluations.npz`` beside a ``<env>/args.yml``)
    :param group_by: config key naming the variant, ``None`` for the sweep's variant folder
    :return: one curve per run
    """
    from sb3_spiking.cli.common import find_run

    curves = []
    for root in map(Path, folders):
        if not root.is_dir():
            raise FileNotFoundError(f"log folder {str(root)!r} does not exist")
        for npz in sorted(root.rglob("evaluations.npz")):
            run = find_run(npz.parent)
            data = np.load(npz)
            if len(data["timesteps"]) == 0:
                continue
            if group_by:
                try:
                    variant = str(config_value(run.config, group_by))
                except KeyError as error:
                    raise ValueError(f"--group-by in {run.path}: {error.args[0]}") from None
            else:
                parts = run.path.relative_to(root).parts
                # <variant>/seed_<s>/<algo>/<env>_<n> from a sweep, else the run folder's path under its log folder
                sweep = len(parts) >= 4 and parts[1].startswith("seed_")
                variant = parts[0] if sweep else "/".join(parts) or run.path.name
            returns = data["results"].mean(axis=1)
            curves.append(Curve(run.path, variant, data["timesteps"], returns, f"{run.algo} on {run.env_id}"))
    if not curves:
        raise FileNotFoundError(f"no run folder with evaluations.npz under {folders}")
    return curves


def summarise(curves: list[Curve]) -> dict[str, dict[str, Any]]:
    """
    Per variant: the mean curve across seeds on the evaluation steps that all its runs reached, and the final /
    best returns (each run's last / highest evaluation, then mean and std across runs).

    :param curves: the runs
    :return: variant -> ``steps``, ``mean``, ``std``, ``final``, ``final_std``, ``best``, ``best_std``, ``seeds``
    """
    groups: dict[str, list[Curve]] = defaultdict(list)
    for curve in curves:
        groups[curve.variant].append(curve)
    summary = {}
    for variant, runs in sorted(groups.items()):
        n = min(len(c.steps) for c in runs)
        table = np.stack([c.returns[:n] for c in runs])
        finals = np.array([c.returns[-1] for c in runs])
        bests = np.array([c.returns.max() for c in runs])
        summary[variant] = {
            "steps": runs[0].steps[:n],
            "mean": table.mean(axis=0),
            "std": table.std(axis=0),
            "final": float(finals.mean()),
            "final_std": float(finals.std()),
            "best": float(bests.mean()),
            "best_std": float(bests.std()),
            "seeds": len(runs),
            "last_step": int(max(c.steps[-1] for c in runs)),
        }
    return summary


def markdown_table(summary: dict[str, dict[str, Any]], group_by: str | None) -> str:
    """
    :param summary: from :func:`summarise`
    :param group_by: the grouping key (table header)
    :return: the table: final and best mean evaluation return per variant, mean +/- std across seeds
    """
    lines = [
        f"| {group_by or 'variant'} | seeds | env steps | final return | best return |",
        "|---|---|---|---|---|",
    ]
    for variant, s in summary.items():
        lines.append(f"| {variant} | {s['seeds']} | {s['last_step']} | {s['final']:.2f} +/- {s['final_std']:.2f} "
                     f"| {s['best']:.2f} +/- {s['best_std']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, dict[str, Any]], output: Path, title: str, group_by: str | None) -> list[Path]:
    """
    :param summary: from :func:`summarise`
    :param output: the PNG file (the SVG goes beside it)
    :param title: figure title
    :param group_by: legend title
    :return: the files written
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot needs matplotlib: pip install 'sb3-spiking[plot]'") from None
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for i, (variant, s) in enumerate(summary.items()):
        label = f"{variant} ({s['seeds']} seed{'s' * (s['seeds'] > 1)})"
        (line,) = ax.plot(s["steps"], s["mean"], label=label, gid=f"curve_{i}")
        ax.fill_between(s["steps"], s["mean"] - s["std"], s["mean"] + s["std"], color=line.get_color(), alpha=0.2,
                        gid=f"band_{i}")  # fmt: skip
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return (mean over episodes)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    ax.legend(title=group_by or "variant", fontsize="small", title_fontsize="small")
    files = [output, output.with_suffix(".svg")]
    for path in files:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return files


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: 0
    """
    output = Path(args.output)
    if output.suffix.lower() != ".png":
        raise ValueError(f"--output must be a .png file (the .svg and .md go beside it), got {str(output)!r}")
    files = [output, output.with_suffix(".svg"), output.with_suffix(".md")]
    existing = [str(p) for p in files if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{existing} exist; pass --overwrite to replace them")
    curves = read_curves(args.folders, args.group_by)
    summary = summarise(curves)
    title = args.title or ", ".join(sorted({c.label for c in curves}))
    output.parent.mkdir(parents=True, exist_ok=True)
    plot(summary, output, title, args.group_by)
    table = markdown_table(summary, args.group_by)
    files[2].write_text(table)
    print(table, end="")
    print(f"wrote {', '.join(map(str, files))}")
    return 0
