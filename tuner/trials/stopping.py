"""Knowing when to stop: ``--patience N``, ``--target VALUE`` and ``--terminator``.

Each rule is judged from the stored trials (complete ones, in the order they completed), so a resumed
study goes on counting where the last run stopped, and trials of other `tune` processes count too.
Trials copied by a warm start (:mod:`tuner.study.warm_start`) were not run here: they are not among the
last N of --patience and cannot reach --target, though they are part of the best value to beat.
The rules are judged once when the run starts and again after each trial it completes; the runner asks
:meth:`StopRules.stop_reason` before starting a trial, which costs nothing. The run's owner calls
:meth:`StopRules.close` when it ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from tuner.errors import OptionError
from tuner.study.records import ATTR_WARM_START_FROM
from tuner.trials.terminator import TerminatorWatch

if TYPE_CHECKING:
    import optuna


def check_stop_rules(patience: int | None, target: float | None, terminator: bool, *, multi_objective: bool) -> None:
    """Refuse values no rule can use (for Python callers; the CLI's types refuse most of them first)."""
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise OptionError(f"patience must be a whole number of trials, at least 1, got {patience!r}")
    if target is not None and (isinstance(target, bool) or not math.isfinite(target)):
        raise OptionError(f"target must be a finite number, got {target!r}")
    for given, option in ((target is not None, "--target"), (terminator, "--terminator")):
        if given and multi_objective:
            raise OptionError(
                f"{option} needs a single objective; this study has several (use --patience, which watches "
                "the Pareto front)"
            )


def stop_rules(
    study: optuna.Study,
    *,
    patience: int | None,
    target: float | None,
    terminator: bool,
    on_status: Callable[[str], None] | None = None,
) -> StopRules | None:
    """The run's stop rules, judged once on the trials stored so far; None when none is asked for."""
    if patience is None and target is None and not terminator:
        return None
    rules = StopRules(study, patience=patience, target=target, terminator=terminator)
    rules.on_status = on_status
    rules.judge()
    return rules


class StopRules:
    """The stop rules of one run, judged from ``study``'s stored trials."""

    def __init__(
        self,
        study: optuna.Study,
        *,
        patience: int | None = None,
        target: float | None = None,
        terminator: bool = False,
        seed: int | None = None,
    ) -> None:
        self.study = study
        self.patience = patience
        self.target = target
        self.terminator = TerminatorWatch(seed) if terminator else None
        self.on_status: Callable[[str], None] | None = None  # the live view: the Terminator's latest figures
        self._reason: str | None = None  # --target's or --patience's
        self._terminator_reason: str | None = None
        self._judged_at = -1  # complete trials when last judged

    def trial_finished(self, trial: optuna.trial.FrozenTrial, outcome: object) -> None:
        """Judge again once a trial completed (told by the live view, before the runner starts another)."""
        if trial.state.name == "COMPLETE":
            self.judge()

    def stop_reason(self) -> str | None:
        """Why no new trial should start, as of the last judgement (and the Terminator's latest answer)."""
        if self.terminator is not None and (answer := self.terminator.take(self.study)) is not None:
            self._terminator_reason, status = answer
            if self.on_status is not None:
                self.on_status(status)
        return self._reason or self._terminator_reason

    def close(self) -> None:
        """End the Terminator's thread with the run: a judgement in progress stops at its next fit, waited for."""
        if self.terminator is not None:
            self.terminator.close()

    def judge(self) -> None:
        """Judge the rules on the stored trials (a no-op when no trial completed since the last time).

        The Terminator (seconds of Gaussian-process fits) answers in the background, except the first
        time: a resumed study it would stop starts no trial.
        """
        import optuna

        complete = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(complete) == self._judged_at:
            return
        first, self._judged_at = self._judged_at < 0, len(complete)
        own = sorted(
            (trial for trial in complete if ATTR_WARM_START_FROM not in trial.user_attrs),
            key=lambda trial: (trial.datetime_complete is None, trial.datetime_complete, trial.number),
        )
        self._reason = self._target_reason(own) or self._patience_reason(own, complete)
        if self.terminator is not None:
            self.terminator.request(self.study, wait=first)

    def _target_reason(self, own: list[optuna.trial.FrozenTrial]) -> str | None:
        if self.target is None:
            return None
        maximize = self.study.direction.name == "MAXIMIZE"
        for trial in own:
            if (trial.value >= self.target) if maximize else (trial.value <= self.target):
                return f"--target {self.target:g} reached: trial {trial.number} has {trial.value:.6g}"
        return None

    def _patience_reason(
        self, own: list[optuna.trial.FrozenTrial], complete: list[optuna.trial.FrozenTrial]
    ) -> str | None:
        if self.patience is None or len(own) < self.patience:
            return None
        window = own[-self.patience :]
        numbers = {trial.number for trial in window}
        before = [trial for trial in complete if trial.number not in numbers]
        if not before:
            return None  # the first trials always improve on nothing
        plural = "" if self.patience == 1 else "s"
        which = f"in the last {self.patience} completed trial{plural} (earlier runs included)"
        if len(self.study.directions) > 1:
            front = {trial.number for trial in self.study.best_trials}
            if front & numbers:
                return None
            return f"--patience {self.patience}: no trial joined the Pareto front {which}"
        maximize = self.study.direction.name == "MAXIMIZE"
        best = (max if maximize else min)(before, key=lambda trial: trial.value)
        improved = any((trial.value > best.value) if maximize else (trial.value < best.value) for trial in window)
        if improved:
            return None
        return f"--patience {self.patience}: no better value {which} than trial {best.number}'s {best.value:.6g}"
