"""What a run of the study tells others: the observer the runner calls, and the summary it returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tuner.study.records import NOT_COUNTED_REASONS, TrialOutcome

if TYPE_CHECKING:
    import optuna

    from tuner.trials.trial import TrialRun


class RunObserver(Protocol):
    """What the runner tells the display (or nobody) as a study progresses."""

    def trial_started(self, run: TrialRun) -> None: ...

    def trial_finished(self, trial: optuna.trial.FrozenTrial, outcome: TrialOutcome, is_best: bool) -> None: ...

    def stopping(self, reason: str) -> None: ...

    # --gpus free (told by GpuWatch): the slots that wait for their GPU, label -> why
    def slots_waiting(self, waiting: Mapping[str, str]) -> None: ...


@dataclass
class RunSummary:
    """What happened in one call of :meth:`StudyRunner.run`."""

    finished: dict[str, int] = field(default_factory=lambda: {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0})
    interrupted: bool = False
    gave_up: bool = False  # stopped because trials kept failing
    stop_reason: str = ""
    failure_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def only_failures(self) -> bool:
        """Trials of this run failed and none completed or was pruned (failures that say nothing
        about the parameters, such as interrupted trials, aside)."""
        failed = sum(count for reason, count in self.failure_reasons.items() if reason not in NOT_COUNTED_REASONS)
        return failed > 0 and self.finished["COMPLETE"] + self.finished["PRUNED"] == 0
