"""
Seed 003, Table 1 setting: recurrent off-policy agents with GRSN / LIF / GRU cores and an MLP baseline on the
POMDP tasks (Pendulum-P/V with RecurrentTD3, CartPole-P/V with RecurrentDQN; the MLP baseline is SB3's TD3 / DQN
with ``MlpPolicy`` [128, 128] on the current observation only, batch 256, otherwise the same settings).
``--algo ppo`` runs sb3-contrib's RecurrentPPO instead (CartPole only): ``GRSNPolicy`` (grsn),
``LIFRecurrentPolicy`` (lif), ``MlpLstmPolicy`` (lstm) and PPO ``MlpPolicy`` (mlp), 8 envs.

Hyperparameters come from ``zoo_configs/recurrent_td3.yml``, ``zoo_configs/recurrent_dqn.yml`` and
``zoo_configs/recurrentppo.yml``. Every ``--eval-every`` steps and at the end: mean return of 10 deterministic
episodes on a separate env, and the mean spike rate of the spiking cores during them. Each run writes
``bench/out/learn_pomdp/<env>_<core>_s<seed>.json`` as it goes (so an interrupted benchmark still leaves numbers);
``--report`` prints the table from whatever is there.

    python bench/learn_pomdp.py --envs CartPole-P-v0 --cores grsn lif gru mlp --seeds 0 1 --jobs 2
    python bench/learn_pomdp.py --algo ppo --envs CartPole-P-v0 --cores grsn lif lstm mlp --seeds 0 1 2
    python bench/learn_pomdp.py --report
"""

from __future__ import annotations

import argparse
import ast
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from sb3_contrib import RecurrentPPO
from stable_baselines3 import DQN, PPO, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv
from torch import nn  # noqa: F401  (policy_kwargs strings may name nn.*)

import sb3_spiking
from sb3_spiking.snn.recurrent import SpikingRecurrent
from sb3_spiking.zoo import hyperparameter

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "learn_pomdp"
ENVS = ("Pendulum-P-v0", "Pendulum-V-v0", "CartPole-P-v0", "CartPole-V-v0")
CORES = ("grsn", "lif", "gru", "lstm", "mlp")
PPO_POLICIES = {"grsn": "GRSNPolicy", "lif": "LIFRecurrentPolicy", "lstm": "MlpLstmPolicy"}
SEED_TABLE = {  # seed 003, Table 1 (5 seeds): mean, std
    "mlp": {"CartPole-V-v0": (21.6, 1.49), "CartPole-P-v0": (21.2, 1.95), "Pendulum-V-v0": (-1502.8, 61.09),
            "Pendulum-P-v0": (-1380.1, 47.45)},
    "gru": {"CartPole-V-v0": (200.0, 0.0), "CartPole-P-v0": (196.7, 6.30), "Pendulum-V-v0": (-181.3, 15.47),
            "Pendulum-P-v0": (-203.5, 16.36)},
    "lif": {"CartPole-V-v0": (200.0, 0.0), "CartPole-P-v0": (152.2, 21.21), "Pendulum-V-v0": (-942.4, 92.19),
            "Pendulum-P-v0": (-824.8, 178.80)},
    "grsn": {"CartPole-V-v0": (200.0, 0.0), "CartPole-P-v0": (199.9, 0.20), "Pendulum-V-v0": (-189.4, 17.64),
             "Pendulum-P-v0": (-195.8, 43.99)},
}  # fmt: skip


def load_hyperparams(env_id: str, algo: str = "off-policy") -> tuple[str, dict[str, Any]]:
    """:return: the zoo config name and the env's entry."""
    if algo == "ppo":
        name = "recurrentppo"
    else:
        name = "recurrent_td3" if env_id.startswith("Pendulum") else "recurrent_dqn"
    return name, dict(yaml.safe_load((ROOT / "zoo_configs" / f"{name}.yml").read_text())[env_id])


def build_ppo(env_id: str, core: str, seed: int, core_kwargs: dict[str, Any] | None = None) -> tuple[Any, VecEnv]:
    """:return: a RecurrentPPO (or PPO for ``mlp``) model and its evaluation env."""
    if not env_id.startswith("CartPole"):
        raise ValueError(f"--algo ppo runs the CartPole tasks only, got {env_id}")
    _, hp = load_hyperparams(env_id, "ppo")
    hp.pop("n_timesteps")
    hp.pop("policy")
    policy_kwargs = eval(hp.pop("policy_kwargs"))
    hp = {key: hyperparameter(value) for key, value in hp.items()}
    env = make_vec_env(env_id, n_envs=hp.pop("n_envs"), seed=seed)
    eval_env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    if core == "mlp":
        policy_kwargs = {key: policy_kwargs[key] for key in ("ortho_init", "net_arch", "activation_fn")}
        return PPO("MlpPolicy", env, policy_kwargs=policy_kwargs, seed=seed, **hp), eval_env
    if core_kwargs:
        policy_kwargs["cell_kwargs"] = core_kwargs
    return RecurrentPPO(PPO_POLICIES[core], env, policy_kwargs=policy_kwargs, seed=seed, **hp), eval_env


def build(env_id: str, core: str, seed: int, core_kwargs: dict[str, Any] | None = None) -> tuple[Any, VecEnv]:
    """:return: the off-policy model and its evaluation env."""
    if core == "lstm":
        raise ValueError("core 'lstm' exists with --algo ppo only")
    algo_name, hp = load_hyperparams(env_id)
    hp.pop("n_timesteps")
    noise_std = hp.pop("noise_std", None)
    hp.pop("noise_type", None)
    policy_kwargs = eval(hp.pop("policy_kwargs"))
    policy = hp.pop("policy")
    eval_env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    if core == "mlp":
        hp.pop("seq_len")
        hp.pop("burn_in")
        hp["batch_size"] = 256
        kwargs = dict(policy_kwargs=dict(net_arch=[128, 128]), seed=seed, **hp)
        if algo_name == "recurrent_td3":
            hp_noise = NormalActionNoise(np.zeros(1), noise_std * np.ones(1))
            return TD3("MlpPolicy", env_id, action_noise=hp_noise, **kwargs), eval_env
        kwargs.update(target_update_interval=1)
        return DQN("MlpPolicy", env_id, **kwargs), eval_env
    config_core_kwargs = policy_kwargs.pop("core_kwargs", {})  # the spiking cores' settings
    if core_kwargs is None:
        core_kwargs = {} if core == "gru" else config_core_kwargs
    policy_kwargs.update(core=core, core_kwargs=core_kwargs)
    cls = sb3_spiking.RecurrentTD3 if algo_name == "recurrent_td3" else sb3_spiking.RecurrentDQN
    model = cls(policy, env_id, policy_kwargs=policy_kwargs, seed=seed, **hp)
    return model, cls._wrap_env(eval_env)


class Progress(BaseCallback):
    """Evaluates every ``eval_every`` steps and rewrites the run's JSON file."""

    def __init__(self, path: Path, record: dict[str, Any], eval_env: VecEnv, eval_every: int) -> None:
        super().__init__()
        self.path, self.record, self.eval_env, self.eval_every = path, record, eval_env, eval_every
        self.start = time.perf_counter()

    def evaluate(self) -> None:
        rates: list[float] = []
        hooks = [
            module.register_forward_hook(lambda _module, _inputs, output: rates.append(output[0].mean().item()))
            for module in self.model.policy.modules()
            if isinstance(module, SpikingRecurrent)
        ]
        returns, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, return_episode_rewards=True)
        for hook in hooks:
            hook.remove()
        elapsed = time.perf_counter() - self.start
        self.record["curve"].append([self.num_timesteps, float(np.mean(returns)), float(np.std(returns))])
        self.record.setdefault("spike_rate", []).append(float(np.mean(rates)) if rates else None)
        self.record.update(steps=self.num_timesteps, seconds=elapsed, steps_per_s=self.num_timesteps / elapsed)
        self.path.write_text(json.dumps(self.record))

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_every == 0:
            self.evaluate()
        return True


def run(
    env_id: str,
    core: str,
    seed: int,
    steps: int | None,
    eval_every: int,
    algo: str = "off-policy",
    core_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    torch.set_num_threads(1)
    model, eval_env = (
        build_ppo(env_id, core, seed, core_kwargs) if algo == "ppo" else build(env_id, core, seed, core_kwargs)
    )
    steps = steps or load_hyperparams(env_id, algo)[1]["n_timesteps"]
    label = f"ppo-{core}" if algo == "ppo" else core
    if core_kwargs:
        label += "-" + "-".join(f"{key}{value}" for key, value in sorted(core_kwargs.items()))
    path = OUT / f"{env_id}_{label}_s{seed}.json"
    record: dict[str, Any] = {"env": env_id, "core": label, "seed": seed, "budget": steps, "curve": [], "done": False}
    callback = Progress(path, record, eval_env, eval_every)
    model.learn(steps, callback=callback)
    if not record["curve"] or record["curve"][-1][0] != model.num_timesteps:
        callback.evaluate()
    record["done"] = True
    path.write_text(json.dumps(record))
    final, speed = record["curve"][-1][1], record["steps_per_s"]
    print(f"{env_id} {label} seed {seed}: {final:.1f} ({speed:.1f} steps/s)", flush=True)
    return record


def report() -> None:
    records = [json.loads(p.read_text()) for p in sorted(OUT.glob("*.json"))]
    print("| env | core | seeds (done) | env steps | final return, mean +/- std over seeds | steps/s | seed 003 |")
    print("|---|---|---|---|---|---|---|")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r["curve"]:
            groups.setdefault((r["env"], r["core"]), []).append(r)
    for (env_id, core), runs in sorted(groups.items()):
        finals = [r["curve"][-1][1] for r in runs]
        steps = sorted({r["curve"][-1][0] for r in runs})
        # the seed's numbers are for its off-policy agents; "grsn-input_bias1.0" is a grsn run with core kwargs
        ref = ("-", "-") if core.startswith("ppo-") else SEED_TABLE.get(core.split("-")[0], {}).get(env_id, ("-", "-"))
        print(
            f"| {env_id} | {core} | {len(runs)} ({sum(r['done'] for r in runs)}) | {'/'.join(map(str, steps))} "
            f"| {np.mean(finals):.1f} +/- {np.std(finals):.1f} ({', '.join(f'{f:.0f}' for f in finals)}) "
            f"| {np.mean([r['steps_per_s'] for r in runs]):.1f} | {ref[0]} +/- {ref[1]} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    parser.add_argument("--cores", nargs="+", default=list(CORES), choices=CORES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the zoo budget)")
    parser.add_argument("--eval-every", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--algo", choices=("off-policy", "ppo"), default="off-policy")
    parser.add_argument("--core-kwargs", type=ast.literal_eval, default=None, help="e.g. \"{'threshold': 0.25}\"")
    parser.add_argument("--report", action="store_true", help="only print the table of the finished runs")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.report:
        grid = [
            (e, c, s, args.steps, args.eval_every, args.algo, args.core_kwargs)
            for s in args.seeds
            for e in args.envs
            for c in args.cores
        ]
        with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            pool.starmap(run, grid, chunksize=1)
    report()


if __name__ == "__main__":
    main()
