"""Trial subsets for analysis: an in-memory copy of a stored study, and samples of large ones.

Plots and importances read a study many times over; reading it once from the storage
into memory keeps ``tune plot`` from querying SQLite for every figure. Some of Optuna's
analyses grow faster than linearly with the number of trials (fANOVA, contour grids,
one line per learning curve), so for thousands of trials they get a sample instead,
and say so.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

KEEP_BEST = 10  # a sample always holds the best trials, so no plot loses the optimum
SAMPLE_SEED = 0


@dataclass(frozen=True)
class TrialView:
    """An in-memory study over some trials, with a note when they are a sample."""

    study: optuna.Study
    numbers: tuple[int, ...]  # the original number of each trial (the copy numbers them 0, 1, ...)
    n_total: int

    @property
    def n_shown(self) -> int:
        return len(self.numbers)

    @property
    def sampled(self) -> bool:
        return self.n_shown < self.n_total

    @property
    def note(self) -> str | None:
        """``"sample of 300 of 3000 trials"``, or None when every trial is shown."""
        return f"sample of {self.n_shown} of {self.n_total} trials" if self.sampled else None


def in_memory_copy(study: optuna.Study) -> optuna.Study:
    """Every trial of ``study`` in an in-memory study (same numbers, name and direction)."""
    return study_of(study.get_trials(deepcopy=False), study)


def launch_timed_copy(study: optuna.Study) -> optuna.Study:
    """Like :func:`in_memory_copy`, each trial starting at its launch rather than when it was asked."""
    import copy

    from tuner.study.records import launched_at

    trials = []
    for trial in study.get_trials(deepcopy=False):
        timed = copy.copy(trial)
        timed.datetime_start = launched_at(trial)
        trials.append(timed)
    return study_of(trials, study)


def study_of(trials: Iterable[optuna.trial.FrozenTrial], like: optuna.Study) -> optuna.Study:
    """An in-memory study holding ``trials``, in order, with the direction of ``like``."""
    import optuna

    copy = optuna.create_study(study_name=like.study_name, directions=like.directions)
    copy.add_trials(list(trials))
    return copy


def sampled_view(
    study: optuna.Study, *, states: Iterable[str], limit: int | None, with_intermediate: bool = False
) -> TrialView:
    """The trials of ``study`` in ``states`` (names such as ``"COMPLETE"``), at most ``limit`` of them.

    A sample keeps the :data:`KEEP_BEST` best completed trials and draws the rest at
    random (with a fixed seed, so plots do not change between runs); trials keep their order.
    """
    wanted = set(states)
    trials = [
        trial
        for trial in study.get_trials(deepcopy=False)
        if trial.state.name in wanted and (trial.intermediate_values or not with_intermediate)
    ]
    if limit is None or len(trials) <= limit:
        return TrialView(study_of(trials, study), tuple(trial.number for trial in trials), len(trials))
    chosen = _best_numbers(trials, study, min(KEEP_BEST, limit))
    rest = [trial.number for trial in trials if trial.number not in chosen]
    chosen |= set(random.Random(SAMPLE_SEED).sample(rest, limit - len(chosen)))
    sample = [trial for trial in trials if trial.number in chosen]
    return TrialView(study_of(sample, study), tuple(trial.number for trial in sample), len(trials))


def _best_numbers(trials: list[optuna.trial.FrozenTrial], study: optuna.Study, count: int) -> set[int]:
    complete = [trial for trial in trials if trial.state.name == "COMPLETE" and trial.values]
    sign = -1.0 if study.directions[0].name == "MAXIMIZE" else 1.0  # several objectives: by the first
    return {trial.number for trial in sorted(complete, key=lambda trial: sign * trial.values[0])[:count]}
