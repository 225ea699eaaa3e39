"""Trials that run again: interrupted ones resume in their folder, out-of-memory ones on a shared GPU run alone.

A trial ended by Ctrl-C, SIGTERM (preemption), or a `tune` that died (found by the stale-trial recovery,
:mod:`tuner.trials.recovery`) is queued again as a new Optuna trial tied to it (:data:`ATTR_RETRY`): it runs
in the same folder with ``TUNER_RESUME=1`` and the intermediate values reported so far, so a trainer that
checkpoints continues and the pruner sees one trial. Attempts are bounded: one interrupted more than
``max_retries`` times ends failed (``interrupted N times``) and counts. Interrupted attempts do not count.

A trial that ran out of GPU memory while sharing its GPU (``--trials-per-gpu`` > 1) is retried once alone:
the other slots of a GPU wait until it is free, then stay idle while the retry runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tuner.study.records import (
    REASON_INTERRUPTED,
    REASON_OOM,
    REASON_OOM_SHARED,
    REASON_TAKEN_OVER,
    TrialOutcome,
    interrupted_times_reason,
    next_attempt,
    queue_retry,
)
from tuner.trials.slots import Slot
from tuner.trials.trial import TrialRun

if TYPE_CHECKING:
    import optuna

DEFAULT_MAX_RETRIES = 2


def slot_gpus(slot: Slot | None) -> frozenset[str]:
    """The GPUs a slot's trials use (none on CPU)."""
    return frozenset(slot.gpus) if slot is not None else frozenset()


class Retries:
    """Decides which ended trials run again, queues them, and keeps a GPU to itself for an alone retry."""

    def __init__(self, study: optuna.Study, slots: Sequence[Slot], max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        self.study = study
        self.slots = list(slots)
        self.max_retries = max_retries
        self.held: list[tuple[TrialRun, frozenset[str]]] = []  # alone retries, each waiting for its GPU to empty

    def judge(self, run: TrialRun, outcome: TrialOutcome) -> TrialOutcome:
        """``outcome`` as recorded: an interrupt past the last attempt fails the trial, and an out-of-memory
        failure on a shared GPU says that the trial is retried alone."""
        if outcome.reason == REASON_INTERRUPTED and run.attempt > self.max_retries:
            return dataclasses.replace(outcome, reason=interrupted_times_reason(run.attempt))
        if self._out_of_memory_shared(run, outcome):
            return dataclasses.replace(outcome, reason=REASON_OOM_SHARED)
        return outcome

    def queue(self, run: TrialRun, outcome: TrialOutcome, frozen: optuna.trial.FrozenTrial) -> None:
        """Queue the next attempt of a trial that ended (recorded as ``frozen``), if it is to run again."""
        if outcome.reason == REASON_INTERRUPTED:
            record = next_attempt(frozen.number, frozen.user_attrs, directory=str(run.directory), alone=run.alone)
        elif outcome.reason == REASON_OOM_SHARED:
            record = next_attempt(frozen.number, frozen.user_attrs, directory=str(run.directory), alone=True)
        else:
            return
        queue_retry(self.study, run.params, frozen.intermediate_values, record)

    def _out_of_memory_shared(self, run: TrialRun, outcome: TrialOutcome) -> bool:
        if outcome.state != "FAIL" or not (outcome.reason or "").startswith(REASON_OOM) or run.alone:
            return False
        return self._shares_gpu(run.slot)

    def _shares_gpu(self, slot: Slot | None) -> bool:
        gpus = slot_gpus(slot)
        return bool(gpus) and any(other is not slot and slot_gpus(other) & gpus for other in self.slots)

    def free_slots(self, running: Iterable[TrialRun]) -> list[Slot]:
        """The slots a new trial may start in: not busy, and not on a GPU kept for an alone retry."""
        running = list(running)
        busy = {run.slot.label for run in running if run.slot is not None}
        kept = set().union(*(gpus for _, gpus in self.held), *(slot_gpus(run.slot) for run in running if run.alone))
        return [slot for slot in self.slots if slot.label not in busy and not slot_gpus(slot) & kept]

    @property
    def waiting(self) -> list[TrialRun]:
        return [run for run, _ in self.held]

    def hold_alone(self, runs: Sequence[TrialRun], running: Iterable[TrialRun]) -> list[TrialRun]:
        """Hold the alone retries among ``runs`` (see :meth:`hold`); the others, to start now.

        Where no slot shares a GPU (run again with --trials-per-gpu 1) every trial runs alone anyway.
        """
        running, rest = list(running), []
        for run in runs:
            if self.waits_for_gpu(run):
                self.hold(run, running)
            else:
                rest.append(run)
        return rest

    def waits_for_gpu(self, run: TrialRun) -> bool:
        """Whether ``run`` is an alone retry that a GPU must be emptied for (not where no slot shares one)."""
        return run.alone and run.outcome is None and any(self._shares_gpu(slot) for slot in self.slots)

    def hold(self, run: TrialRun, running: Iterable[TrialRun]) -> None:
        """Keep the alone retry ``run`` until a GPU empties: the one running the fewest trials (and kept for
        no other alone retry, while there is such a GPU), from now on taking no new trials."""
        running = list(running)
        kept = set().union(*(gpus for _, gpus in self.held))
        shared = [slot for slot in self.slots if self._shares_gpu(slot)]
        candidates = [slot for slot in shared if not slot_gpus(slot) & kept] or shared

        def load(slot: Slot) -> int:
            return sum(1 for other in running if slot_gpus(other.slot) & slot_gpus(slot))

        self.held.append((run, slot_gpus(min(candidates, key=load))))

    def take_startable(self, running: Iterable[TrialRun]) -> list[tuple[Slot, TrialRun]]:
        """The held retries whose GPU is empty now, taken out, each with the first slot of its GPU."""
        busy = set().union(*(slot_gpus(run.slot) for run in running))
        startable = []
        for run, gpus in list(self.held):
            if not gpus & busy:
                self.held.remove((run, gpus))
                busy |= gpus
                startable.append((next(slot for slot in self.slots if slot_gpus(slot) & gpus), run))
        return startable

    def release(self) -> list[TrialRun]:
        """Take every held retry out (to hand them back unrun)."""
        runs, self.held = self.waiting, []
        return runs


def tells_of_health(outcome: TrialOutcome) -> bool:
    """Whether the failure policy hears of ``outcome``: interrupted trials, trials another process took over,
    and trials to be retried alone say nothing of this run's health."""
    reason = outcome.reason or ""
    return reason not in (REASON_INTERRUPTED, REASON_TAKEN_OVER, REASON_OOM_SHARED) and not (
        reason.startswith(REASON_INTERRUPTED + " ") and reason.endswith(" times")
    )
