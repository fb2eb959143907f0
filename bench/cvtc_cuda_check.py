"""CVTC on CUDA: eager and compiled Q-networks against the CPU network, and DQN training speed on GPU vs CPU.

Needs a CUDA GPU (not part of the tests):

    python bench/cvtc_cuda_check.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers CVTCPolicy)

KWARGS = dict(hidden_sizes=[32], beta=1e-2, gains=[4.0, 2.0, 20.0, 2.0], init="normal", init_mean=3.0)


def q_and_grads(model: DQN, obs: np.ndarray) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Q-values on ``obs`` (on the CPU) and the gradients of their squared sum."""
    q = model.q_net(torch.as_tensor(obs, device=model.device))
    grads = torch.autograd.grad(q.pow(2).sum(), list(model.q_net.parameters()))
    return q.detach().cpu(), [g.cpu() for g in grads]


def check_outputs() -> None:
    """Print how far the CUDA networks (eager and compiled) are from the CPU network with the same weights."""
    cpu = DQN("CVTCPolicy", "CartPole-v1", policy_kwargs=KWARGS, device="cpu", seed=0)
    obs = np.stack([cpu.observation_space.sample() * 0.3 for _ in range(256)]).astype(np.float32)
    q_cpu, grads_cpu = q_and_grads(cpu, obs)
    for compile_network in (False, True):
        gpu = DQN(
            "CVTCPolicy", "CartPole-v1", policy_kwargs=dict(KWARGS, compile_network=compile_network), device="cuda"
        )
        gpu.policy.load_state_dict(cpu.policy.state_dict())
        q, grads = q_and_grads(gpu, obs)
        grad_diff = max(
            float((g - g_cpu).abs().max() / g_cpu.abs().max()) for g, g_cpu in zip(grads, grads_cpu, strict=True)
        )
        print(
            f"compile_network={compile_network}: max |Q_cuda - Q_cpu| = {(q - q_cpu).abs().max():.2e}, "
            f"max relative gradient difference = {grad_diff:.2e}"
        )
        with torch.no_grad():
            gpu.policy.set_inference_mode("if")
            cpu.policy.set_inference_mode("if")
            q_if = gpu.q_net(torch.as_tensor(obs, device="cuda")).cpu()
            print(f"  beta=0: max |Q_cuda - Q_cpu| = {(q_if - cpu.q_net(torch.as_tensor(obs))).abs().max():.2e}")
            cpu.policy.set_inference_mode("cvtc")


def training_speed() -> None:
    """Print DQN env steps/s on CUDA and on the CPU (zoo CartPole schedule), after 1500 warm-up steps."""
    variants = [
        ("MLP", "MlpPolicy", dict(net_arch=[256, 256])),
        ("CVTC", "CVTCPolicy", KWARGS),
        ("CVTC compiled", "CVTCPolicy", dict(KWARGS, compile_network=True)),
    ]
    for name, policy, policy_kwargs in variants:
        for device in ("cuda", "cpu"):
            model = DQN(
                policy,
                "CartPole-v1",
                policy_kwargs=policy_kwargs,
                device=device,
                learning_starts=500,
                batch_size=64,
                train_freq=256,
                gradient_steps=128,
                target_update_interval=10,
                seed=0,
            )
            model.learn(1500)
            start = time.perf_counter()
            model.learn(4000, reset_num_timesteps=False)
            print(f"DQN {name} on {device}: {4000 / (time.perf_counter() - start):.0f} env steps/s")


if __name__ == "__main__":
    check_outputs()
    training_speed()
