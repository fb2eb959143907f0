"""
Speed of the spiking networks next to their non-spiking counterparts (spec 08), printed as markdown tables.

1. kernel: Pop-SAN actor (HalfCheetah sizes: obs 17, act 6, P 10, T 5, hidden [256, 256]) fwd+bwd at batch 100 and
   256 and single-observation inference, next to the 17-256-256-6 MLP actor and to the plain per-timestep
   implementation of the seed's equations written below (the loop of the original code);
2. profile: multiply-accumulates of the Pop-SAN and MLP actors, the rate each achieves, and the top operators;
   Also one RecurrentTD3 update at the seed's settings (GRSN and GRU cores): time per pass, operator calls, matmul
   MACs and the rate achieved (``recurrent_update_speed.profile_run``);
3. recurrent: one update of RecurrentTD3 (Pendulum-P-v0) and RecurrentDQN (CartPole-P-v0) at seed 003's settings
   (32 sequences x 64 steps, hidden 128), GRSN vs GRU core, each run in a fresh process, runs alternating;
4. td3steps: where an SB3 TD3 env step on HalfCheetah-v5 goes (env, predict, replay sample, target actor, target
   critic, critic update, actor update, polyak), MlpPolicy vs SpikingPopPolicy, timers around SB3's own calls;
5. predict: latency of ``model.predict`` for one HalfCheetah-v5 observation (SB3's overhead included), MlpPolicy vs
   SpikingPopPolicy (LIF with the deterministic and the Bernoulli encoder, MDC-SAN) on TD3, and on SAC, every call
   timed alone, the models taking turns call by call;
6. training throughput (env steps/s after the warm-up, alternating runs, each run in a fresh process so that its
   peak RSS is its own: ``common.run_grid`` with one run at a time), with the warm-up's wall time (it includes
   ``torch.compile``'s compilation for the ``+compile`` variants): TD3 SpikingPopPolicy vs MlpPolicy on
   HalfCheetah-v5, DQN CVTCPolicy vs MlpPolicy on CartPole-v1, RecurrentTD3 GRSN vs GRU core on Pendulum-P-v0, QMIX
   GRSN vs GRU on simple_spread.

``--baseline REV`` adds the package as of git revision REV (``git archive``, imported in place of the working tree) to
the recurrent, profile and rtd3 runs: before and after a change, side by side in one run.

    python bench/speed.py --threads 2 [--sections kernel profile recurrent td3steps predict td3 dqn rtd3 qmix] \
        [--device cuda] [--reps 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import io
import itertools
import multiprocessing as mp
import platform
import resource
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import ROOT, run_grid
from recurrent_update_speed import PhaseClock, profile_run, update_run, use_source
from torch import Tensor, nn

OBS, ACT, POP, SPIKE_TS, HIDDEN = 17, 6, 10, 5, (256, 256)


class _ReferenceSpike(torch.autograd.Function):
    """Heaviside with Pop-SAN's rectangular window (height 1 on |v - v_th| < 0.5)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x > 0).float()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 0.5).float()


class _StraightThrough(torch.autograd.Function):
    """Encoder spike with d o / d v = 1 (seed 000, Eq. 22-23)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return (x > 0).float()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


class ReferencePopSAN(nn.Module):
    """The straightforward per-timestep Pop-SAN actor (seed 000, Eq. 7-16): T x layers small ops."""

    def __init__(self) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.linspace(-3, 3, POP).repeat(1, OBS, 1))
        self.std = nn.Parameter(torch.full((1, OBS, POP), 0.15**0.5))
        sizes = [OBS * POP, *HIDDEN, ACT * POP]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.readout = nn.Conv1d(ACT, ACT, POP, groups=ACT)

    def forward(self, obs: Tensor) -> Tensor:
        batch = obs.shape[0]
        stimulus = torch.exp(-0.5 * ((obs.unsqueeze(-1) - self.mean) / self.std) ** 2).view(batch, -1)  # Eq. 7
        enc_volt = torch.zeros_like(stimulus)
        currents = [obs.new_zeros(batch, layer.out_features) for layer in self.layers]
        volts = [obs.new_zeros(batch, layer.out_features) for layer in self.layers]
        spikes = [obs.new_zeros(batch, layer.out_features) for layer in self.layers]
        rate = obs.new_zeros(batch, ACT * POP)
        for _ in range(SPIKE_TS):
            enc_volt = enc_volt + stimulus  # Eq. 8-10, deterministic encoder
            x = _StraightThrough.apply(enc_volt - 0.999)
            enc_volt = enc_volt - 0.999 * x
            for i, layer in enumerate(self.layers):
                currents[i] = 0.5 * currents[i] + layer(x)  # Eq. 11
                volts[i] = 0.75 * volts[i] * (1 - spikes[i]) + currents[i]  # Eq. 12
                spikes[i] = _ReferenceSpike.apply(volts[i] - 0.5)  # Eq. 13
                x = spikes[i]
            rate = rate + x
        return torch.tanh(self.readout((rate / SPIKE_TS).view(batch, ACT, POP)).squeeze(-1))  # Eq. 14-16


def median_ms(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def kernel_table(device: torch.device, reps: int, rounds: int, compiled: bool) -> None:
    from sb3_spiking.policies.popsan import PopSpikingNetwork

    torch.manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    popsan = PopSpikingNetwork(OBS, ACT).to(device)
    mlp = nn.Sequential(nn.Linear(OBS, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, ACT)).to(device)
    reference = ReferencePopSAN().to(device)
    actors: dict[str, Callable[[Tensor], Tensor]] = {
        "MLP": lambda x: torch.tanh(mlp(x)),
        "Pop-SAN (sb3_spiking)": lambda x: torch.tanh(popsan(x)),
        "Pop-SAN (per-timestep reference)": reference,
    }
    compiled_name = "Pop-SAN (sb3_spiking, torch.compile)"
    if compiled:
        popsan_compiled = torch.compile(popsan.forward)
        actors[compiled_name] = lambda x: torch.tanh(popsan_compiled(x))

    def train_step(actor: Callable[[Tensor], Tensor], x: Tensor) -> Callable[[], None]:
        def run() -> None:
            actor(x).sum().backward()
            sync()

        return run

    def infer(actor: Callable[[Tensor], Tensor], x: Tensor) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                actor(x)
            sync()

        return run

    cases: dict[str, dict[str, Callable[[], None]]] = {}
    for batch in (100, 256):
        x = torch.randn(batch, OBS, device=device).clamp(-3, 3)
        cases[f"fwd+bwd, batch {batch}"] = {name: train_step(a, x) for name, a in actors.items()}
    x1 = torch.randn(1, OBS, device=device)
    cases["inference, batch 1"] = {name: infer(a, x1) for name, a in actors.items()}
    first_calls = {}  # the compiled actor's first call of each case: its compilation
    for case, fns in cases.items():
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            first_calls[case, name] = time.perf_counter() - start
            median_ms(fn, 10)
    times: dict[str, dict[str, list[float]]] = {case: {name: [] for name in actors} for case in cases}
    for _ in range(rounds):
        for case, fns in cases.items():
            for name, fn in fns.items():
                times[case][name].append(median_ms(fn, reps))
    print(f"\n### Actor kernel ({device}, median of {rounds} rounds x {reps} reps; ms and ratio to the MLP)\n")
    print("| what | " + " | ".join(actors) + " |")
    print("|---" * (len(actors) + 1) + "|")
    for case in cases:
        med = {name: statistics.median(times[case][name]) for name in actors}
        cells = " | ".join(f"{ms:.3f} ({ms / med['MLP']:.1f}x)" for ms in med.values())
        print(f"| {case} | {cells} |")
    if compiled:
        seconds = ", ".join(f"{case} {first_calls[case, compiled_name]:.1f} s" for case in cases)
        print(f"\nCompilation (first call of each case, torch.compile): {seconds}")


def _macs(sizes: list[int]) -> int:
    return sum(a * b for a, b in itertools.pairwise(sizes))


def profile_table(device: torch.device, reps: int) -> None:
    """Where the Pop-SAN actor's time goes: multiply-accumulates, achieved rate and the top operators."""
    from torch.profiler import ProfilerActivity, profile

    from sb3_spiking.policies.popsan import PopSpikingNetwork

    torch.manual_seed(0)
    popsan = PopSpikingNetwork(OBS, ACT).to(device)
    mlp = nn.Sequential(nn.Linear(OBS, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, ACT)).to(device)
    # per observation: T passes through (OBS * POP)-256-256-(ACT * POP) vs one pass through OBS-256-256-ACT
    macs = {"MLP": _macs([OBS, *HIDDEN, ACT]), "Pop-SAN": SPIKE_TS * _macs([OBS * POP, *HIDDEN, ACT * POP])}
    print(f"\n### Pop-SAN actor profile ({device})\n")
    print(
        f"Multiply-accumulates per observation (forward): MLP {macs['MLP']:,}, Pop-SAN {macs['Pop-SAN']:,} "
        f"({macs['Pop-SAN'] / macs['MLP']:.1f}x); backward adds about twice the forward.\n"
    )
    print("| case | actor | ms | GMAC/s (fwd + 2x bwd) | matmul share of self CPU time | top operators (self CPU %) |")
    print("|---|---|---|---|---|---|")
    for case, batch, grad in (("fwd+bwd, batch 100", 100, True), ("inference, batch 1", 1, False)):
        x = torch.randn(batch, OBS, device=device).clamp(-3, 3)
        for name, net in (("MLP", mlp), ("Pop-SAN", popsan)):

            def run(net: nn.Module = net, x: Tensor = x, grad: bool = grad) -> None:
                if grad:
                    torch.tanh(net(x)).sum().backward()
                else:
                    with torch.inference_mode():
                        torch.tanh(net(x))

            ms = median_ms(run, reps)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(reps):
                    run()
            events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
            total = sum(e.self_cpu_time_total for e in events)
            matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
            top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:4]
            tops = ", ".join(f"{e.key.removeprefix('aten::')} {100 * e.self_cpu_time_total / total:.0f}" for e in top)
            rate = (3 if grad else 1) * macs[name] * batch / (ms * 1e-3) / 1e9
            print(f"| {case} | {name} | {ms:.3f} | {rate:.1f} | {100 * matmul / total:.0f} % | {tops} |")


def _build(section: str, variant: str, device: str, seed: int, source: str | None = None) -> tuple[Any, int, int]:
    """The model of one throughput run (``source``: see ``recurrent_update_speed.use_source``), its warm-up steps and
    its measured steps."""
    use_source(source)

    if section == "td3":
        from stable_baselines3 import TD3

        kwargs: dict[str, Any] = dict(net_arch=[256, 256])
        if variant.endswith("+compile"):
            variant, kwargs["compile_network"] = "SpikingPopPolicy", True
        model = TD3(
            variant,
            "HalfCheetah-v5",
            batch_size=100,
            learning_starts=1000,
            policy_kwargs=kwargs,
            seed=seed,
            device=device,
        )
        return model, 1200, 800
    if section == "dqn":
        from stable_baselines3 import DQN

        policy, _, hidden = variant.removesuffix("+compile").partition("[")
        kwargs = dict(hidden_sizes=[int(hidden.rstrip("]"))]) if hidden else {}
        if policy == "CVTCPolicy":  # CartPole's velocities are unbounded: the encoder gains of zoo_configs/dqn.yml
            kwargs["gains"] = [4.0, 2.0, 20.0, 2.0]
        if variant.endswith("+compile"):
            kwargs["compile_network"] = True
        model = DQN(
            policy,
            "CartPole-v1",
            learning_starts=1000,
            batch_size=64,
            train_freq=4,
            policy_kwargs=kwargs,
            seed=seed,
            device=device,
        )
        return model, 1500, 4000
    if section == "rtd3":
        from sb3_spiking import RecurrentTD3

        model = RecurrentTD3(
            "GRSNPolicy",
            "Pendulum-P-v0",
            learning_starts=1000,
            policy_kwargs=dict(core=variant),
            seed=seed,
            device=device,
        )
        return model, 1050, 150
    if section == "qmix":
        from mpe2 import simple_spread_v3

        from sb3_spiking.marl import QMIX

        env = simple_spread_v3.parallel_env(N=3, local_ratio=0.5, max_cycles=25, continuous_actions=False)
        return QMIX(variant, env, seed=seed, device=device), 1000, 2000
    raise ValueError(f"unknown section {section!r}")


def _peak_rss_mib() -> float:
    """
    Peak resident memory of this process. Linux's ``ru_maxrss`` survives ``exec``, so a spawned child would report
    at least its parent's peak; ``VmHWM`` belongs to the process image and starts afresh.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _throughput_run(section: str, variant: str, device: str, source: str | None = None) -> dict[str, float]:
    """One throughput run (in its own process, see :func:`common.run_grid`): env steps/s after the warm-up."""
    model, warmup, measured = _build(section, variant, device, seed=0, source=source)
    start = time.perf_counter()
    model.learn(warmup)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    model.learn(measured, reset_num_timesteps=False)
    return {"rate": measured / (time.perf_counter() - start), "warmup_s": warmup_s, "peak_rss_mib": _peak_rss_mib()}


SECTIONS = {
    "td3": ("TD3 on HalfCheetah-v5", ("MlpPolicy", "SpikingPopPolicy", "SpikingPopPolicy+compile")),
    "dqn": ("DQN on CartPole-v1", ("MlpPolicy", "CVTCPolicy", "CVTCPolicy[32]", "CVTCPolicy[32]+compile")),
    "rtd3": ("RecurrentTD3 on Pendulum-P-v0 (core)", ("gru", "grsn")),
    "qmix": ("QMIX on simple_spread_v3 (agent)", ("gru", "grsn")),
}


def _baseline_source(rev: str) -> str:
    """:return: a folder holding the ``sb3_spiking`` package as of git revision ``rev``"""
    folder = tempfile.mkdtemp(prefix=f"sb3_spiking_{rev}_")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "sb3_spiking"], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _code_versions(baseline: str | None) -> list[tuple[str, str | None]]:
    """(name, source) of the code measured: the revision ``baseline`` first when given, then the working tree."""
    before = [(f"before ({baseline})", _baseline_source(baseline))] if baseline else []
    return [*before, ("after (working tree)", None)]


def throughput_table(
    section: str, device: str, threads: int, reps: int, compiled: bool, baseline: str | None = None
) -> None:
    title, variants = SECTIONS[section]
    variants = tuple(v for v in variants if compiled or not v.endswith("+compile"))
    codes = _code_versions(baseline) if section == "rtd3" else [("", None)]
    names = {(v, code): f"{v}, {code}" if code else v for v in variants for code, _ in codes}
    jobs = [
        dict(section=section, variant=v, device=device, source=source)
        for _ in range(reps)
        for v in variants
        for _, source in codes
    ]
    records = run_grid(jobs, _throughput_run, n_jobs=1, threads=threads)
    failed = [r for r in records if "error" in r]
    if failed:
        raise RuntimeError(f"{section} runs failed: {[(r['job']['variant'], r['error']) for r in failed]}")
    sources = {source: code for code, source in codes}

    def select(variant: str, code: str, key: str) -> list[float]:
        return [r[key] for r in records if r["job"]["variant"] == variant and sources[r["job"]["source"]] == code]

    base = statistics.median(select(variants[0], codes[0][0], "rate"))
    print(f"\n### {title} ({device}, {threads} thread(s), median of {reps} alternating runs)\n")
    print("| variant | env steps/s | ratio | warm-up (s, with compilation) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for variant in variants:
        for code, _ in codes:
            rate = statistics.median(select(variant, code, "rate"))
            warmup = statistics.median(select(variant, code, "warmup_s"))
            peak = max(select(variant, code, "peak_rss_mib"))
            print(f"| {names[variant, code]} | {rate:.1f} | {rate / base:.2f}x | {warmup:.0f} | {peak:.0f} |")


def recurrent_table(threads: int, reps: int, baseline: str | None) -> None:
    """One update of RecurrentTD3 / RecurrentDQN at seed 003's settings, GRSN vs GRU, before vs after."""
    codes = _code_versions(baseline)
    cases = [(algo, core) for algo in ("RecurrentTD3", "RecurrentDQN") for core in ("gru", "grsn")]
    jobs = [dict(algo=a, core=c, source=src) for _ in range(reps) for a, c in cases for _, src in codes]
    records = run_grid(jobs, update_run, n_jobs=1, threads=threads)
    failed = [r for r in records if "error" in r]
    if failed:
        raise RuntimeError(f"recurrent runs failed: {[(r['job'], r['error']) for r in failed]}")

    def median(algo: str, core: str, source: str | None, key: str) -> float:
        return statistics.median(r[key] for r in records if r["job"] == dict(algo=algo, core=core, source=source))

    print(
        f"\n### One update, 32 sequences x 64 steps, hidden 128 (cpu, {threads} thread(s), median of {reps} "
        "alternating runs)\n"
    )
    print("| algorithm | core | code | update (ms) | CPU ms | updates/s | vs before (CPU) | vs GRU, same code (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for algo, core in cases:
        for code, src in codes:
            wall, cpu = median(algo, core, src, "ms"), median(algo, core, src, "cpu_ms")
            before = median(algo, core, codes[0][1], "cpu_ms") / cpu
            gru = median(algo, "gru", src, "cpu_ms") / cpu
            print(
                f"| {algo} | {core} | {code} | {wall:.1f} | {cpu:.1f} | {1e3 / wall:.1f} | {before:.2f}x | {gru:.2f}x |"
            )


def recurrent_profile_table(threads: int, baseline: str | None) -> None:
    """Where one RecurrentTD3 update goes: passes (working tree), operator calls, matmul MACs and achieved rates."""
    codes = _code_versions(baseline)
    jobs = [dict(core=core, source=src) for core in ("grsn", "gru") for _, src in codes]
    records = run_grid(jobs, profile_run, n_jobs=1, threads=threads)
    failed = [r for r in records if "error" in r]
    if failed:
        raise RuntimeError(f"profile runs failed: {[(r['job'], r['error']) for r in failed]}")
    by_job = {(r["job"]["core"], r["job"]["source"]): r for r in records}
    print(f"\n### RecurrentTD3 update profile, Pendulum-P-v0, 32 x 64 steps, hidden 128 (cpu, {threads} thread(s))\n")
    after = [by_job[core, None] for core in ("grsn", "gru")]
    print("Passes of one update (working tree; ms per update, a backward pass counted with the pass before it):\n")
    print("| pass | grsn | gru |\n|---|---|---|")
    for phase in after[0]["phases"]:
        print(f"| {phase} | " + " | ".join(f"{r['phases'].get(phase, 0.0):.2f}" for r in after) + " |")
    print("| sum | " + " | ".join(f"{sum(r['phases'].values()):.2f}" for r in after) + " |")
    print(
        "\n| core | code | update (ms) | operator calls | matmul MACs | matmul ms (share of self CPU) | "
        "GMAC/s in matmuls | GMAC/s over the update | top operators (self ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for core in ("grsn", "gru"):
        for code, src in codes:
            r = by_job[core, src]
            tops = ", ".join(f"{name} {ms:.1f}" for name, ms, _ in r["top"][:4])
            print(
                f"| {core} | {code} | {r['ms']:.1f} | {r['ops']:.0f} | {r['macs'] / 1e6:.0f} M | "
                f"{r['matmul_ms']:.1f} ({100 * r['matmul_ms'] / r['self_ms']:.0f} %) | "
                f"{r['macs'] / r['matmul_ms'] / 1e6:.1f} | {r['macs'] / r['ms'] / 1e6:.1f} | {tops} |"
            )


def _td3_steps_run(variant: str, device: str, steps: int = 300) -> dict[str, Any]:
    """Where the env steps of SB3's TD3 on HalfCheetah-v5 go, with timers around SB3's own calls (SB3 unchanged)."""
    import stable_baselines3.td3.td3 as td3_module

    model, warmup, _ = _build("td3", variant, device, seed=0)
    model.learn(warmup)
    clock = PhaseClock()
    clock.wrap(model.env, "step", "env step", hold=True)
    clock.wrap(model.policy, "predict", "predict", hold=True)
    clock.wrap(model.replay_buffer, "add", "replay add", hold=True)
    clock.wrap(model.replay_buffer, "sample", "replay sample")
    clock.wrap(model.actor_target, "forward", "target actor")
    clock.wrap(model.critic_target, "forward", "target critic")
    clock.wrap(model.critic, "forward", "critic update (fwd, bwd, Adam)")
    clock.wrap(model.actor, "forward", "actor update (fwd, Q1, bwd, Adam)")
    clock.wrap(td3_module, "polyak_update", "polyak")
    clock.reset()
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    total = time.perf_counter() - start
    clock.mark("other")
    return {"phases": {k: 1e3 * v / steps for k, v in clock.totals.items()}, "ms": 1e3 * total / steps}


def td3_steps_table(device: str, threads: int, reps: int) -> None:
    """Where an SB3 TD3 env step goes, MlpPolicy vs SpikingPopPolicy (ms per env step, median of alternating runs)."""
    variants = ("MlpPolicy", "SpikingPopPolicy")
    jobs = [dict(variant=v, device=device) for _ in range(reps) for v in variants]
    records = run_grid(jobs, _td3_steps_run, n_jobs=1, threads=threads)
    failed = [r for r in records if "error" in r]
    if failed:
        raise RuntimeError(f"td3steps runs failed: {[(r['job'], r['error']) for r in failed]}")
    runs = {v: [r for r in records if r["job"]["variant"] == v] for v in variants}
    phases = list(dict.fromkeys(p for r in records for p in r["phases"]))

    def median(variant: str, phase: str) -> float:
        return statistics.median(r["phases"].get(phase, 0.0) for r in runs[variant])

    print(f"\n### Where a TD3 env step goes, HalfCheetah-v5 ({device}, {threads} thread(s), median of {reps} runs)\n")
    print("| part | MlpPolicy (ms/step) | SpikingPopPolicy (ms/step) | difference (ms) |\n|---|---|---|---|")
    for phase in phases:
        mlp, spiking = median("MlpPolicy", phase), median("SpikingPopPolicy", phase)
        print(f"| {phase} | {mlp:.2f} | {spiking:.2f} | {spiking - mlp:+.2f} |")
    totals = [statistics.median(r["ms"] for r in runs[v]) for v in variants]
    print(f"| whole step | {totals[0]:.2f} | {totals[1]:.2f} | {totals[1] - totals[0]:+.2f} |")


PREDICT_MODELS = {
    "TD3": {
        "MlpPolicy": ("MlpPolicy", dict(net_arch=[256, 256])),
        "SpikingPopPolicy (LIF, deterministic encoder)": ("SpikingPopPolicy", {}),
        "SpikingPopPolicy (LIF, Bernoulli encoder)": ("SpikingPopPolicy", dict(encoder="bernoulli")),
        "SpikingPopPolicy (MDC-SAN)": ("SpikingPopPolicy", dict(neuron="dynamic")),
    },
    "SAC": {
        "MlpPolicy": ("MlpPolicy", dict(net_arch=[256, 256])),
        "SpikingPopPolicy (LIF, deterministic encoder)": ("SpikingPopPolicy", {}),
    },
}


def predict_table(device: str, calls: int) -> None:
    """
    Latency of ``model.predict`` for one observation, SB3's overhead included: the models of one algorithm take turns
    call by call (so that no model runs with caches warmed by its own previous call), every call timed alone; median.
    """
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import SAC, TD3

    import sb3_spiking  # noqa: F401  (registers SpikingPopPolicy)

    env = gym.make("HalfCheetah-v5")
    obs = np.random.default_rng(0).uniform(-3.0, 3.0, (calls, *env.observation_space.shape)).astype(np.float32)
    print(f"\n### model.predict, one HalfCheetah-v5 observation ({device}, median of {calls} calls per model)\n")
    print("| algorithm | policy | ms | ratio to MlpPolicy |\n|---|---|---|---|")
    for algo, policies in PREDICT_MODELS.items():
        cls = {"TD3": TD3, "SAC": SAC}[algo]
        models = {
            name: cls(policy, env, policy_kwargs=kwargs, seed=0, device=device)
            for name, (policy, kwargs) in policies.items()
        }
        times: dict[str, list[float]] = {name: [] for name in models}
        for i in range(-50, calls):  # 50 warm-up rounds
            for name, model in models.items():
                start = time.perf_counter()
                model.predict(obs[max(i, 0)], deterministic=True)
                if i >= 0:
                    times[name].append(time.perf_counter() - start)
        mlp = statistics.median(times["MlpPolicy"])
        for name, values in times.items():
            ms = statistics.median(values)
            print(f"| {algo} | {name} | {1e3 * ms:.3f} | {ms / mlp:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    choices = ["kernel", "profile", "recurrent", "td3steps", "predict", *SECTIONS]
    parser.add_argument("--sections", nargs="+", default=choices, choices=choices)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3, help="alternating training runs per variant")
    parser.add_argument("--kernel-reps", type=int, default=100)
    parser.add_argument("--kernel-rounds", type=int, default=5)
    parser.add_argument("--predict-calls", type=int, default=2000, help="timed predict calls per model")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--baseline", help="git revision measured before the working tree (recurrent, profile, rtd3)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {mp.cpu_count()} CPUs, torch {torch.__version__}")
    for section in args.sections:
        if section == "kernel":
            kernel_table(torch.device(args.device), args.kernel_reps, args.kernel_rounds, not args.no_compile)
        elif section == "profile":
            profile_table(torch.device(args.device), args.kernel_reps)
            recurrent_profile_table(args.threads, args.baseline)
        elif section == "recurrent":
            recurrent_table(args.threads, args.reps, args.baseline)
        elif section == "td3steps":
            td3_steps_table(args.device, args.threads, args.reps)
        elif section == "predict":
            predict_table(args.device, args.predict_calls)
        else:
            throughput_table(section, args.device, args.threads, args.reps, not args.no_compile, args.baseline)


if __name__ == "__main__":
    main()
