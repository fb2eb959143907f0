"""
Guided vs unguided GRSN RecurrentTD3 on Pendulum-P (seed 002), through the CLI: ``sb3-spiking sweep`` runs the zoo
entry ``Pendulum-P-Privileged-v0`` of ``zoo_configs/recurrent_td3.yml`` (Pendulum-P with the full state in ``info``)
with the packaged TD3 Pop-SAN agent of Pendulum-v1 as guide and with ``guide:None`` (the same env and settings,
unguided), the same seeds and env steps; ``sb3-spiking plot`` draws the learning curves; this script prints the table
of ``bench/RESULTS.md``. The curves are the student's alone (``EvalCallback``: deterministic episodes from step 0,
no guide), the policy one would deploy; the table adds the seed's test protocol on the final models (the guide acts
for the warm-up, ``burn_in`` steps, the student afterwards; its core runs from step 0). Example::

    python bench/guided.py --seeds 0-2 --steps 15000 --log-folder /work/runs/guided/sweep
    python bench/guided.py --report --log-folder /work/runs/guided/sweep
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from sb3_spiking.algos.guided import GuidePolicy, load_guide
from sb3_spiking.cli.common import find_run

ROOT = Path(__file__).resolve().parents[1]
GUIDE = "trained_agents/td3-SpikingPopPolicy-Pendulum-v1"
ENV = "Pendulum-P-Privileged-v0"
SMALL = ["policy_kwargs.hidden_size:64", "policy_kwargs.net_arch:[64,64]", "batch_size:16", "seq_len:25", "burn_in:25"]
"""The reduced setting of the 2-core machine (about 4x cheaper per update than the zoo entry)."""


def sweep_command(args: argparse.Namespace) -> list[str]:
    """:return: the ``sb3-spiking sweep`` command line of the comparison"""
    command = [sys.executable, "-m", "sb3_spiking", "sweep", "--algo", "recurrent_td3", "--env", ENV,
               "--seeds", args.seeds, "--grid", f"guide:None,{GUIDE}", "-n", str(args.steps),
               "--eval-freq", str(args.eval_freq), "--eval-episodes", str(args.eval_episodes),
               "--save-freq", str(args.steps), "--jobs", "1", "-f", args.log_folder]  # fmt: skip
    return command + (["--hyperparams", *SMALL] if args.small else [])


def warm_up_return(run_folder: Path, episodes: int = 10, seed: int = 1000) -> float:
    """
    :param run_folder: an rl_zoo3 run folder of the sweep
    :param episodes: deterministic episodes
    :param seed: seed of the first episode
    :return: mean return when the guide acts for the first ``burn_in`` steps of each episode and the student after
    """
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sb3_spiking import RecurrentTD3
    from sb3_spiking.envs import VecPrevActionReward

    model = RecurrentTD3.load(find_run(run_folder).final_model, device="cpu")
    guide = GuidePolicy(load_guide(GUIDE), model.action_space, "privileged_obs")
    env = VecPrevActionReward(DummyVecEnv([lambda: gym.make(ENV)]))
    env.seed(seed)
    returns = []
    for _ in range(episodes):
        obs, state, start, total, t, done = env.reset(), None, np.ones(1, dtype=bool), 0.0, 0, False
        info = env.unwrapped.reset_infos[0]
        while not done:
            action, state = model.predict(obs, state, episode_start=start, deterministic=True)
            if t < model.burn_in:
                action = guide(obs[:, : model.policy.obs_dim], [info])
            obs, reward, dones, infos = env.step(action)
            info, start, total, t, done = infos[0], dones, total + float(reward[0]), t + 1, bool(dones[0])
        returns.append(total)
    return float(np.mean(returns))


def table(log_folder: Path, steps: int) -> str:
    """
    :param log_folder: the sweep's folder
    :param steps: the runs' env steps
    :return: markdown rows: per variant, mean +- std over seeds of the evaluation return nearest to quarters of the
        budget (the earlier of two equally near), the return with the guide's warm-up (:func:`warm_up_return`), the
        final return per seed, and the first evaluation at which the mean over seeds passes -400
    """
    rows = []
    for variant in sorted(p for p in log_folder.iterdir() if p.is_dir()):
        runs = sorted(variant.glob("seed_*/**/evaluations.npz"))
        curves = []
        for run in runs:
            data = np.load(run)
            curves.append((data["timesteps"], data["results"].mean(axis=1)))
        if not curves:
            continue
        length = min(len(t) for t, _ in curves)
        timesteps = curves[0][0][:length]
        returns = np.stack([r[:length] for _, r in curves])
        cells = []
        for fraction in (0.25, 0.5, 0.75, 1.0):
            i = int(np.argmin(np.abs(timesteps - fraction * steps)))
            cells.append(f"{returns[:, i].mean():.0f} +- {returns[:, i].std():.0f}")
        mean = returns.mean(axis=0)
        passed = timesteps[np.flatnonzero(mean > -400)]
        reach = f"{passed[0]}" if len(passed) else "-"
        finals = ", ".join(f"{r:.0f}" for r in returns[:, -1])
        warm = [warm_up_return(run.parent) for run in runs]
        cells.append(f"{np.mean(warm):.0f} +- {np.std(warm):.0f} ({', '.join(f'{r:.0f}' for r in warm)})")
        name = "guided" if "guide=None" not in variant.name else "unguided"
        cells += [finals, reach]
        rows.append(f"| {name} | {len(runs)} | {int(timesteps[-1])} | " + " | ".join(cells) + " |")
    header = (
        "| variant | seeds | env steps | return @ 1/4 | @ 1/2 | @ 3/4 | final | guide warm-up + student, final (per "
        "seed) | final per seed | first step with mean > -400 |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([header, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-2", help="seeds, as for sb3-spiking sweep")
    parser.add_argument("--steps", type=int, default=15000, help="env steps per run")
    parser.add_argument("--eval-freq", type=int, default=1500, help="evaluate every N env steps")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    parser.add_argument("--full", dest="small", action="store_false", help="the zoo entry's sizes (4x slower)")
    parser.add_argument("-f", "--log-folder", default="logs/guided", help="the sweep's folder")
    parser.add_argument("--report", action="store_true", help="only plot and print the table of finished runs")
    args = parser.parse_args()
    if not args.report:
        print(" ".join(sweep_command(args)), flush=True)
        subprocess.run(sweep_command(args), check=True, cwd=ROOT)
    plot = Path(args.log_folder) / "guided.png"
    subprocess.run([sys.executable, "-m", "sb3_spiking", "plot", args.log_folder, "-o", str(plot), "--overwrite",
                    "--title", "GRSN RecurrentTD3, Pendulum-P: guided vs unguided"], check=True, cwd=ROOT)  # fmt: skip
    print(table(Path(args.log_folder), args.steps))


if __name__ == "__main__":
    main()
