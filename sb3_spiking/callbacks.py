"""SB3 callbacks for spiking policies."""

from __future__ import annotations

import warnings

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.snn.schedules import SharpnessSchedule, iter_surrogates, set_sharpness
from sb3_spiking.validation import check_int


class SurrogateScheduleCallback(BaseCallback):
    """
    Change the surrogate sharpness of every spiking layer of the model (policy and target networks alike)
    during ``learn()``, following a schedule; the value in force is logged as ``train/surrogate_sharpness``.
    The sharpness in force is saved with the model (the spiking policies keep it in their ``state_dict``), so
    resuming without this callback trains with the last scheduled value.

    Reward-adaptive schedules observe the return of each finished training episode (the ``"episode"`` entry
    that SB3's ``Monitor`` puts in ``infos``); a warning is given if episodes end without it.

    :param schedule: a :class:`~sb3_spiking.snn.schedules.SharpnessSchedule`
    :param verbose: verbosity level
    """

    def __init__(self, schedule: SharpnessSchedule, verbose: int = 0) -> None:
        if not isinstance(schedule, SharpnessSchedule):
            raise TypeError(
                f"schedule must be a SharpnessSchedule (e.g. ConstantSharpness(8.0), LinearSharpness(2.0, 50.0)), "
                f"got {schedule!r} ({type(schedule).__name__})"
            )
        super().__init__(check_int("verbose", verbose, minimum=0))
        self.schedule = schedule
        self.sharpness: float | None = None
        self._warned_no_episode_info = False

    def _on_training_start(self) -> None:
        if next(iter_surrogates(self.model.policy), None) is None:
            name = type(self.model.policy).__name__
            raise ValueError(f"{name} has no spiking layer whose surrogate can be scheduled")
        self._apply()

    def _on_step(self) -> bool:
        self._observe_returns()
        self._apply()
        return True

    def _observe_returns(self) -> None:
        infos = self.locals.get("infos", [])
        for info in infos:
            if "episode" in info:
                self.schedule.observe(info["episode"]["r"])
        dones = np.asarray(self.locals.get("dones", []), dtype=bool).reshape(-1)
        finished_without_return = [i for i in np.flatnonzero(dones) if i < len(infos) and "episode" not in infos[i]]
        if finished_without_return and self.schedule.observes_rewards and not self._warned_no_episode_info:
            self._warned_no_episode_info = True
            warnings.warn(
                f"{type(self.schedule).__name__} needs episode returns, but an episode ended with no 'episode' entry "
                "in its info: wrap the environment in stable_baselines3.common.monitor.Monitor (or the VecEnv in "
                "VecMonitor); until then the sharpness stays at its first value",
                UserWarning,
                stacklevel=2,
            )

    def _apply(self) -> None:
        progress = 1.0 - self.model._current_progress_remaining
        value = self.schedule.value(progress, self.model._n_updates)
        if value != self.sharpness:
            set_sharpness(self.model.policy, value)
            self.sharpness = value
        self.logger.record("train/surrogate_sharpness", value)
