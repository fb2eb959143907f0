"""
How long one update of the recurrent off-policy agents takes and where its time goes (spec 08, issue 17): the runs
behind ``bench/speed.py --sections recurrent profile``. Each run is meant for a fresh process (``common.run_grid``):
``source`` names a copy of the package made by ``git archive`` (the code before a change), so that it is measured
side by side with the working tree. Nothing from ``sb3_spiking`` is imported before :func:`use_source`.

Settings of seed 003 (``zoo_configs/recurrent_td3.yml``): 32 sequences x 64 steps, hidden 128, heads [128, 128],
embeddings (32, 8, 8), one update per env step; RecurrentTD3 on Pendulum-P-v0, RecurrentDQN on CartPole-P-v0, after
1000 random steps.

    python bench/recurrent_update_speed.py --reps 20   # core alone and one update per core, in this process
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ENVS = {"RecurrentTD3": "Pendulum-P-v0", "RecurrentDQN": "CartPole-P-v0"}
MATMULS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def use_source(source: str | None) -> Any:
    """
    :param source: folder holding an ``sb3_spiking`` package to import instead of the installed one, ``None`` for it
    :return: the imported ``sb3_spiking``
    """
    if source is not None:
        sys.path.insert(0, source)
    import sb3_spiking

    if source is not None and not Path(sb3_spiking.__file__).is_relative_to(source):
        raise RuntimeError(f"sb3_spiking was imported from {sb3_spiking.__file__}, not from {source}")
    return sb3_spiking


def build(algo: str, core: str, source: str | None = None, warmup_steps: int = 1000) -> Any:
    """
    :param algo: ``"RecurrentTD3"`` or ``"RecurrentDQN"``
    :param core: ``"grsn"``, ``"lif"`` or ``"gru"``
    :param source: see :func:`use_source`
    :param warmup_steps: random steps stored before the first update
    :return: the model at the seed's settings, its buffer filled
    """
    sb3_spiking = use_source(source)
    model = getattr(sb3_spiking, algo)(
        "GRSNPolicy", ENVS[algo], learning_starts=warmup_steps, policy_kwargs=dict(core=core), seed=0
    )
    model.learn(warmup_steps)
    return model


class PhaseClock:
    """
    Splits wall time into phases marked by calls: a wrapped call starts its phase, which lasts until the next marked
    call (so a backward pass between ``forward`` and ``optimizer.step`` counts with the phase the forward began).
    Calls wrapped with ``hold=True`` end in the phase ``"other"`` and ignore the marks made inside them.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.label = "other"
        self.last = time.perf_counter()
        self.held = False

    def mark(self, label: str) -> None:
        """:param label: the phase starting now"""
        if self.held:
            return
        now = time.perf_counter()
        self.totals[self.label] += now - self.last
        self.label, self.last = label, now

    def wrap(self, owner: Any, name: str, label: str, hold: bool = False) -> None:
        """
        :param owner: object (module, instance) whose attribute ``name`` is a callable, replaced by the timed one
        :param name: attribute name
        :param label: phase started by the call
        :param hold: the call is one phase on its own, ended by ``"other"``
        """
        fn = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.mark(label)
            if not hold:
                return fn(*args, **kwargs)
            self.held = True
            try:
                return fn(*args, **kwargs)
            finally:
                self.held = False
                self.mark("other")

        setattr(owner, name, timed)

    def reset(self) -> None:
        """Forget the time so far."""
        self.mark("other")
        self.totals.clear()


def _median_per_update(model: Any, updates: int) -> tuple[float, float]:
    """
    :return: median wall and CPU (this process) ms of one update, over pairs of updates (TD3 updates its actor every
        second one); on a shared machine the CPU time is the steadier of the two
    """
    wall, cpu = [], []
    for _ in range(updates // 2):
        start, start_cpu = time.perf_counter(), time.process_time()
        model.train(2, model.batch_size)
        wall.append((time.perf_counter() - start) / 2)
        cpu.append((time.process_time() - start_cpu) / 2)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def update_run(algo: str, core: str, source: str | None = None, updates: int = 30) -> dict[str, Any]:
    """
    :param algo: ``"RecurrentTD3"`` or ``"RecurrentDQN"``
    :param core: the core
    :param source: see :func:`use_source`
    :param updates: timed updates
    :return: ``ms`` and ``cpu_ms``: median wall and CPU time of one update
    """
    model = build(algo, core, source)
    model.train(2, model.batch_size)
    ms, cpu_ms = _median_per_update(model, updates)
    return {"ms": ms, "cpu_ms": cpu_ms}


def _phase_clock(model: Any) -> PhaseClock:
    """A clock on the passes of one RecurrentTD3 update (the working tree's ``train``)."""
    from sb3_spiking.algos.recurrent_td3 import recurrent_td3

    clock = PhaseClock()
    clock.wrap(model.replay_buffer, "sample", "sample batch")
    clock.wrap(recurrent_td3, "forward_cores", "target pass (3 cores, heads)")
    clock.wrap(model.critic, "forward", "critic forward")
    clock.wrap(model.critic.optimizer, "zero_grad", "critic backward")
    clock.wrap(model.critic.optimizer, "step", "critic Adam step")
    clock.wrap(model.actor, "forward", "actor forward (+ Q1)")
    clock.wrap(model.actor.optimizer, "zero_grad", "actor backward")
    clock.wrap(model.actor.optimizer, "step", "actor Adam step")
    clock.wrap(recurrent_td3, "polyak", "polyak")
    return clock


def profile_run(core: str, source: str | None = None, updates: int = 8) -> dict[str, Any]:
    """
    Profile of RecurrentTD3 updates: time per pass (working tree only), operator calls, matmul MACs (from the
    profiler's FLOP counts) and the rate achieved.

    :param core: the core
    :param source: see :func:`use_source`
    :param updates: profiled updates (even: TD3 updates its actor every second one)
    :return: ``ms`` (one update, unprofiled median), ``phases`` (ms per update), ``ops`` (operator calls per update),
        ``macs`` (matmul multiply-accumulates per update), ``matmul_ms``, ``top`` (name, self ms, calls per update)
    """
    from torch.profiler import ProfilerActivity, profile

    model = build("RecurrentTD3", core, source)
    model.train(2, model.batch_size)
    ms, _ = _median_per_update(model, 2 * updates)
    phases: dict[str, float] = {}
    if source is None:
        clock = _phase_clock(model)
        model.train(2, model.batch_size)
        clock.reset()
        model.train(updates, model.batch_size)
        clock.mark("other")  # closes the last phase
        phases = {name: 1e3 * seconds / updates for name, seconds in clock.totals.items()}
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        model.train(updates, model.batch_size)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    matmuls = [e for e in events if e.key in MATMULS]
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:6]
    return {
        "ms": ms,
        "phases": phases,
        "ops": sum(e.count for e in events) / updates,
        "macs": sum(e.flops for e in matmuls) / 2 / updates,
        "matmul_ms": sum(e.self_cpu_time_total for e in matmuls) / 1e3 / updates,
        "self_ms": sum(e.self_cpu_time_total for e in events) / 1e3 / updates,
        "top": [(e.key.removeprefix("aten::"), e.self_cpu_time_total / 1e3 / updates, e.count / updates) for e in top],
    }


def median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def core_table(reps: int) -> None:
    """Forward+backward of one core over 65 steps x 32 sequences (input 48, hidden 128), and the no-grad forward."""
    from sb3_spiking.snn.cores import make_core

    x = torch.randn(65, 32, 48)
    print("| core | fwd+bwd (ms) | fwd, no grad (ms) |\n|---|---|---|")
    cores = {name: make_core(name, 48, 128) for name in ("grsn", "lif", "gru")}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cores}
    for _ in range(3):  # alternate to spread machine load evenly
        for name, core in cores.items():

            def no_grad(core: torch.nn.Module = core) -> None:
                with torch.no_grad():
                    core(x)

            results[name].append(
                (median_ms(lambda core=core: core(x)[0].sum().backward(), reps), median_ms(no_grad, reps))
            )
    for name, rows in results.items():
        print(f"| {name} | {min(r[0] for r in rows):.1f} | {min(r[1] for r in rows):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)\n")
    core_table(args.reps)
    print("\n| algorithm | env | core | update (ms) | env steps/s at 1 update/step |\n|---|---|---|---|---|")
    for algo, env_id in ENVS.items():
        for core in ("grsn", "lif", "gru"):
            ms = update_run(algo, core, updates=args.reps)["ms"]
            print(f"| {algo} | {env_id} | {core} | {ms:.1f} | {1e3 / ms:.1f} |")


if __name__ == "__main__":
    main()
