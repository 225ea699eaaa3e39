"""Run a study: keep every slot busy with trials until the budget is spent or the user stops.

Sampling stays in this process (ask/tell); each trial runs as a subprocess
(:mod:`tuner.trials`). On Ctrl-C or SIGTERM no new trial starts, running ones are
ended and recorded as interrupted, and their parameters are queued again so a
re-run picks them up first. A second Ctrl-C kills at once.
"""

from __future__ import annotations

import signal
import threading
import warnings
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, Sequence

from tuner.budget import Budget, FailurePolicy
from tuner.config import ConfigSnapshot
from tuner.launch import CommandTemplate, terminate_all, wait_for_exit
from tuner.objective import Objective
from tuner.recovery import launch_identity
from tuner.search_space import SearchSpace
from tuner.slots import Slot
from tuner.study import record_heartbeat
from tuner.warm import Launcher, WarmLauncher, split_python_module
from tuner.worker import TRAINER_PRELOADS
from tuner.trials import (
    ATTR_LOG_TAIL,
    ATTR_PRUNED_EPOCH,
    ATTR_REASON,
    NOT_COUNTED_REASONS,
    REASON_INTERRUPTED,
    REASON_SURPLUS,
    TrialOutcome,
    TrialRun,
)

if TYPE_CHECKING:
    import optuna

POLL_INTERVAL_SECONDS = 0.1


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
        self.on_checkpoint: Callable[[], None] | None = None  # called every heartbeat interval
        self._identity = launch_identity()
        self._launchers = {slot.label: self._make_launcher(slot, warm_launch) for slot in self.slots}
        self._running: dict[int, TrialRun] = {}
        self._interrupts = 0
        self._last_heartbeat = 0.0
        self._known_count = 0  # trials counting towards --n-trials, as last seen

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
                self._end_all_running(summary)
                for launcher in self._launchers.values():
                    launcher.close()
        return summary

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
            if self._interrupts:
                summary.interrupted = True
                summary.stop_reason = "interrupted"
                return
            stop_reason = self._fill_free_slots(budget, summary)
            if not self._running:
                summary.stop_reason = stop_reason or "done"
                summary.gave_up = self.failure_policy.stop_reason() is not None
                return
            wait_for_exit([run.process for run in self._running.values() if run.process], POLL_INTERVAL_SECONDS)
            for run in list(self._running.values()):
                outcome = run.check(trial_timeout=self.trial_timeout)
                if outcome is not None:
                    self._finish(run, outcome, summary)
            self._beat()

    def _fill_free_slots(self, budget: Budget, summary: RunSummary) -> str | None:
        """Start trials in free slots; the reason no more will start, if there is one."""
        import optuna

        busy = {run.slot.label for run in self._running.values()}
        for slot in self.slots:
            while slot.label not in busy:
                reason = self._stop_reason(budget)
                if reason:
                    return reason
                trial = self.study.ask()
                if budget.n_trials is not None and not self._claim_place(trial, budget.n_trials):
                    # Other processes asked at the same moment and the study is full: give this one back.
                    trial.set_user_attr(ATTR_REASON, REASON_SURPLUS)
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    return f"the study has its {budget.n_trials} trials"
                run = self._start_trial(slot, trial)
                if run.outcome is not None:  # failed before any process ran (the config does not render)
                    self._finish(run, run.outcome, summary)
                    continue
                self._running[run.number] = run
                busy.add(slot.label)
        return None

    def _stop_reason(self, budget: Budget) -> str | None:
        failures = self.failure_policy.stop_reason()
        if failures:
            return failures
        time_left = budget.time_left()
        if time_left is not None and time_left <= 0:
            return f"--timeout of {budget.timeout:g} s reached (earlier runs of this study included)"
        if budget.n_trials is not None and self._study_full(budget.n_trials):
            return f"the study has its {budget.n_trials} trials"
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
        """Whether ``trial`` is within the study's ``n_trials``: trials numbered before it decide."""
        before = self.counted_trials(before=trial.number)
        self._known_count = before + 1
        return before < n_trials

    def _start_trial(self, slot: Slot, trial: optuna.Trial) -> TrialRun:
        params = self.space.suggest(trial)
        directory = self.serialization_dir / f"trial_{trial.number}"
        run = TrialRun(trial, params, directory, self.objective, slot, self._identity)
        run.start(self.snapshot, self.template, self.base_env, self._launchers[slot.label])
        if self.heartbeat_interval is not None:
            record_heartbeat(self.study, trial)
        if self.observer:
            self.observer.trial_started(run)
        return run

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
        import optuna

        self._running.pop(run.number, None)
        trial = run.trial
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
        summary.finished[outcome.state] += 1
        if outcome.reason == REASON_INTERRUPTED:
            # Queue the same point again so that re-running the command finishes the planned study.
            self.study.enqueue_trial(run.params, skip_if_exists=False)
        else:
            self.failure_policy.record(outcome.state, outcome.reason)
        is_best = outcome.state == "COMPLETE" and self._is_best(frozen)
        if is_best and self.on_best:
            self.on_best(run.config_path)
        if self.observer:
            self.observer.trial_finished(frozen, outcome, is_best)

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
        for run in self._running.values():
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
