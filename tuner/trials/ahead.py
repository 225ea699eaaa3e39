"""Whether to take the next trial before a slot frees, and how far: prepared (several slots) or only asked (one).

With several slots and trials this short (median of the last few), the next trial is asked, sampled
and rendered while every slot is busy, so a freed slot waits only for the launch. With one slot it is
only asked (Optuna's part, which reads nothing of the other trials for the samplers below) and sampled
once the running trial's outcome is told, as if asked then. Longer trials are asked when a slot frees:
the launch overhead is then negligible, and Optuna's recorded start (stamped at ask) stays the real one.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import optuna

    from tuner.trials.budget import Budget, FailurePolicy

PREPARE_AHEAD_BELOW_SECONDS = 10.0
RECENT_TRIALS = 9


def samples_only_when_suggested(sampler: optuna.samplers.BaseSampler) -> bool:
    """Whether ``sampler`` reads nothing of the study when a trial is asked, only when its parameters are
    suggested (Optuna computes relative parameters at the first suggestion): TPE, random search, GP, and any
    sampler that keeps Optuna's empty ``before_trial``."""
    import optuna

    exact = (optuna.samplers.TPESampler, optuna.samplers.RandomSampler, optuna.samplers.GPSampler)
    return type(sampler) in exact or type(sampler).before_trial is optuna.samplers.BaseSampler.before_trial


class AheadPolicy:
    """Decides, while every slot is busy, whether the next trial is taken ahead (see the module's docstring)."""

    def __init__(self, slots: int, sampler: optuna.samplers.BaseSampler) -> None:
        self.slots = slots
        self._one_slot_asks = slots == 1 and samples_only_when_suggested(sampler)
        self._recent: deque[float] = deque(maxlen=RECENT_TRIALS)

    def trial_ended(self, seconds: float) -> None:
        """A trial ran ``seconds`` from its launch."""
        self._recent.append(seconds)

    def now(self, running: int, budget: Budget, failures: FailurePolicy) -> Literal["prepare", "ask"] | None:
        """``"prepare"`` the next trial, only ``"ask"`` it (one slot), or None: wait for a free slot."""
        if running < self.slots or not self._recent or (self.slots == 1 and not self._one_slot_asks):
            return None
        typical = statistics.median(self._recent)
        time_left = budget.time_left()
        if typical >= PREPARE_AHEAD_BELOW_SECONDS or (time_left is not None and time_left < typical):
            return None  # not worth it, or it would probably be handed back unrun
        if self.slots > 1:
            return "prepare"
        if budget.stop_rules is not None or failures.one_failure_from_stopping():
            return None  # a stop after the running trial would leave the one asked ahead unrun
        return "ask"
