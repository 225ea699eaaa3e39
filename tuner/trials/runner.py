"""Run a study: keep every slot busy with trials until the budget is spent or the user stops.

Sampling stays in this process (ask/tell); each trial runs as a subprocess
(:mod:`tuner.trials.trial`). On Ctrl-C or SIGTERM no new trial starts, running ones are
ended and recorded as interrupted, and their parameters are queued again so a
re-run picks them up first. A second Ctrl-C kills at once.
"""

from __future__ import annotations

import shutil
import signal
import statistics
import threading
import time
import warnings
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, Sequence

from tuner.config.snapshot import ConfigSnapshot
from tuner.errors import OutputError, TrialSetupError, TunerError
from tuner.space.parameters import SearchSpace
from tuner.study.objective import Objective
from tuner.study.records import (
    ATTR_LOG_TAIL,
    ATTR_PRUNED_EPOCH,
    ATTR_REASON,
    NOT_COUNTED_REASONS,
    REASON_INTERRUPTED,
    REASON_NOT_LAUNCHED,
    REASON_NOT_WRITTEN,
    REASON_SETUP_FAILED,
    REASON_SURPLUS,
    REASON_TAKEN_OVER,
    TrialOutcome,
)
from tuner.study.storage import StorageFileWatch, record_heartbeat
from tuner.trials.budget import Budget, FailurePolicy
from tuner.trials.launch import CommandTemplate, terminate_all, wait_for_exit
from tuner.trials.recovery import launch_identity
from tuner.trials.slots import Slot
from tuner.trials.trial import TrialRun
from tuner.trials.warm import Launcher, WarmLauncher, split_python_module
from tuner.trials.worker import TRAINER_PRELOADS

if TYPE_CHECKING:
    import optuna

POLL_INTERVAL_SECONDS = 0.1
# With several slots and trials this short (median of the last few), the next trial is asked,
# sampled and rendered while every slot is busy, so a freed slot waits only for the launch.
# Longer trials are asked when a slot frees: the launch overhead is then negligible, and
# Optuna's recorded start (stamped at ask) stays the real one.
PREPARE_AHEAD_BELOW_SECONDS = 10.0
RECENT_TRIALS = 9


def _study_full_reason(n_trials: int) -> str:
    return f"the study has its {n_trials} trial{'' if n_trials == 1 else 's'}"


class RunObserver(Protocol):
    """What the runner tells the display (or nobody) as a study progresses."""

    def trial_started(self, run: TrialRun) -> None: ...

    def trial_finished(self, trial: optuna.trial.FrozenTrial, outcome: TrialOutcome, is_best: bool) -> None: ...

    def stopping(self, reason: str) -> None: ...


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


class StudyRunner:
    """Drives one study's trials through the given slots."""

    def __init__(
        self,
        *,
        study: optuna.Study,
        space: SearchSpace,
        snapshot: ConfigSnapshot,
        template: CommandTemplate,
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
    ) -> None:
        self.study = study
        self.space = space
        self.snapshot = snapshot
        self.template = template
        self.objective = objective
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
        self._identity = launch_identity()
        self._launchers = {slot.label: self._make_launcher(slot, warm_launch) for slot in self.slots}
        self._running: dict[int, TrialRun] = {}
        self._interrupts = 0
        self._last_heartbeat = 0.0
        self._known_count = 0  # trials counting towards --n-trials, as last seen
        self._prepared: TrialRun | None = None  # asked and rendered, waiting for a slot
        self._starting: list[TrialRun] = []  # asked, maybe launched, maybe not running yet
        self._recent_durations: deque[float] = deque(maxlen=RECENT_TRIALS)

    def run(self, budget: Budget) -> RunSummary:
        """Run trials until the budget is spent, the grid is exhausted, or an interrupt."""
        summary = RunSummary()
        with self._interrupt_handlers(), warnings.catch_warnings():
            # tune beats the heartbeat itself (see record_heartbeat); Optuna's reminder does not apply.
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            try:
                for launcher in self._launchers.values():
                    if isinstance(launcher, WarmLauncher):
                        launcher.start()
                self._known_count = self.counted_trials()
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
        """Trials that count towards --n-trials (numbered below ``before``, if given).

        All count but those still queued and those interrupted, orphaned or surplus.
        """
        import optuna

        states = (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
            optuna.trial.TrialState.RUNNING,
        )
        trials = self.study.get_trials(deepcopy=False, states=states)
        return sum(
            1
            for trial in trials
            if trial.user_attrs.get(ATTR_REASON) not in NOT_COUNTED_REASONS and (before is None or trial.number < before)
        )

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
            del self._running[run.number]
            self._recent_durations.append(time.monotonic() - run.started)
            self._tell_failure_policy(outcome)
            ended.append((run, outcome))
        return ended

    def _fill_free_slots(self, budget: Budget, summary: RunSummary, *, prepared_only: bool = False) -> str | None:
        """Start trials in free slots; the reason no more will start, if there is one.

        The trials for all free slots are asked and rendered first and then launched
        together, so that no slot waits for another's sampling; records come last.
        """
        while True:
            busy = {run.slot.label for run in self._running.values() if run.slot is not None}
            free = [slot for slot in self.slots if slot.label not in busy]
            runs: list[TrialRun] = []
            self._starting = runs  # ended by run() if anything fails before they are running
            reason = None
            for _ in free:
                if prepared_only and self._prepared is None:
                    break
                reason = self._stop_reason(budget, new_trial=self._prepared is None)
                if reason:
                    break
                run, self._prepared = self._prepared, None
                if run is None:
                    run = self._ask_run(budget)
                    if run is None:
                        reason = _study_full_reason(budget.n_trials)
                        break
                    self._prepare(run)
                runs.append(run)
            for slot, run in zip(free, runs):
                if run.outcome is None:
                    run.launch(slot, self.template, self.base_env, self._launchers[slot.label])
                else:
                    run.slot = slot
            for run in runs:
                run.record_launch()
                if run.outcome is not None:  # failed before any process ran (the config does not render)
                    self._finish(run, run.outcome, summary)
                    continue
                if self.heartbeat_interval is not None:
                    record_heartbeat(self.study, run.trial)
                if self.observer:
                    self.observer.trial_started(run)
                self._running[run.number] = run
            self._starting = []
            if reason or prepared_only or all(run.outcome is None for run in runs):
                return reason

    def _prepare_next(self, budget: Budget, summary: RunSummary) -> None:
        """While every slot is busy with short trials, ask, sample and render the next trial."""
        if self._prepared is not None or len(self.slots) < 2 or len(self._running) < len(self.slots):
            return
        if not self._recent_durations:
            return
        typical = statistics.median(self._recent_durations)
        if typical >= PREPARE_AHEAD_BELOW_SECONDS or self._stop_reason(budget):
            return
        time_left = budget.time_left()
        if time_left is not None and time_left < typical:
            return  # it would probably be handed back unrun
        run = self._ask_run(budget)
        if run is None:
            return
        self._starting = [run]
        if not self._prepare(run):
            run.record_launch()
            self._finish(run, run.outcome, summary)
            self._starting = []
            return
        run.record_launch()  # this process's identity: recovery finds it if tune dies
        if self.heartbeat_interval is not None:
            record_heartbeat(self.study, run.trial)
        self._prepared, self._starting = run, []

    def _ask_run(self, budget: Budget) -> TrialRun | None:
        """A new trial with its sampled parameters; None if other processes filled the study first."""
        import optuna

        trial = self._ask()
        try:
            if budget.n_trials is not None and not self._claim_place(trial, budget.n_trials):
                # Other processes asked at the same moment and the study is full: give this one back.
                trial.set_user_attr(ATTR_REASON, REASON_SURPLUS)
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return None
            params = self.space.suggest(trial)
        except Exception as error:
            self._abandon(trial, f"{type(error).__name__}: {error}")
            if isinstance(error, TunerError):
                raise
            raise self._sampling_error(trial.number, error) from None
        directory = self.serialization_dir / f"trial_{trial.number}"
        return TrialRun(trial, params, directory, self.objective, self._identity)

    def _prepare(self, run: TrialRun) -> bool:
        """Render ``run``'s config into its folder (see :meth:`TrialRun.prepare`).

        A folder that cannot be written stops the run: the trial is recorded as not run
        (it does not count) and its parameters are queued again for the next run.
        """
        import optuna

        try:
            return run.prepare(self.snapshot)
        except OutputError:
            run.trial.set_user_attr(ATTR_REASON, REASON_NOT_WRITTEN)
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
            self.study.enqueue_trial(run.params, skip_if_exists=False)
            raise

    def _ask(self) -> optuna.Trial:
        """``study.ask()``; a sampler that fails here leaves a trial this process cannot name,
        which the stale-trial recovery ends once it is older than the heartbeat's grace period."""
        try:
            return self.study.ask()
        except Exception as error:  # noqa: BLE001 - samplers raise anything; it becomes one line
            raise self._sampling_error(None, error) from None

    def _sampling_error(self, number: int | None, error: Exception) -> TrialSetupError:
        which = "a new trial" if number is None else f"trial {number}"
        first_line = (str(error).strip().splitlines() or [""])[0]
        return TrialSetupError(
            f"the sampler {type(self.study.sampler).__name__} failed on {which}: {type(error).__name__}: {first_line}"
        )

    def _abandon(self, trial: optuna.Trial, error: str) -> None:
        """End a trial that tune failed to prepare or start: FAIL, not counted, the error kept."""
        import optuna

        try:
            trial.set_user_attr(ATTR_REASON, REASON_SETUP_FAILED)
            trial.set_user_attr(ATTR_LOG_TAIL, error)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            pass  # finished already

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
            self._abandon(run.trial, "tune stopped with an error before the trial was running")

    def _hand_back_prepared(self) -> None:
        """A prepared trial that never got a slot: recorded as not run (it does not count)."""
        import optuna

        run, self._prepared = self._prepared, None
        if run is None or self.storage_lost:
            return
        run.trial.set_user_attr(ATTR_REASON, REASON_NOT_LAUNCHED)
        self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
        shutil.rmtree(run.directory, ignore_errors=True)

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
        if not new_trial:
            return None
        if budget.n_trials is not None and self._study_full(budget.n_trials):
            return _study_full_reason(budget.n_trials)
        is_exhausted = getattr(self.study.sampler, "is_exhausted", None)
        if is_exhausted is not None and is_exhausted(self.study):
            return "every point of the grid was tried"
        return None

    def _study_full(self, n_trials: int) -> bool:
        """Whether the study has its trials. The count known from this process's last claim
        answers while it is below ``n_trials`` (the claim after asking is authoritative);
        only then is the storage asked, which saves a query per trial."""
        if self._known_count < n_trials:
            return False
        self._known_count = self.counted_trials()
        return self._known_count >= n_trials

    def _claim_place(self, trial: optuna.Trial, n_trials: int) -> bool:
        """Whether ``trial`` is within the study's ``n_trials``: trials numbered before it decide.

        Below number ``n_trials`` fewer than ``n_trials`` trials come before it, so only the
        study's last trials need the query.
        """
        if trial.number < n_trials:
            self._known_count += 1  # an estimate; _study_full asks the storage once it reaches n_trials
            return True
        before = self.counted_trials(before=trial.number)
        self._known_count = before + 1
        return before < n_trials

    def _make_launcher(self, slot: Slot, warm_launch: bool) -> Launcher:
        probe = self.template.render(config=Path("config.json"), serialization_dir=Path("."), trial_number=0)
        python_module = split_python_module(probe) if warm_launch else None
        if python_module is None:
            return Launcher()
        module = python_module[0]
        preload = TRAINER_PRELOADS.get(module, ())
        log_path = self.serialization_dir / ".workers" / f"{slot.label}.log"
        return WarmLauncher(module, preload=preload, env={**self.base_env, **slot.env}, log_path=log_path)

    def _finish(self, run: TrialRun, outcome: TrialOutcome, summary: RunSummary) -> None:
        """Record an outcome that the failure policy has not heard of yet."""
        self._running.pop(run.number, None)
        self._tell_failure_policy(outcome)
        self._record(run, outcome, summary)

    def _tell_failure_policy(self, outcome: TrialOutcome) -> None:
        """Interrupted trials and trials another process took over say nothing of this run's health."""
        if outcome.reason not in (REASON_INTERRUPTED, REASON_TAKEN_OVER):
            self.failure_policy.record(outcome.state, outcome.reason)

    def _record(self, run: TrialRun, outcome: TrialOutcome, summary: RunSummary) -> None:
        """Tell Optuna the outcome, keep best_config.json current and tell the observer."""
        import optuna

        trial = run.trial
        try:
            if outcome.reason == REASON_TAKEN_OVER:
                return self._taken_over(run)
            if outcome.reason:
                trial.set_user_attr(ATTR_REASON, outcome.reason)
            if outcome.pruned_epoch is not None:
                trial.set_user_attr(ATTR_PRUNED_EPOCH, outcome.pruned_epoch)
            if outcome.state == "FAIL":
                tail = run.log_tail()
                if tail:
                    trial.set_user_attr(ATTR_LOG_TAIL, tail)
            values = outcome.value if outcome.state == "COMPLETE" else None
            frozen = self.study.tell(trial, values, state=optuna.trial.TrialState[outcome.state])
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
            if not self.study._storage.get_trial(trial._trial_id).state.is_finished():
                raise
            return self._taken_over(run)
        summary.finished[outcome.state] += 1
        if outcome.state == "FAIL":
            summary.failure_reasons[outcome.reason or "unknown"] += 1
        if outcome.reason == REASON_INTERRUPTED:
            # Queue the same point again so that re-running the command finishes the planned study.
            self.study.enqueue_trial(run.params, skip_if_exists=False)
        is_best = outcome.state == "COMPLETE" and self._is_best(frozen)
        if is_best and self.on_best:
            self.on_best(run.config_path)
        if self.observer:
            self.observer.trial_finished(frozen, outcome, is_best)

    def _taken_over(self, run: TrialRun) -> None:
        """This process was stopped, and another one recovered the trial meanwhile (and queued it again)."""
        if self.observer:
            self.observer.stopping(f"trial {run.number} {REASON_TAKEN_OVER}; its process was ended")

    def _is_best(self, frozen: optuna.trial.FrozenTrial) -> bool:
        try:
            return self.study.best_trial.number == frozen.number
        except ValueError:
            return False

    def _beat(self) -> None:
        """Tell the storage that the running trials' owner is alive (RDB heartbeat)."""
        if self.heartbeat_interval is None or time.monotonic() - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = time.monotonic()
        for run in [*self._running.values(), *([self._prepared] if self._prepared else [])]:
            record_heartbeat(self.study, run.trial)
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
            terminate_all(live)
        if self.storage_lost:
            return  # records would go to the deleted file, or into a new, empty one in its place
        for run in runs:
            self._finish(run, run.stop(REASON_INTERRUPTED), summary)
        summary.interrupted = True

    @contextmanager
    def _interrupt_handlers(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return

        def handle(signum: int, frame: Any) -> None:
            self._interrupts += 1
            if self._interrupts == 1 and self.observer:
                self.observer.stopping("interrupt received: no new trials; Ctrl-C again to kill running trials at once")
            if self._interrupts > 1:
                # Only signals here: waiting for processes is the main loop's job (not re-entrant).
                for run in list(self._running.values()):
                    if run.process is not None:
                        run.process.send(signal.SIGKILL)

        previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
