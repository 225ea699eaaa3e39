"""Whether an ended trial is the study's best, asking the storage only when it may be."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna


class BestWatch:
    """Answers "is this trial the study's best?" for each trial this run ends.

    The storage is asked (``study.best_trial``, a query) only for a trial whose value is not worse than
    the best value seen when it was last asked: the study's best can only have got better since (other
    `tune` processes may add better trials), so a worse trial cannot be it.
    """

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self._best_value: float | None = None

    def is_best(self, frozen: optuna.trial.FrozenTrial) -> bool:
        known = self._best_value
        if known is not None and frozen.value is not None and self._worse(frozen.value, known):
            return False
        try:
            best = self.study.best_trial
        except ValueError:  # no completed trial (a constrained study: no feasible one)
            return False
        self._best_value = best.value
        return best.number == frozen.number

    def _worse(self, value: float, than: float) -> bool:
        maximize = self.study.direction.name == "MAXIMIZE"
        return value < than if maximize else value > than
