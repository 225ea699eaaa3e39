"""When a study stops starting trials: trial count, time, and failures that say something is broken."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuner.errors import OptionError
from tuner.study.records import REASON_OOM

if TYPE_CHECKING:
    from tuner.trials.stopping import StopRules

# A broken config or trainer fails every trial the same way; stop rather than burn the night.
DEFAULT_SAME_REASON_STREAK = 5
# Out of memory says the parameters are too big (a region of large batch sizes), not that the config is
# broken: only a far longer streak of it, with nothing completed or pruned in between, stops a run.
OUT_OF_MEMORY_STREAK = 20
MIN_TRIALS_FOR_FAILURE_RATE = 5
# A --constraint on a metric the trial did not report is a mistake in the option, not in the trial: every
# trial would fail the same way, so the first such failure stops the run (tuner.study.objective's reason).
CONSTRAINT_REASON_PREFIX = "--constraint "


@dataclass
class Budget:
    """The study's budget. Both limits count earlier runs of the same study.

    ``n_trials`` is the total number of trials the study should have; ``timeout`` the
    total wall time of `tune` runs on it, ``spent_before`` being what earlier runs used.
    """

    n_trials: int | None = None
    timeout: float | None = None
    spent_before: float = 0.0
    started: float = field(default_factory=time.monotonic)
    recorded: float = 0.0  # seconds of this run already added to the study's stored total
    # --gpu-hours: GPU-seconds of the study's ended trials (all runs, from their records) and of this run's.
    gpu_hours: float | None = None
    gpu_seconds_before: float = 0.0
    gpu_seconds_ended: float = 0.0
    stop_rules: StopRules | None = None  # --patience, --target, --terminator (tuner.trials.stopping)

    def elapsed(self) -> float:
        """Seconds of this study's budget used, earlier runs included."""
        return self.spent_before + (time.monotonic() - self.started)

    def time_left(self) -> float | None:
        if self.timeout is None:
            return None
        return max(0.0, self.timeout - self.elapsed())

    def stop_rule_reason(self) -> str | None:
        """Why no trial should start for --patience, --target or --terminator, if so (judged as trials complete)."""
        return self.stop_rules.stop_reason() if self.stop_rules is not None else None

    def gpu_hours_reason(self, running_gpu_seconds: float) -> str | None:
        """Why no trial should start for --gpu-hours (running trials' GPU time so far included), if so."""
        if self.gpu_hours is None:
            return None
        spent = (self.gpu_seconds_before + self.gpu_seconds_ended + running_gpu_seconds) / 3600
        if spent < self.gpu_hours:
            return None
        return f"--gpu-hours {self.gpu_hours:g} reached: {spent:.3g} GPU-hours spent (earlier runs included)"


@dataclass
class FailurePolicy:
    """Stops a run whose trials fail systematically.

    Four rules, each on this run's trials (interrupted ones aside): ``max_failures``
    failed trials in all; a failure rate above ``max_failure_rate`` once at least
    5 trials finished; ``same_reason_streak`` failures in a row with the same reason, out-of-memory
    failures left out (they neither extend nor break such a streak); :data:`OUT_OF_MEMORY_STREAK`
    out-of-memory failures with no trial completed or pruned in between.
    """

    max_failures: int | None = None
    max_failure_rate: float | None = None
    same_reason_streak: int = DEFAULT_SAME_REASON_STREAK
    _finished: int = 0
    _reasons: Counter[str] = field(default_factory=Counter)
    _streak: list[str] = field(default_factory=list)
    _out_of_memory: int = 0  # failures out of memory since the last trial that completed or was pruned

    def __post_init__(self) -> None:
        # The CLI's option types refuse these first; this is for Python callers.
        if self.max_failures is not None and self.max_failures < 1:
            raise OptionError(f"max_failures must be at least 1, got {self.max_failures}")
        if self.max_failure_rate is not None and not 0 < self.max_failure_rate <= 1:
            raise OptionError(f"max_failure_rate must be in (0, 1], got {self.max_failure_rate}")

    def record(self, state: str, reason: str | None) -> None:
        """Count one finished trial (``state`` an Optuna state name)."""
        self._finished += 1
        if state == "FAIL":
            self._reasons[reason or "unknown"] += 1
            if (reason or "").startswith(REASON_OOM):
                self._out_of_memory += 1
            else:
                self._streak.append(reason or "unknown")
        else:
            self._streak.clear()
            self._out_of_memory = 0

    def stop_reason(self) -> str | None:
        """Why the run should stop, or None."""
        failures = sum(self._reasons.values())
        if self.max_failures is not None and failures >= self.max_failures:
            return f"{failures} trials failed (--max-failures {self.max_failures}); most often: {self._most_common()}"
        if self.max_failure_rate is not None and self._finished >= MIN_TRIALS_FOR_FAILURE_RATE:
            rate = failures / self._finished
            if rate > self.max_failure_rate:
                return (
                    f"{failures} of {self._finished} trials failed, more than --max-failure-rate "
                    f"{self.max_failure_rate:g}; most often: {self._most_common()}"
                )
        if self._streak and self._streak[-1].startswith(CONSTRAINT_REASON_PREFIX):
            return f"{self._streak[-1]}; fix --constraint (every trial would fail the same way)"
        streak = self._streak[-self.same_reason_streak :]
        if len(streak) == self.same_reason_streak and len(set(streak)) == 1:
            return f"the last {self.same_reason_streak} trials all failed with: {streak[-1]}"
        if self._out_of_memory >= OUT_OF_MEMORY_STREAK:
            return (
                f"{self._out_of_memory} trials in a row ran out of memory, none completed or pruned in between; "
                "narrow the search space (batch or model sizes) or run fewer trials per GPU"
            )
        return None

    def one_failure_from_stopping(self) -> bool:
        """Whether one more failure (with the last failure's reason, or out of memory) would stop the run."""
        from copy import deepcopy

        for reason in (self._streak[-1] if self._streak else "unknown", REASON_OOM):
            trial = deepcopy(self)
            trial.record("FAIL", reason)
            if trial.stop_reason() is not None:
                return True
        return False

    def _most_common(self) -> str:
        return self._reasons.most_common(1)[0][0] if self._reasons else "-"
