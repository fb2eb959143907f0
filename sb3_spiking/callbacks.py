"""SB3 callbacks for spiking policies."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.snn.schedules import SharpnessSchedule, iter_surrogates, set_sharpness


class SurrogateScheduleCallback(BaseCallback):
    """
    Change the surrogate sharpness of every spiking layer of the model (policy and target networks alike)
    during ``learn()``, following a schedule; the value in force is logged as ``train/surrogate_sharpness``.

    Reward-adaptive schedules observe the return of each finished training episode (the ``"episode"`` entry
    that SB3's ``Monitor`` puts in ``infos``).

    :param schedule: a :class:`~sb3_spiking.snn.schedules.SharpnessSchedule`
    :param verbose: verbosity level
    """

    def __init__(self, schedule: SharpnessSchedule, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.schedule = schedule
        self.sharpness: float | None = None

    def _on_training_start(self) -> None:
        if next(iter_surrogates(self.model.policy), None) is None:
            name = type(self.model.policy).__name__
            raise ValueError(f"{name} has no spiking layer whose surrogate can be scheduled")
        self._apply()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "episode" in info:
                self.schedule.observe(info["episode"]["r"])
        self._apply()
        return True

    def _apply(self) -> None:
        progress = 1.0 - self.model._current_progress_remaining
        value = self.schedule.value(progress, self.model._n_updates)
        if value != self.sharpness:
            set_sharpness(self.model.policy, value)
            self.sharpness = value
        self.logger.record("train/surrogate_sharpness", value)
