"""Run the seeds x variants grid of an experiment on a local process pool or a Ray cluster.

Each run is ``sb3-spiking train`` in its own process, logging to ``LOGDIR/<variant>/seed_<s>/train.log`` with its
rl_zoo3 run folder ``LOGDIR/<variant>/seed_<s>/<algo>/<env>_1/``; ``LOGDIR/sweep.jsonl`` records each finished or
failed run. A failed run is reported with the end of its log and the others go on; running the command again skips
finished runs and resumes interrupted ones from their newest checkpoint. Example::

    sb3-spiking sweep --algo td3 --env HalfCheetah-v5 --seeds 0-7 \\
        --grid policy_kwargs.surrogate:rectangular,triangular,trapezoidal --backend ray --address auto
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from sb3_spiking.cli.common import StoreOverrides, format_literal, parse_value, zoo_name
from sb3_spiking.validation import check_int

LOG_TAIL = 20
"""Lines of a failed run's log printed with its report."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``sweep`` parser"""
    parser.add_argument("--algo", required=True, help="algorithm (as for train)")
    parser.add_argument("--env", required=True, help="env id (as for train)")
    parser.add_argument("--seeds", default="0", help="seeds: 0-7, 0,3,5 or a mix (0-2,7)")
    parser.add_argument("--grid", nargs="+", action="append", default=[], metavar="KEY:V1,V2",
                        help="a config key and its values (dotted keys change one key inside a dict); "
                        "several --grid keys make their product")  # fmt: skip
    parser.add_argument("-params", "--hyperparams", nargs="+", action=StoreOverrides, default={}, metavar="KEY:VALUE",
                        help="overrides shared by every run")  # fmt: skip
    parser.add_argument("-conf", "--conf-file", help="zoo YAML file (default: zoo_configs/<algo>.yml)")
    parser.add_argument("-n", "--n-timesteps", type=int, default=-1, help="env steps per run (default: config's)")
    parser.add_argument("--eval-freq", type=int, default=10000, help="evaluate every N env steps")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    parser.add_argument("--save-freq", type=int, default=50000, help="checkpoint every N env steps (for resuming)")
    parser.add_argument("--env-kwargs", nargs="+", metavar="KEY:VALUE", help="keyword arguments of the env")
    parser.add_argument("--backend", default="local", choices=["local", "ray"], help="process pool or Ray")
    parser.add_argument("--jobs", type=int, default=1, help="local runs at a time")
    parser.add_argument("--address", default=None, help="Ray cluster: auto or HOST:PORT (default: start one here)")
    parser.add_argument("--cpus-per-run", type=int, default=1, help="CPUs (and torch threads) per run")
    parser.add_argument("--device", default="cpu", help="torch device of each run")
    parser.add_argument("-f", "--log-folder", default="logs/sweep", help="root of the sweep's runs")


def parse_seeds(text: str) -> list[int]:
    """
    :param text: ``0-7``, ``0,3,5`` or a mix (``0-2,7``)
    :return: the seeds, in order, without repeats
    """
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if sep else [int(low)]
    except ValueError:
        raise ValueError(f"--seeds must look like 0-7 or 0,3,5, got {text!r}") from None
    if not seeds:
        raise ValueError(f"--seeds names no seed: {text!r}")
    return list(dict.fromkeys(seeds))


def split_values(text: str) -> list[str]:
    """
    :param text: ``v1,v2,...``; commas inside brackets or quotes belong to a value (``[64,64],[256,256]``)
    :return: the values
    """
    values, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current)
            current = ""
            continue
        current += char
    return [*values, current]


def parse_grid(items: list[list[str]]) -> dict[str, list[Any]]:
    """
    :param items: the ``--grid`` arguments, ``key:v1,v2``
    :return: each key's values
    """
    grid: dict[str, list[Any]] = {}
    for item in itertools.chain.from_iterable(items):
        key, sep, text = item.partition(":")
        if not sep or not key or not text:
            raise ValueError(f"--grid expects key:v1,v2,..., got {item!r}")
        if key in grid:
            raise ValueError(f"--grid key {key!r} given twice")
        grid[key] = [parse_value(v) for v in split_values(text)]
    return grid


def variant_name(variant: dict[str, Any]) -> str:
    """
    :param variant: one point of the grid
    :return: its folder name, ``key=value`` pairs joined by ``,`` (``base`` for an empty grid)
    """
    if not variant:
        return "base"
    text = ",".join(f"{k}={v if isinstance(v, str) else format_literal(v)}" for k, v in variant.items())
    return "".join(c if c.isalnum() or c in "=,.-_+" else "_" for c in text)


def check_variants(args: argparse.Namespace, variants: list[dict[str, Any]]) -> None:
    """Read the config entry of every variant here, so that an unknown key or env fails before any run starts."""
    from sb3_spiking.cli.train import default_conf_file

    conf_file = Path(args.conf_file) if args.conf_file else default_conf_file(args.algo)
    for variant in variants:
        overrides = {**args.hyperparams, **variant}
        if args.algo == "qmix":
            from sb3_spiking.cli.qmix_run import read_qmix_entry

            read_qmix_entry(conf_file, args.env, overrides)
        else:
            from sb3_spiking.cli.common import register_algorithms
            from sb3_spiking.cli.manager import read_entry
            from sb3_spiking.cli.train import check_env

            table = register_algorithms()
            if zoo_name(args.algo) not in table:
                from sb3_spiking.cli.common import suggest

                raise ValueError(f"unknown algorithm {args.algo!r}{suggest(args.algo, [*table, 'recurrentppo'])}")
            check_env(args.env, conf_file)
            read_entry(conf_file, args.env, table[zoo_name(args.algo)], overrides)


def make_jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """
    :param args: the parsed arguments
    :return: one job per (variant, seed): its name, folder and ``train`` command line
    """
    grid = parse_grid(args.grid)
    variants = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    check_variants(args, variants)
    jobs = []
    for variant in variants:
        for seed in parse_seeds(args.seeds):
            folder = Path(args.log_folder) / variant_name(variant) / f"seed_{seed}"
            overrides = {**args.hyperparams, **variant}
            train = ["--algo", args.algo, "--env", args.env, "--seed", str(seed), "-f", str(folder),
                     "-n", str(args.n_timesteps), "--eval-freq", str(args.eval_freq),
                     "--eval-episodes", str(args.eval_episodes), "--save-freq", str(args.save_freq),
                     "--save-replay-buffer", "--device", args.device,
                     "--num-threads", str(args.cpus_per_run)]  # fmt: skip
            if args.conf_file:
                train += ["--conf-file", str(Path(args.conf_file).resolve())]
            if overrides:
                train += ["--hyperparams", *(f"{k}:{format_literal(v)}" for k, v in overrides.items())]
            if args.env_kwargs:
                train += ["--env-kwargs", *args.env_kwargs]
            jobs.append({"variant": variant_name(variant), "overrides": variant, "seed": seed,
                         "folder": str(folder), "algo": zoo_name(args.algo), "train": train})  # fmt: skip
    return jobs


def run_folder_of(job: dict[str, Any]) -> Path | None:
    """:return: the job's rl_zoo3 run folder if it was started, else ``None``"""
    runs = sorted(Path(job["folder"]).glob(f"{job['algo']}/*_[0-9]*/*/args.yml"))
    return runs[-1].parent.parent if runs else None


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """
    Run one job as ``python -m sb3_spiking train ...`` (resuming its run folder when one exists); module-level so
    that Ray can ship it to a worker.

    :param job: from :func:`make_jobs`
    :return: the job's record: run folder, exit code and log file
    """
    from sb3_spiking.cli.common import find_run

    folder = Path(job["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "train.log"
    command = [sys.executable, "-m", "sb3_spiking", "train", *job["train"]]
    started = run_folder_of(job)
    if started is not None:
        try:
            find_run(started).latest_model()
            n_timesteps = job["train"][job["train"].index("-n") + 1]
            command = [sys.executable, "-m", "sb3_spiking", "train", "--resume", str(started), "-n", n_timesteps]
        except FileNotFoundError:  # stopped before its first checkpoint: nothing to resume from
            shutil.rmtree(started)
    with log.open("a") as f:
        f.write(f"$ {' '.join(command)}\n")
        f.flush()
        code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=False).returncode
    run = run_folder_of(job)
    return {"variant": job["variant"], "seed": job["seed"], "overrides": job["overrides"], "returncode": code,
            "run": str(run) if run else None, "log": str(log)}  # fmt: skip


def finished(log_folder: Path) -> set[tuple[str, int]]:
    """:return: the (variant, seed) pairs that ``sweep.jsonl`` records as finished"""
    path = log_folder / "sweep.jsonl"
    if not path.is_file():
        return set()
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["variant"], r["seed"]) for r in records if r.get("returncode") == 0}


def run_local(jobs: list[dict[str, Any]], n_jobs: int, report: Any) -> None:
    """Run the jobs on ``n_jobs`` threads, each waiting on its own ``train`` process."""
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for future in as_completed([pool.submit(run_one, job) for job in jobs]):
            report(future.result())


def run_ray(jobs: list[dict[str, Any]], address: str | None, cpus_per_run: int, report: Any) -> None:
    """Run each job as a Ray task with ``num_cpus=cpus_per_run`` on the cluster at ``address``."""
    try:
        import ray
    except ImportError:
        raise ImportError("--backend ray needs Ray: pip install 'sb3-spiking[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address)
    task = ray.remote(num_cpus=cpus_per_run)(run_one)
    pending = {task.remote(job): job for job in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(done[0])
        try:
            report(ray.get(done[0]))
        except Exception as error:  # the task itself died (worker lost, ...)
            report({"variant": job["variant"], "seed": job["seed"], "overrides": job["overrides"], "returncode": None,
                    "run": None, "log": None, "error": f"{type(error).__name__}: {error}"})  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: 0 when every run finished, 1 when some failed
    """
    check_int("jobs", args.jobs, minimum=1)
    check_int("cpus_per_run", args.cpus_per_run, minimum=1)
    log_folder = Path(args.log_folder)
    jobs = make_jobs(args)
    done = finished(log_folder)
    todo = [job for job in jobs if (job["variant"], job["seed"]) not in done]
    print(f"sweep: {len(jobs)} runs, {len(jobs) - len(todo)} finished before, {len(todo)} to run ({args.backend})")
    log_folder.mkdir(parents=True, exist_ok=True)
    lock, failed, count = threading.Lock(), [], [0]

    def report(record: dict[str, Any]) -> None:
        with lock:
            count[0] += 1
            with (log_folder / "sweep.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")
            name = f"{record['variant']} seed {record['seed']}"
            if record.get("returncode") == 0:
                print(f"[{count[0]}/{len(todo)}] done: {name} -> {record['run']}", flush=True)
                return
            failed.append(record)
            reason = record.get("error") or f"exit code {record['returncode']}"
            print(f"[{count[0]}/{len(todo)}] FAILED: {name} ({reason}); log: {record['log']}", flush=True)
            if record.get("log") and Path(record["log"]).is_file():
                tail = Path(record["log"]).read_text().splitlines()[-LOG_TAIL:]
                print("\n".join(f"    {line}" for line in tail), flush=True)

    if args.backend == "ray":
        run_ray(todo, args.address, args.cpus_per_run, report)
    else:
        run_local(todo, args.jobs, report)
    print(f"sweep: {len(todo) - len(failed)} of {len(todo)} runs finished, {len(failed)} failed; "
          f"plot with: sb3-spiking plot {log_folder}")  # fmt: skip
    return 1 if failed else 0
