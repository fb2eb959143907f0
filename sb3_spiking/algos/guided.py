"""
Guided training of stateful spiking policies (seed 002): a privileged guide policy acts for the first ``H`` steps of
each episode (jump-start), the recurrent student afterwards; ``H`` shrinks from the episode length to the warm-up
length; the guide's steps are labelled in the replay buffer and the actor of :class:`~sb3_spiking.RecurrentTD3`
learns with a TD3+BC loss on them. The settings follow the authors' public code (``TD3BC_Online.py`` of
korneelf1/SpikingCrazyflie): alpha 2.5, BC weight 0.2 decaying by 0.99 per epoch, warm-up 50 steps of 100-step
sequences (``burn_in=50, seq_len=50`` here).

:class:`Guidance` holds the settings and the schedule state; the algorithms call it at a few points
(``_sample_action``, ``_store_transition``, the actor loss) and save it with the model, without the guide itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.algos.sequence_buffer import GUIDED_KEY
from sb3_spiking.envs.privileged import PRIVILEGED_KEY
from sb3_spiking.validation import check_float, check_int

if TYPE_CHECKING:
    from sb3_spiking.algos.recurrent_off_policy import RecurrentOffPolicyAlgorithm

GuideLike = BaseAlgorithm | Callable[[np.ndarray, dict[str, Any]], Any] | str | os.PathLike
"""A guide: an SB3 model (fed ``info[info_key]``), a callable ``(obs, info) -> action`` (one env's observation
``o_t`` and info dict) or the path of a saved model (``.zip``) or of an agent folder (Hub / rl_zoo3 layout)."""


def load_guide(path: str | os.PathLike) -> BaseAlgorithm:
    """
    Load a guide saved on disk (this unpickles it, as SB3's ``load`` does: load only files you trust).

    :param path: an agent folder (Hub layout or rl_zoo3 run folder: its ``VecNormalize`` statistics come with the
        model) or a model ``.zip``; a relative path not found in the working directory is looked up in the package
        (``trained_agents/...``)
    :return: the model; with a folder, ``model.get_vec_normalize_env()`` holds its observation normalisation
    """
    from sb3_spiking.resources import DATA_DIRS, data_dir

    path = Path(path)
    if not path.exists() and not path.is_absolute() and path.parts and path.parts[0] in DATA_DIRS:
        path = data_dir(path.parts[0]) / Path(*path.parts[1:])
    if path.is_dir():
        from sb3_spiking.hub import load_local

        return load_local(path, device="cpu")[0]
    if path.suffix != ".zip" or not path.is_file():
        raise ValueError(f"guide {str(path)!r} is neither an agent folder nor a model .zip file")
    from stable_baselines3.common.save_util import load_from_zip_file

    from sb3_spiking.algos.recurrent_off_policy import _algorithms_using
    from sb3_spiking.hub.folder import algorithms

    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    names = _algorithms_using((data or {}).get("policy_class"))
    classes = [cls for cls in algorithms().values() if cls.__name__ in names]
    if not classes:
        raise ValueError(f"guide {str(path)!r}: no known algorithm trains its policy {data.get('policy_class')!r}")
    return classes[0].load(path, device="cpu")


class GuidePolicy:
    """
    The guide's actions for the envs it drives, checked against the student's action space.

    :param guide: an SB3 model (deterministic ``predict`` on ``info[info_key]``, normalised by its
        ``VecNormalize`` statistics if it has some) or a callable ``(obs, info) -> action``
    :param action_space: the student's action space
    :param info_key: the ``info`` key of the privileged observation
    """

    def __init__(self, guide: BaseAlgorithm | Callable[..., Any], action_space: spaces.Space, info_key: str) -> None:
        if isinstance(guide, BaseAlgorithm):
            if guide.action_space != action_space:
                raise ValueError(
                    f"the guide acts in {guide.action_space}, the student in {action_space}: a guide must have the "
                    "student's action space"
                )
        elif not callable(guide):
            raise TypeError(
                f"guide must be an SB3 model, a callable (obs, info) -> action or a path, got {guide!r} "
                f"({type(guide).__name__})"
            )
        self.guide = guide
        self.action_space = action_space
        self.info_key = info_key

    def __call__(self, observations: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        """
        :param observations: (n, obs_dim) the student's observations ``o_t`` of the guided envs
        :param infos: the info dict of each of them (from the step or reset that produced ``o_t``)
        :return: (n, *action_shape) actions in the env's units (Box) or (n,) integers (Discrete)
        """
        if isinstance(self.guide, BaseAlgorithm):
            return self._predict(infos)
        return np.stack([self._check(self.guide(obs, info)) for obs, info in zip(observations, infos, strict=True)])

    def _predict(self, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        assert isinstance(self.guide, BaseAlgorithm)
        missing = [i for i, info in enumerate(infos) if self.info_key not in info]
        if missing:
            raise ValueError(
                f"the guide reads the privileged observation info[{self.info_key!r}], which the env does not give: "
                "use a privileged env id (e.g. Pendulum-P-Privileged-v0) or wrap the env in "
                "sb3_spiking.envs.PrivilegedObservation"
            )
        obs = np.stack([np.asarray(info[self.info_key], dtype=np.float32) for info in infos])
        expected = self.guide.observation_space.shape
        if obs.shape[1:] != expected:
            raise ValueError(
                f"info[{self.info_key!r}] has shape {obs.shape[1:]}, the guide reads observations of shape {expected}"
            )
        normalize = self.guide.get_vec_normalize_env()
        if normalize is not None:
            obs = normalize.normalize_obs(obs)
        actions, _ = self.guide.predict(obs, deterministic=True)
        return np.asarray(actions).reshape(len(infos), *self.action_space.shape)

    def _check(self, action: Any) -> np.ndarray:
        """One action of a callable guide: the student's action shape, finite, in the space for Discrete."""
        value = np.asarray(action)
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            if value.shape not in ((), (1,)) or not np.issubdtype(value.dtype, np.integer):
                raise ValueError(f"the guide must return one integer action in [0, {space.n}), got {action!r}")
            if not 0 <= int(value.reshape(())) < space.n:
                raise ValueError(f"the guide returned action {int(value.reshape(()))}, not in [0, {space.n})")
            return value.reshape(())
        if value.shape != space.shape:
            raise ValueError(
                f"the guide returned an action of shape {value.shape}, the action space {space} needs shape "
                f"{space.shape}"
            )
        if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            raise ValueError(f"the guide returned a non-finite or non-numeric action: {action!r}")
        return value.astype(np.float32)


def td3_bc_actor_loss(
    q: torch.Tensor,
    actions: torch.Tensor,
    guide_actions: torch.Tensor,
    mask: torch.Tensor,
    guided: torch.Tensor,
    alpha: float,
    bc_weight: float,
) -> torch.Tensor:
    """
    TD3+BC actor loss (Fujimoto and Gu 2021; seed 002's online variant)::

        L = -alpha * mean_v(Q(h, pi(h))) / mean_v|Q(h, pi(h))| + lambda * mean_g(||pi(h) - a_guide||^2 / d)

    with ``mean_v`` over the valid (trained) steps, ``mean_g`` over the valid guided steps (0 without any), ``d`` the
    action size (``F.mse_loss`` of the seed's code) and the normalisation ``mean_v|Q|`` held constant (no gradient).

    :param q: (T, batch) ``Q1(h_t, pi(h_t))``
    :param actions: (T, batch, d) ``pi(h_t)``, scaled to [-1, 1]
    :param guide_actions: (T, batch, d) the stored actions, scaled to [-1, 1] (the guide's on guided steps)
    :param mask: (T, batch) 1 for the valid steps
    :param guided: (T, batch) 1 for the guided steps
    :param alpha: weight of the Q term
    :param bc_weight: lambda, weight of the behaviour cloning term
    :return: the loss (scalar)
    """
    n_valid = mask.sum().clamp(min=1.0)
    q_scale = ((q.abs() * mask).sum() / n_valid).detach().clamp(min=1e-8)
    q_term = -alpha * (q * mask).sum() / n_valid / q_scale
    weight = mask * guided
    squared = ((actions - guide_actions) ** 2).mean(dim=-1)
    return q_term + bc_weight * (squared * weight).sum() / weight.sum().clamp(min=1.0)


class Guidance:
    """
    Settings and state of guided training, kept by the algorithm (``model.guidance``) and saved with it; the guide
    itself is saved only as its path: a guide given as an object must be given again after loading
    (``Algo.load(path, env=env, guide=guide)`` or ``model.set_guide(guide)``).

    Jump-start horizon ``H`` (steps of each episode the guide acts, counted from 0; the student acts from step
    ``H`` on): ``horizon_start`` at the beginning of training, falling linearly to ``horizon_end`` over the first
    ``horizon_fraction`` of ``learn()``'s steps (``H = round(start + (end - start) * min(1, progress / fraction))``);
    or, with ``threshold``, ``horizon_start`` until the student's evaluation return (the last mean return of an
    ``EvalCallback`` of ``learn()``, or one given to :meth:`observe_evaluation`) reaches ``threshold``, then
    ``horizon_end``. The guide's actions carry no exploration noise. The student's core runs at every step, so
    its state is warm when it takes over.

    BC weight: ``lambda = bc_lambda * bc_decay ** (n_updates // bc_epoch)``, an epoch being ``bc_epoch`` gradient
    steps (the seed's code decays once per collect-and-learn cycle, 38 cycles over its jump-start phase, to 0.68 of
    the start; 1000 gradient steps per epoch reach 0.68 at 38k updates).

    :param guide: see :data:`GuideLike`; ``None`` until given (:meth:`set_guide`)
    :param horizon_start: ``H`` at the start; ``None`` for the episode length (the env's ``max_episode_steps``)
    :param horizon_end: final ``H``; ``None`` for the model's ``burn_in`` (the warm-up length)
    :param horizon_fraction: fraction of training over which ``H`` falls (the seed: 16 of 38 cycles, about 0.4)
    :param threshold: evaluation return at which ``H`` drops to ``horizon_end``; ``None`` for the linear schedule
    :param info_key: the ``info`` key of the privileged observation read by SB3-model guides
    :param bc_lambda: initial BC weight (seed: 0.2)
    :param bc_decay: BC weight factor per epoch (seed: 0.99)
    :param bc_epoch: gradient steps per epoch
    :param bc_alpha: weight of the normalised Q term (seed and TD3+BC: 2.5)
    """

    def __init__(
        self,
        guide: GuideLike | None = None,
        horizon_start: int | None = None,
        horizon_end: int | None = None,
        horizon_fraction: float = 0.4,
        threshold: float | None = None,
        info_key: str = PRIVILEGED_KEY,
        bc_lambda: float = 0.2,
        bc_decay: float = 0.99,
        bc_epoch: int = 1000,
        bc_alpha: float = 2.5,
    ) -> None:
        self.horizon_start = None if horizon_start is None else check_int("horizon_start", horizon_start, minimum=0)
        self.horizon_end = None if horizon_end is None else check_int("horizon_end", horizon_end, minimum=0)
        if self.horizon_start is not None and self.horizon_end is not None and self.horizon_end > self.horizon_start:
            raise ValueError(
                f"horizon_end must be <= horizon_start (H shrinks), got {self.horizon_end} > {self.horizon_start}"
            )
        self.horizon_fraction = check_float("horizon_fraction", horizon_fraction, minimum=0.0, maximum=1.0)
        if self.horizon_fraction == 0.0:
            raise ValueError("horizon_fraction must be in (0, 1], got 0.0")
        self.threshold = None if threshold is None else check_float("threshold", threshold)
        if not isinstance(info_key, str) or not info_key:
            raise TypeError(f"info_key must be a non-empty str, got {info_key!r}")
        self.info_key = info_key
        self.bc_lambda = check_float("bc_lambda", bc_lambda, minimum=0.0)
        self.bc_decay = check_float("bc_decay", bc_decay, minimum=0.0, maximum=1.0)
        self.bc_epoch = check_int("bc_epoch", bc_epoch, minimum=1)
        self.bc_alpha = check_float("bc_alpha", bc_alpha, minimum=0.0)
        self.threshold_passed = False
        self.source: str | None = None  # path of a guide given as a path (saved)
        self._guide: GuideLike | None = None  # the guide object (not saved)
        self._reset_transient()
        if guide is not None:
            self.set_guide(guide)

    def _reset_transient(self) -> None:
        self._policy: GuidePolicy | None = None
        self._steps: np.ndarray | None = None  # step of the running episode in each env
        self._infos: list[dict[str, Any]] | None = None  # info of each env's current observation
        self._eval_callbacks: list[EvalCallback] = []
        self.active = np.zeros(0, dtype=bool)  # envs whose current action is the guide's
        self.start: int | None = None  # the resolved horizon_start and horizon_end
        self.end: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_policy", "_steps", "_infos", "_eval_callbacks", "_guide", "start", "end"):
            state[name] = None
        state["active"], state["_eval_callbacks"] = np.zeros(0, dtype=bool), []
        return state

    def set_guide(self, guide: GuideLike) -> None:
        """
        :param guide: the guide (see :data:`GuideLike`); a path is loaded when the guide is first needed and saved
            with the model, an object is not saved
        """
        if isinstance(guide, (str, os.PathLike)):
            self.source, self._guide = os.fspath(guide), None
        elif isinstance(guide, BaseAlgorithm) or callable(guide):
            self.source, self._guide = None, guide
        else:
            raise TypeError(
                f"guide must be an SB3 model, a callable (obs, info) -> action or a path, got {guide!r} "
                f"({type(guide).__name__})"
            )
        self._policy = None

    def bind(self, action_space: spaces.Space, env: VecEnv | None, burn_in: int) -> None:
        """
        Load the guide if needed, check it against the action space and resolve the default horizons.

        :param action_space: the student's action space
        :param env: the training env (for the episode length), ``None`` if unknown yet
        :param burn_in: the model's ``burn_in`` (default ``horizon_end``)
        """
        if self._guide is None and self.source is None:
            raise ValueError(
                "this model trains with a guide that was given as an object, which is not saved with the model: "
                "give it again, Algo.load(path, env=env, guide=guide) or model.set_guide(guide)"
            )
        if self._policy is None:
            guide = self._guide if self._guide is not None else load_guide(self.source)  # type: ignore[arg-type]
            self._policy = GuidePolicy(guide, action_space, self.info_key)
        self.end = burn_in if self.horizon_end is None else self.horizon_end
        self.start = self.horizon_start
        if self.start is None and env is not None:
            spec = env.get_attr("spec", [0])[0]
            self.start = getattr(spec, "max_episode_steps", None)
            if self.start is None:
                raise ValueError("the env has no max_episode_steps: give guide_kwargs=dict(horizon_start=...)")
        if self.start is not None and self.end > self.start:
            raise ValueError(f"horizon_end ({self.end}) must be <= horizon_start ({self.start})")

    def horizon(self, progress: float) -> int:
        """
        :param progress: fraction of ``learn()``'s steps done, in [0, 1]
        :return: ``H``, the number of guided steps at the start of each episode
        """
        assert self.start is not None and self.end is not None, "call bind() first"
        if self.threshold is not None:
            return self.end if self.threshold_passed else self.start
        return round(self.start + (self.end - self.start) * min(1.0, progress / self.horizon_fraction))

    def bc_weight(self, n_updates: int) -> float:
        """:return: ``lambda = bc_lambda * bc_decay ** (n_updates // bc_epoch)``"""
        return self.bc_lambda * self.bc_decay ** (n_updates // self.bc_epoch)

    def observe_evaluation(self, mean_return: float) -> None:
        """:param mean_return: an evaluation return of the student (threshold mode: ``H`` drops once it passes)"""
        if self.threshold is not None and mean_return >= self.threshold:
            self.threshold_passed = True

    def watch(self, eval_callbacks: list[EvalCallback]) -> None:
        """:param eval_callbacks: the ``EvalCallback`` of ``learn()``, whose last mean return is observed"""
        self._eval_callbacks = list(eval_callbacks)

    def start_episodes(self, env: VecEnv) -> None:
        """Every env starts an episode (after ``env.reset()``): step counters at 0, infos from the reset."""
        self._steps = np.zeros(env.num_envs, dtype=np.int64)
        self._infos = [dict(info) for info in env.unwrapped.reset_infos]

    def act(
        self, model: RecurrentOffPolicyAlgorithm, action: np.ndarray, buffer_action: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        Replace the student's actions by the guide's in the envs within the first ``H`` steps of their episode.

        :param model: the algorithm (its last observation, progress, policy and logger)
        :param action: actions to send to the env
        :param buffer_action: the same, as stored (scaled to [-1, 1] for Box actions)
        :return: both arrays, with the guide's actions where it acts
        """
        if self._steps is None or self._infos is None:
            self.start_episodes(model.env)  # type: ignore[arg-type]
        assert self._policy is not None and self._steps is not None and self._infos is not None
        for callback in self._eval_callbacks:
            self.observe_evaluation(callback.last_mean_reward)
        horizon = self.horizon(1.0 - model._current_progress_remaining)
        model.logger.record("rollout/guide_horizon", horizon)
        self.active = self._steps < horizon
        if self.active.any():
            envs = np.flatnonzero(self.active)
            observations = np.asarray(model._last_obs)[envs, : model.policy.obs_dim]  # o_t of [o_t, a, r]
            guide_action = self._policy(observations, [self._infos[i] for i in envs])
            action, buffer_action = np.array(action), np.array(buffer_action)
            if isinstance(model.action_space, spaces.Box):
                scaled = np.clip(model.policy.scale_action(guide_action), -1.0, 1.0)
                buffer_action[envs] = scaled
                action[envs] = model.policy.unscale_action(scaled)
            else:
                action[envs] = buffer_action[envs] = guide_action
        return action, buffer_action

    def label(self, infos: list[dict[str, Any]]) -> None:
        """Mark the guide's transitions in the step's infos (read by the replay buffer)."""
        for i, info in enumerate(infos):
            info[GUIDED_KEY] = bool(self.active[i]) if i < len(self.active) else False

    def advance(self, env: VecEnv, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """
        After a step: count the step, restart the counters of finished episodes, keep each env's current info (the
        reset's where an episode ended).
        """
        if self._steps is None:
            return
        self._steps += 1
        reset_infos = env.unwrapped.reset_infos
        for i, done in enumerate(np.asarray(dones, dtype=bool)):
            if done:
                self._steps[i] = 0
            assert self._infos is not None
            self._infos[i] = dict(reset_infos[i]) if done else infos[i]

    def actor_loss(
        self,
        q: torch.Tensor,
        actions: torch.Tensor,
        guide_actions: torch.Tensor,
        mask: torch.Tensor,
        guided: torch.Tensor,
        n_updates: int,
    ) -> torch.Tensor:
        """:func:`td3_bc_actor_loss` with this guidance's ``bc_alpha`` and the BC weight after ``n_updates``."""
        return td3_bc_actor_loss(q, actions, guide_actions, mask, guided, self.bc_alpha, self.bc_weight(n_updates))
