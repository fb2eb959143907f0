"""
The one evaluation path of the bench scripts: :func:`evaluate` (SB3's ``evaluate_policy``, with the spike rate of the
spiking recurrent cores) and the :class:`EvalCurve` callback (a learning curve of :func:`evaluate` points, and the
training throughput without them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import sync_envs_normalization

from sb3_spiking.snn.recurrent import SpikingRecurrent


def _clock() -> np.ndarray:
    return np.array([time.perf_counter(), time.process_time()])


@contextmanager
def spike_rates(model: Any) -> Iterator[list[float]]:
    """
    While inside, the mean output spike rate of every forward of the model's spiking recurrent cores
    (:class:`~sb3_spiking.snn.recurrent.SpikingRecurrent`) is appended to the yielded list.

    :param model: an SB3 model
    """
    rates: list[float] = []
    hooks = [
        module.register_forward_hook(lambda _module, _inputs, output: rates.append(output[0].float().mean().item()))
        for module in model.policy.modules()
        if isinstance(module, SpikingRecurrent)
    ]
    try:
        yield rates
    finally:
        for hook in hooks:
            hook.remove()


def evaluate(model: Any, env: Any, n_eval_episodes: int, deterministic: bool = True) -> dict[str, Any]:
    """
    The one evaluation of the bench scripts: SB3's ``evaluate_policy`` (returns read from ``Monitor``, so a reward
    wrapper of the training env does not change them), after copying the training env's ``VecNormalize``
    statistics.

    :param model: an SB3 model
    :param env: evaluation env, wrapped as the model's training env (``model._wrap_env``)
    :param n_eval_episodes: episodes
    :param deterministic: greedy / deterministic actions
    :return: ``mean_return``, ``std_return``, ``mean_length`` (episode steps) and ``spike_rate`` (mean over the
        cores' forwards, ``None`` without spiking recurrent cores)
    """
    if model.get_vec_normalize_env() is not None:
        sync_envs_normalization(model.get_env(), env)
    with spike_rates(model) as rates:
        returns, lengths = evaluate_policy(model, env, n_eval_episodes, deterministic, return_episode_rewards=True)
    return {
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
        "spike_rate": float(np.mean(rates)) if rates else None,
    }


class EvalCurve(BaseCallback):
    """
    Learning curve and training speed of one run: :func:`evaluate` each time ``num_timesteps`` passes a multiple of
    ``eval_every``, and the wall / CPU time of ``learn()`` without those evaluations.

    After ``learn()``: ``curve`` (``[steps, mean_return, std_return, spike_rate]`` per evaluation) and
    :meth:`throughput`.

    :param eval_env: evaluation env
    :param eval_every: env steps between evaluations (0: none)
    :param n_eval_episodes: episodes per evaluation
    :param progress: JSON file rewritten after every evaluation with ``record`` and the curve so far (an interrupted
        run still leaves numbers), ``None`` for none
    :param record: what else to write into ``progress``
    """

    def __init__(
        self,
        eval_env: Any,
        eval_every: int,
        n_eval_episodes: int = 10,
        progress: Path | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(eval_every, int) or eval_every < 0:
            raise ValueError(f"eval_every must be an int >= 0, got {eval_every!r}")
        self.eval_env, self.eval_every, self.n_eval_episodes = eval_env, eval_every, n_eval_episodes
        self.progress, self.record = progress, dict(record or {})
        self.curve: list[list[Any]] = []
        self.eval_time = np.zeros(2)  # wall and CPU seconds spent evaluating
        self._next_eval = eval_every
        self._start, self._start_steps, self._start_eval_time = np.zeros(2), 0, np.zeros(2)
        self._train = (0, np.full(2, np.nan))  # env steps and seconds of the last learn(), evaluations left out

    def _on_training_start(self) -> None:
        self._start, self._start_steps, self._start_eval_time = _clock(), self.num_timesteps, self.eval_time.copy()

    def _on_step(self) -> bool:
        if self.eval_every and self.num_timesteps >= self._next_eval:
            self.evaluate()
            self._next_eval = (self.num_timesteps // self.eval_every + 1) * self.eval_every
        return True

    def _on_training_end(self) -> None:
        seconds = _clock() - self._start - (self.eval_time - self._start_eval_time)
        self._train = (self.num_timesteps - self._start_steps, seconds)

    def evaluate(self) -> None:
        """Add a point to the curve now (its time is left out of the throughput)."""
        start = _clock()
        result = evaluate(self.model, self.eval_env, self.n_eval_episodes)
        self.curve.append([self.num_timesteps, result["mean_return"], result["std_return"], result["spike_rate"]])
        if self.progress is not None:
            self.progress.parent.mkdir(parents=True, exist_ok=True)
            self.progress.write_text(json.dumps({**self.record, "curve": self.curve}, default=str))
        self.eval_time += _clock() - start

    def throughput(self) -> dict[str, float]:
        """:return: ``steps_per_s`` and ``steps_per_cpu_s`` of the last ``learn()``, evaluations left out"""
        steps, (wall, cpu) = self._train
        return {"steps_per_s": steps / wall, "steps_per_cpu_s": steps / cpu}
