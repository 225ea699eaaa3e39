"""Run a study: keep every slot busy with trials until the budget is spent or the user stops.

Sampling stays in this process (ask/tell, see :class:`StudyRunner`); each trial runs as a
subprocess (:mod:`tuner.trials.trial`). On Ctrl-C or SIGTERM no new trial starts, running ones are
ended (SIGTERM, ``--grace`` seconds, SIGKILL) and recorded as interrupted, and queued again to resume
in their folders when the command is run again (:mod:`tuner.trials.retries`). A second Ctrl-C kills at once.
"""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.config.snapshot import ConfigSnapshot
from tuner.space.parameters import SearchSpace
from tuner.study.heartbeat import record_first_heartbeat, record_heartbeat
from tuner.study.objective import Objective
from tuner.study.records import REASON_INTERRUPTED, REASON_TAKEN_OVER, TrialOutcome
from tuner.study.storage import StorageFileWatch
from tuner.trials.accounting import TrialAccounting
from tuner.trials.ahead import AheadPolicy
from tuner.trials.asking import TrialSource, study_full_reason
from tuner.trials.best_watch import BestWatch
from tuner.trials.budget import Budget, FailurePolicy
from tuner.trials.gpu_watch import GpuWatch
from tuner.trials.launch import TERMINATE_GRACE_SECONDS, CommandTemplate, terminate_all, wait_for_exit
from tuner.trials.recovery import launch_identity
from tuner.trials.retries import DEFAULT_MAX_RETRIES, Retries, tells_of_health
from tuner.trials.run_report import RunObserver, RunSummary
from tuner.trials.signals import interrupt_handlers
from tuner.trials.slots import Slot
from tuner.trials.trial import TrialRun
from tuner.trials.warm import WarmLauncher, make_launcher

if TYPE_CHECKING:
    import optuna

POLL_INTERVAL_SECONDS = 0.1


class StudyRunner:
    """Drives one study's trials through the given slots."""

    def __init__(
        self,
        *,
        study: optuna.Study,
        space: SearchSpace,
        snapshot: ConfigSnapshot,
        template: CommandTemplate,
        command_key: str | None = None,  # the key the study stores ``template`` under, for each launch record
        objective: Objective,
        serialization_dir: Path,
        slots: Sequence[Slot],
        base_env: Mapping[str, str],
        trial_timeout: float | None = None,
        failure_policy: FailurePolicy | None = None,
        heartbeat_interval: float | None = None,
        warm_launch: bool = True,
        observer: RunObserver | None = None,
        on_best: Callable[[Path], None] | None = None,
        storage_watch: StorageFileWatch | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        grace: float = TERMINATE_GRACE_SECONDS,
        trial_cwd: str = "tune",  # "trial": each trial runs in its own folder
        preload: Sequence[str] = (),  # what warm workers import before forking, besides torch
    ) -> None:
        self.study = study
        self.template = template
        self.command_key = command_key
        self.serialization_dir = serialization_dir
        self.slots = list(slots)
        self.base_env = dict(base_env)
        self.trial_timeout = trial_timeout
        self.failure_policy = failure_policy or FailurePolicy()
        self.heartbeat_interval = heartbeat_interval
        self.observer = observer
        self.on_best = on_best
        self.storage_watch = storage_watch  # checked every poll: a deleted SQLite file stops the run
        self.on_checkpoint: Callable[[], None] | None = None  # called every heartbeat interval
        self.slot_gate: GpuWatch | None = None  # --gpus free: a slot whose GPU someone took waits
        self.accounting: TrialAccounting | None = None  # GPU-seconds, --gpu-hours, artifacts, --keep-checkpoints
        self.metrics_from = None  # --metrics-from / --metrics-file: a tuner.trials.metric_sources.MetricSourceSpec
        self._source = TrialSource(study, space, snapshot, objective, serialization_dir, launch_identity())
        self._launchers = {
            slot.label: make_launcher(
                template, slot, warm_launch, self.base_env, serialization_dir, preload, own_folder=trial_cwd == "trial"
            )
            for slot in self.slots
        }
        self._running: dict[int, TrialRun] = {}
        self._interrupts = 0
        self._last_heartbeat = 0.0
        self._prepared: TrialRun | None = None  # asked and rendered, waiting for a slot
        self._asked: optuna.Trial | None = None  # one slot: asked while the running trial runs, not sampled yet
        self._starting: list[TrialRun] = []  # asked, maybe launched, maybe not running yet
        self._ahead = AheadPolicy(len(self.slots), study.sampler)  # whether to take the next trial before a slot frees
        self._retries = Retries(study, self.slots, max_retries)
        self.grace = grace  # seconds between SIGTERM and SIGKILL for trials ended by an interrupt
        self._best = BestWatch(study)

    def run(self, budget: Budget) -> RunSummary:
        """Run trials until the budget is spent, the grid is exhausted, or an interrupt."""
        summary = RunSummary()
        with interrupt_handlers(self._on_interrupt), warnings.catch_warnings():
            # tune beats the heartbeat itself (see record_heartbeat); Optuna's reminder does not apply.
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            try:
                for launcher in self._launchers.values():
                    if isinstance(launcher, WarmLauncher):
                        launcher.start()
                self._source.known_count = self.counted_trials()
                self._loop(budget, summary)
            finally:
                try:
                    self._end_all_running(summary)
                    self._hand_back_prepared()
                    self._abandon_starting()
                finally:  # even when the storage cannot record them (a full disk)
                    for launcher in self._launchers.values():
                        launcher.close()
        return summary

    @property
    def storage_lost(self) -> bool:
        """Whether the study's storage file was deleted or replaced: nothing more can be recorded."""
        return self.storage_watch is not None and self.storage_watch.lost

    def counted_trials(self, before: int | None = None) -> int:
        """Trials that count towards --n-trials (numbered below ``before``, if given); see :class:`TrialSource`."""
        return self._source.counted_trials(before)

    def _loop(self, budget: Budget, summary: RunSummary) -> None:
        while True:
            if self.storage_watch is not None:
                self.storage_watch.check()
            if self._interrupts:
                summary.interrupted = True
                summary.stop_reason = "interrupted"
                return
            stop_reason = self._fill_free_slots(budget, summary)
            if not self._running:
                summary.stop_reason = stop_reason or "done"
                summary.interrupted = self._interrupts > 0  # a Ctrl-C while slots waited for a GPU
                summary.gave_up = self.failure_policy.stop_reason() is not None
                return
            self._prepare_next(budget, summary)
            wait_for_exit([run.process for run in self._running.values() if run.process], POLL_INTERVAL_SECONDS)
            ended = self._collect_ended()
            if ended and self._prepared is not None:
                # A prepared trial takes the freed slot before the ended trials are recorded.
                self._fill_free_slots(budget, summary, prepared_only=True)
            for run, outcome in ended:
                self._record(run, outcome, summary)
            self._beat()

    def _collect_ended(self) -> list[tuple[TrialRun, TrialOutcome]]:
        """Running trials that ended, taken out of their slots; the failure policy hears of them."""
        ended = []
        for run in list(self._running.values()):
            outcome = run.check(trial_timeout=self.trial_timeout)
            if outcome is None:
                continue
            if self._interrupts and outcome.state == "FAIL":
                # Killed by a second Ctrl-C before _end_all_running got to it: the kill is ours, not the trial's.
                outcome = run.stop(REASON_INTERRUPTED)
            outcome = self._retries.judge(run, outcome)
            del self._running[run.number]
            self._ahead.trial_ended(time.monotonic() - run.started)
            self._tell_failure_policy(outcome)
            ended.append((run, outcome))
        return ended

    def _fill_free_slots(self, budget: Budget, summary: RunSummary, *, prepared_only: bool = False) -> str | None:
        """Start trials in free slots; the reason no more will start, if there is one.

        The trials for all free slots are asked and rendered first and then launched
        together, so that no slot waits for another's sampling; records come last.
        """
        while True:
            self._launch_held(budget, summary)
            free = self._retries.free_slots(self._running.values())
            if self.slot_gate is not None:  # with nothing running, wait here for a GPU to free
                wait = not self._running and not prepared_only
                free = self.slot_gate.ready(free, block=wait, stop=lambda: self._stop_reason(budget))
            runs: list[TrialRun] = []
            self._starting = runs  # ended by run() if anything fails before they are running
            reason = self._take_trials(budget, len(free), runs, prepared_only=prepared_only)
            asked = len(runs)
            runs[:] = self._retries.hold_alone(runs, self._running.values())  # they wait for a GPU of their own
            self._launch(free, runs)
            for run in runs:
                self._start_recorded(run, summary)
            self._starting = []
            held = len(runs) < asked  # next pass: it starts if its GPU is empty, others fill the other GPUs
            if reason or prepared_only or (all(run.outcome is None for run in runs) and not held):
                return reason

    def _launch_held(self, budget: Budget, summary: RunSummary) -> None:
        """Start the alone retries whose GPU emptied (unless the run stops: they are handed back then)."""
        if self._retries.held and not self._stop_reason(budget, new_trial=False):
            for slot, run in self._retries.take_startable(self._running.values()):
                self._launch([slot], [run])
                self._start_recorded(run, summary)

    def _take_trials(self, budget: Budget, count: int, runs: list[TrialRun], *, prepared_only: bool) -> str | None:
        """Append up to ``count`` trials to ``runs``, the prepared one first; why no more, if so.

        tune asks Optuna for each trial (ask/tell) rather than calling ``study.optimize``: optimize
        runs the objective in this process, one trial per call (threads for several), while tune
        runs each trial as a subprocess in a slot, several at once, streams their metrics for
        pruning, asks a trial ahead while every slot is busy, and ends them all on Ctrl-C.
        """
        for _ in range(count):
            if prepared_only and self._prepared is None:
                return None
            reason = self._stop_reason(budget, new_trial=self._prepared is None and self._asked is None)
            if reason:
                return reason
            run, self._prepared = self._prepared, None
            if run is None:
                asked, self._asked = self._asked, None
                run = self._source.ask_run(budget, asked)
                if run is None:
                    return study_full_reason(budget.n_trials or 0)
                self._source.prepare(run)
            runs.append(run)
            if self._retries.waits_for_gpu(run):
                return None  # the caller holds it, then fills the slots left (which may not be on its GPU)
        return None

    def _launch(self, free: Sequence[Slot], runs: Sequence[TrialRun]) -> None:
        """Start each rendered trial in its slot, all before any is recorded."""
        for slot, run in zip(free, runs):
            if run.outcome is None:
                run.attach_metrics(self.metrics_from, self.observer)
                template = self.template.for_slot(slot.gpus)
                run.launch(slot, template, self.base_env, self._launchers[slot.label], command_key=self.command_key)
            else:
                run.slot = slot

    def _start_recorded(self, run: TrialRun, summary: RunSummary) -> None:
        """Record ``run``'s launch; a trial that failed before any process ran is recorded as finished."""
        run.record_launch()
        if run.outcome is not None:  # failed before any process ran (the config does not render)
            self._finish(run, run.outcome, summary)
            return
        if self.heartbeat_interval is not None:  # asked or prepared ahead, it has one
            record_first_heartbeat(self.study, run.trial)
        if self.accounting is not None:
            self.accounting.after_launch(run)  # while the trial runs: less between its end and the next start
        if self.observer:
            self.observer.trial_started(run)
        self._running[run.number] = run

    def _prepare_next(self, budget: Budget, summary: RunSummary) -> None:
        """While every slot is busy with short trials, ask, sample and render the next trial (one slot: ask it)."""
        taken = self._prepared is not None or self._asked is not None
        ahead = None if taken else self._ahead.now(len(self._running), budget, self.failure_policy)
        if ahead is None or self._stop_reason(budget):
            return
        if ahead == "ask":
            self._asked = self._source.ask_ahead(budget)
            if self._asked is not None and self.heartbeat_interval is not None:
                record_first_heartbeat(self.study, self._asked)
            return
        run = self._source.ask_run(budget)
        if run is None:
            return
        self._starting = [run]
        prepared = self._source.prepare(run)
        run.record_launch()  # this process's identity: recovery finds it if tune dies
        if not prepared:
            self._finish(run, run.outcome, summary)
        elif self.heartbeat_interval is not None:
            record_first_heartbeat(self.study, run.trial)
        self._prepared, self._starting = (run if prepared else None), []

    def _abandon_starting(self) -> None:
        """Trials asked for a start that failed half-way: their processes killed, the trials ended.

        Those that made it to running or were recorded are finished already and are left alone.
        """
        starting, self._starting = self._starting, []
        for run in starting:
            if run.number in self._running:
                continue
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
            self._source.abandon(run.trial, "tune stopped with an error before the trial was running")

    def _hand_back_prepared(self) -> None:
        """Trials prepared or held that never got a slot: recorded as not run (they do not count)."""
        runs = [*([self._prepared] if self._prepared else []), *self._retries.release()]
        asked, self._asked, self._prepared = self._asked, None, None
        for run in runs if not self.storage_lost else []:
            self._source.hand_back(run)
        if asked is not None and not self.storage_lost:
            self._source.hand_back_asked(asked)

    def _stop_reason(self, budget: Budget, *, new_trial: bool = True) -> str | None:
        """Why no trial should start now, if so. A prepared trial (``new_trial=False``) already
        holds its place in the study and its grid point; only a stop or the clock holds it back."""
        if self._interrupts:
            return "interrupted"
        failures = self.failure_policy.stop_reason()
        if failures:
            return failures
        time_left = budget.time_left()
        if time_left is not None and time_left <= 0:
            return f"--timeout of {budget.timeout:g} s reached (earlier runs of this study included)"
        if self.accounting is not None and (gpu_hours := self.accounting.stop_reason(self._running.values())):
            return gpu_hours
        return budget.stop_rule_reason() or (self._source.exhausted_reason(budget) if new_trial else None)

    def _finish(self, run: TrialRun, outcome: TrialOutcome, summary: RunSummary) -> None:
        """Record an outcome that the failure policy has not heard of yet."""
        self._running.pop(run.number, None)
        outcome = self._retries.judge(run, outcome)
        self._tell_failure_policy(outcome)
        self._record(run, outcome, summary)

    def _tell_failure_policy(self, outcome: TrialOutcome) -> None:
        """Interrupted trials, trials another process took over and alone retries' first attempts say nothing
        of this run's health."""
        if tells_of_health(outcome):
            self.failure_policy.record(outcome.state, outcome.reason)

    def _record(self, run: TrialRun, outcome: TrialOutcome, summary: RunSummary) -> None:
        """Tell Optuna the outcome, keep best_config.json current and tell the observer."""
        frozen = self._source.tell(run, outcome, self.accounting.before_tell if self.accounting else None)
        if frozen is None:
            return self._taken_over(run)
        summary.finished[outcome.state] += 1
        if outcome.state == "FAIL":
            summary.failure_reasons[outcome.reason or "unknown"] += 1
        self._retries.queue(run, outcome, frozen)  # interrupted: resumes in its folder when the command runs again
        is_best = outcome.state == "COMPLETE" and self._is_best(frozen)
        if is_best and self.on_best:
            self.on_best(run.config_path)
        if self.accounting is not None:
            self.accounting.after_tell(run)
        if self.observer:
            self.observer.trial_finished(frozen, outcome, is_best)

    def _taken_over(self, run: TrialRun) -> None:
        """This process was stopped, and another one recovered the trial meanwhile (and queued it again)."""
        if self.observer:
            self.observer.stopping(f"trial {run.number} {REASON_TAKEN_OVER}; its process was ended")

    def _is_best(self, frozen: optuna.trial.FrozenTrial) -> bool:
        if len(self.study.directions) > 1:  # several objectives: on the (feasible) Pareto front
            return any(trial.number == frozen.number for trial in self.study.best_trials)
        return self._best.is_best(frozen)  # the storage is asked only when it may be

    def _beat(self) -> None:
        """Tell the storage that the running trials' owner is alive (RDB heartbeat)."""
        if self.heartbeat_interval is None or time.monotonic() - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = time.monotonic()
        runs = [*self._running.values(), *([self._prepared] if self._prepared else []), *self._retries.waiting]
        for trial in [*(run.trial for run in runs), *([self._asked] if self._asked else [])]:
            record_heartbeat(self.study, trial)
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    def _end_all_running(self, summary: RunSummary) -> None:
        """End every running trial (whole process groups) and record it as interrupted."""
        if not self._running:
            return
        if self.observer:
            self.observer.stopping(f"ending {len(self._running)} running trial(s)")
        runs = list(self._running.values())
        live = [run.process for run in runs if run.process is not None]
        if self._interrupts > 1:
            for process in live:
                process.kill()
        else:
            terminate_all(live, self.grace)
        if self.storage_lost:
            return  # records would go to the deleted file, or into a new, empty one in its place
        for run in runs:
            self._finish(run, run.stop(REASON_INTERRUPTED), summary)
        summary.interrupted = True

    def _on_interrupt(self) -> None:
        """Ctrl-C or SIGTERM: the first stops new trials, the second kills running ones at once."""
        self._interrupts += 1
        if self._interrupts == 1 and self.observer:
            self.observer.stopping("interrupt received: no new trials; Ctrl-C again to kill running trials at once")
        if self._interrupts > 1:
            # Only signals here: waiting for processes is the main loop's job (not re-entrant).
            for run in list(self._running.values()):
                if run.process is not None:
                    run.process.send(signal.SIGKILL)
