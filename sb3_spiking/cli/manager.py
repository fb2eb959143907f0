"""
rl_zoo3's ``ExperimentManager`` with what our runs need: config entries read without ``eval()`` and nested
``key.sub:value`` overrides, checkpoints that carry the replay buffer and normalisation statistics, and resuming
that loses no step (``num_timesteps`` and the replay buffer continue, in a new run folder for ``--trained-agent``
or in the same one for ``--resume``).
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from rl_zoo3.exp_manager import ExperimentManager
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_spiking import zoo
from sb3_spiking.cli.common import RunFolder, companion_files, register_algorithms, saved_form

ZOO_KEYS = (
    "n_timesteps",
    "n_envs",
    "normalize",
    "env_wrapper",
    "vec_env_wrapper",
    "frame_stack",
    "callback",
    "env_kwargs",
    "monitor_kwargs",
    "noise_type",
    "noise_std",
)
"""Config keys that rl_zoo3 reads itself (the others are constructor arguments of the algorithm)."""


def config_keys(algo_class: type[BaseAlgorithm]) -> list[str]:
    """
    :param algo_class: an algorithm class
    :return: the keys a zoo config entry may hold for it
    """
    params = inspect.signature(algo_class.__init__).parameters
    return sorted({*ZOO_KEYS, *(name for name in params if name not in ("self", "env", "_init_setup_model"))})


def read_entry(
    conf_file: str | Path, env_id: str, algo_class: type[BaseAlgorithm], overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """
    :func:`sb3_spiking.zoo.read_entry`, overrides limited to the keys the algorithm's entry may hold.

    :param conf_file: the YAML file
    :param env_id: the entry's key (else the file's ``default`` entry is used)
    :param algo_class: the algorithm, whose constructor arguments are the allowed keys
    :param overrides: ``{"key": value}`` or ``{"key.sub": value}`` (one key inside a dict, the rest kept)
    :return: the entry
    """
    return zoo.read_entry(conf_file, env_id, overrides, allowed=config_keys(algo_class))


def prefill_evaluations(callback: EvalCallback, npz: Path, up_to: int) -> None:
    """
    Give a resumed run's ``EvalCallback`` the evaluations made before the interruption, so that its
    ``evaluations.npz`` keeps them (and ``best_model.zip`` is replaced only by a better one).

    :param callback: the new callback
    :param npz: the run's ``evaluations.npz``
    :param up_to: the env step the run resumes from (later evaluations are dropped)
    """
    if not npz.is_file():
        return
    data = np.load(npz)
    keep = data["timesteps"] <= up_to
    callback.evaluations_timesteps = [int(t) for t in data["timesteps"][keep]]
    callback.evaluations_results = [list(r) for r in data["results"][keep]]
    callback.evaluations_length = [list(r) for r in data["ep_lengths"][keep]]
    if callback.evaluations_results:
        callback.best_mean_reward = float(max(np.mean(r) for r in callback.evaluations_results))


class ResumableCheckpoint(CheckpointCallback):
    """
    ``CheckpointCallback`` that saves the model with its replay buffer and ``VecNormalize`` statistics at the end of
    the rollout in which ``save_freq`` steps were reached, when every transition collected so far is stored (SB3's
    saves during the step, one transition short of ``num_timesteps``). Only the newest replay buffer is kept.
    """

    def __init__(self, save_freq: int, save_path: str, verbose: int = 0) -> None:
        super().__init__(save_freq, save_path, "rl_model", save_replay_buffer=True, save_vecnormalize=True,
                         verbose=verbose)  # fmt: skip
        self.due = False

    def _on_step(self) -> bool:
        self.due = self.due or self.n_calls % self.save_freq == 0
        return True

    def _on_rollout_end(self) -> None:
        if not self.due:
            return
        self.due = False
        self.model.save(self._checkpoint_path(extension="zip"))
        if getattr(self.model, "replay_buffer", None) is not None:
            buffer = Path(self._checkpoint_path("replay_buffer_", extension="pkl"))
            for older in Path(self.save_path).glob("rl_model_replay_buffer_*_steps.pkl"):
                older.unlink()
            self.model.save_replay_buffer(buffer)  # type: ignore[attr-defined]
        vec_normalize = self.model.get_vec_normalize_env()
        if vec_normalize is not None:
            vec_normalize.save(self._checkpoint_path("vecnormalize_", extension="pkl"))
        if self.verbose > 0:
            print(f"Saved checkpoint at {self.num_timesteps} env steps to {self.save_path}")


class SpikingExperimentManager(ExperimentManager):
    """
    rl_zoo3's experiment manager for our algorithms and configs.

    :param args: the command-line arguments (saved as ``args.yml``)
    :param algo: rl_zoo3 algorithm name
    :param env_id: gymnasium id
    :param log_folder: root of the run folders
    :param overrides: config overrides, dotted keys change one key inside a dict
    :param resume: continue this run in its own folder (from its newest model), else ``None``
    :param kwargs: the other arguments of ``ExperimentManager``
    """

    def __init__(
        self,
        args: Any,
        algo: str,
        env_id: str,
        log_folder: str,
        overrides: dict[str, Any] | None = None,
        resume: RunFolder | None = None,
        **kwargs: Any,
    ) -> None:
        register_algorithms()
        self.overrides = dict(overrides or {})
        self.resume = resume
        self.resume_steps = 0
        if resume is not None:
            model_path, self.resume_steps = resume.latest_model()
            kwargs["trained_agent"] = str(model_path)
        super().__init__(args, algo, env_id, log_folder, **kwargs)
        if resume is not None:
            self.save_path, self.params_path = str(resume.path), str(resume.params_path)

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from rl_zoo3.utils import ALGOS

        hyperparams = read_entry(self.config, self.env_name.gym_id, ALGOS[self.algo], self.overrides)
        saved = OrderedDict(sorted(saved_form(hyperparams).items()))
        if self.verbose > 0:
            print(f"Hyperparameters from {self.config} ({self.env_name.gym_id}): {dict(saved)}")
        return hyperparams, saved

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]):  # type: ignore[no-untyped-def]
        result = super()._preprocess_hyperparams(hyperparams)
        if self.resume is not None:
            self.monitor_kwargs = {**self.monitor_kwargs, "override_existing": False}
            self.n_timesteps -= self.resume_steps
        return result

    def create_callbacks(self) -> None:
        super().create_callbacks()
        for i, callback in enumerate(self.callbacks):
            if isinstance(callback, CheckpointCallback) and not isinstance(callback, ResumableCheckpoint):
                self.callbacks[i] = ResumableCheckpoint(callback.save_freq, self.save_path, verbose=self.verbose)
            if isinstance(callback, EvalCallback) and self.resume is not None:
                prefill_evaluations(callback, Path(self.save_path) / "evaluations.npz", self.resume_steps)

    def _maybe_normalize(self, env: VecEnv, eval_env: bool) -> VecEnv:
        stats = companion_files(self.trained_agent)[1] if self.continue_training else None
        if stats is None:
            return super()._maybe_normalize(env, eval_env)
        env = VecNormalize.load(str(stats), env)
        if eval_env:
            env.training, env.norm_reward = False, False
        return env

    def _load_pretrained_agent(self, hyperparams: dict[str, Any], env: VecEnv) -> BaseAlgorithm:
        from rl_zoo3.utils import ALGOS

        kwargs = {k: v for k, v in hyperparams.items() if k not in ("policy", "policy_kwargs")}
        model = ALGOS[self.algo].load(
            self.trained_agent, env=env, seed=self.seed, tensorboard_log=self.tensorboard_log, verbose=self.verbose,
            device=self.device, **kwargs,
        )  # fmt: skip
        buffer = companion_files(self.trained_agent)[0]
        if buffer is not None and hasattr(model, "load_replay_buffer"):
            if self.verbose > 0:
                print(f"Loading replay buffer {buffer}")
            model.load_replay_buffer(buffer)
        if self.verbose > 0:
            print(f"Continuing from {self.trained_agent} at {model.num_timesteps} env steps")
        return model

    def _save_config(self, saved_hyperparams: dict[str, Any]) -> None:
        if self.resume is None:  # a resumed run keeps the config and arguments it started with
            super()._save_config(saved_hyperparams)

    def learn(self, model: BaseAlgorithm) -> None:
        """
        Train for ``n_timesteps`` env steps; a continued model keeps counting from its ``num_timesteps``.

        :param model: the model from :meth:`setup_experiment`
        """
        kwargs: dict[str, Any] = {"reset_num_timesteps": not self.continue_training}
        if self.log_interval > -1:
            kwargs["log_interval"] = self.log_interval
        elif self.log_interval < -1:
            kwargs["log_interval"] = None
        callbacks: list[BaseCallback] = self.callbacks
        if callbacks:
            kwargs["callback"] = callbacks
        try:
            model.learn(max(self.n_timesteps, 0), **kwargs)
        except KeyboardInterrupt:  # as rl_zoo3: the model is saved by save_trained_model
            pass
        finally:
            if callbacks:
                callbacks[0].on_training_end()
            try:
                assert model.env is not None
                model.env.close()
            except EOFError:
                pass
