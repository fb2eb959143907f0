"""
The sweep runner of the bench scripts (:func:`run_grid`: every run in its own spawned process, results appended as
JSON lines, a failed run reported with its traceback while the others go on), its output (:func:`read_jsonl`) and
zoo overrides given as nested JSON (:func:`flatten`). Their one evaluation path is ``bench/evaluation.py``. The
scripts import both as top-level modules (``python bench/<script>.py`` puts ``bench/`` on the path).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def _child(fn: Callable[..., dict[str, Any]], job: dict[str, Any], threads: int | None, conn: Connection) -> None:
    """Run one job in a spawned process and send back its result, or the error and its traceback."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    try:
        result = {"job": job, **fn(**job)}
    except Exception as error:
        result = {"job": job, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    conn.send(result)
    conn.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """
    :param path: a JSON-lines file written by :func:`run_grid` (missing: no records)
    :return: its records
    """
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_grid(
    jobs: Sequence[dict[str, Any]],
    fn: Callable[..., dict[str, Any]],
    n_jobs: int = 1,
    out: Path | None = None,
    threads: int | None = 1,
    skip_finished: bool = False,
) -> list[dict[str, Any]]:
    """
    Run ``fn(**job)`` for every job, each in a fresh spawned process, ``n_jobs`` at a time. A run that raises (or
    whose process dies) gives a record with ``error`` and ``traceback`` and the other runs go on.

    :param jobs: keyword arguments of ``fn``, one dict per run (JSON-serialisable: the record keeps it as ``job``)
    :param fn: a module-level function returning a JSON-serialisable dict
    :param n_jobs: runs at a time
    :param out: JSON-lines file; each record ``{"job": job, **fn(**job)}`` is appended as its run ends
    :param threads: torch threads per run, ``None`` to leave torch's default
    :param skip_finished: leave out the jobs that already have a record without error in ``out``
    :return: the records of the runs, in the order they ended
    """
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int, got {n_jobs!r}")
    pending = [dict(job) for job in jobs]
    if skip_finished and out is not None:
        done = [r["job"] for r in read_jsonl(out) if "job" in r and "error" not in r]
        pending = [job for job in pending if json.loads(json.dumps(job)) not in done]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    running: dict[Connection, tuple[Any, dict[str, Any]]] = {}
    records: list[dict[str, Any]] = []
    total = len(pending)
    while pending or running:
        while pending and len(running) < n_jobs:
            job = pending.pop(0)
            reader, writer = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child, args=(fn, job, threads, writer))
            process.start()
            writer.close()
            running[reader] = (process, job)
        for reader in wait(list(running)):
            process, job = running.pop(reader)  # type: ignore[index]
            try:
                record = reader.recv()  # type: ignore[union-attr]
            except EOFError:  # the process died without a result
                process.join()
                record = {"job": job, "error": f"run process exited with code {process.exitcode}", "traceback": ""}
            process.join()
            records.append(record)
            if out is not None:
                with out.open("a") as f:
                    f.write(json.dumps(record, default=str) + "\n")
            status = "FAILED: " + record["error"] if "error" in record else "done"
            print(f"[{len(records)}/{total}] {json.dumps(job, default=str)} {status}", flush=True)
            if "error" in record:
                print(record["traceback"], file=sys.stderr, flush=True)
    return records


def flatten(override: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """
    Nested overrides as the dotted keys of :func:`sb3_spiking.zoo.load_entry`: a dict value is merged into the
    entry's dict (``{"policy_kwargs": {"hidden_sizes": [64]}}`` -> ``{"policy_kwargs.hidden_sizes": [64]}``).

    :param override: entry names to new values
    :param prefix: dotted path of ``override`` inside the entry
    :return: dotted keys to values
    """
    flat: dict[str, Any] = {}
    for key, value in override.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
