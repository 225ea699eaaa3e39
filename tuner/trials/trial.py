"""One trial from sampled values to outcome: render, launch, stream metrics, prune, judge."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import contract
from tuner.config.snapshot import ConfigSnapshot
from tuner.contract import EpochMetricsReader, MalformedMetricsError, TrialResultError, read_final_metrics
from tuner.errors import ConfigError, OutputError
from tuner.study.artifacts import detach_log
from tuner.study.objective import Objective
from tuner.study.records import REASON_OOM, REASON_TAKEN_OVER, TrialOutcome, record_launch
from tuner.trials.descendants import new_trial_token
from tuner.trials.launch import ENDING_GRACE_SECONDS, CommandTemplate
from tuner.trials.params_env import trial_env
from tuner.trials.prune_judge import report, should_prune
from tuner.trials.slots import Slot
from tuner.trials.trial_files import drop_torn_line, last_error_line, latest_per_epoch, move_aside
from tuner.trials.warm import Launcher

if TYPE_CHECKING:
    import optuna

    from tuner.trials.metric_sources import MetricSourceSpec
    from tuner.trials.run_report import RunObserver


LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 4096
_MAX_STEP = 2**31 - 1  # Optuna stores steps in a 32-bit column
_OOM_MARKERS = ("out of memory", "memoryerror", "cuda error: out of memory", "cannot allocate memory")


class TrialRun:
    """A trial: its Optuna trial, its config, and once launched its process and the metrics read so far.

    ``prepare`` renders the config; ``launch`` starts the process in a slot. The runner may
    prepare a trial while every slot is busy, so that a freed slot only waits for the launch.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        params: Mapping[str, Any],
        directory: Path,
        objective: Objective,
        identity: Mapping[str, Any],
        retry: Mapping[str, Any] | None = None,
        inherited: Mapping[int, float] | None = None,
    ) -> None:
        self.trial = trial
        self.params = dict(params)
        self.directory = directory
        self.objective = objective
        self.identity = identity  # this tune process, for stale-trial recovery
        self.slot: Slot | None = None  # set by launch
        self.process: Any = None  # a TrialProcess or WarmTrialProcess
        self._ending: tuple[TrialOutcome, float] | None = None  # outcome and SIGKILL deadline
        self.outcome: TrialOutcome | None = None
        self.started = time.monotonic()  # reset by launch
        self.reader = EpochMetricsReader(directory / contract.EPOCH_METRICS_FILE_NAME)
        self._snapshot_key: str | None = None
        self._command_key: str | None = None  # set by launch
        self._started_at = 0.0  # wall clock at launch
        self.token = new_trial_token()  # in the environment of all its processes (tuner.trials.descendants)
        self._last_epoch: int | None = None  # declared by the trainer: never prune there
        self.retry = dict(retry) if retry else None  # the retry record of a trial that runs again (records.py)
        self.reported = dict(inherited or {})  # step -> value Optuna has (earlier attempts' included)
        self.resume = False  # set by prepare: a retry that finds its folder continues there
        self.metrics_source: Any = None  # --metrics-from/--metrics-file: a MetricSource (tuner.trials.metric_sources)
        self._warn: Callable[[str], None] | None = None  # the live view's: epochs reported twice or out of order
        self._last_step: int | None = None

    @property
    def alone(self) -> bool:
        """Whether the trial is to have its GPU to itself (it ran out of memory sharing it)."""
        return bool(self.retry and self.retry.get("alone"))

    @property
    def attempt(self) -> int:
        return self.retry["attempt"] if self.retry else 1

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def log_path(self) -> Path:
        return self.directory / contract.LOG_FILE_NAME

    @property
    def config_path(self) -> Path:
        return self.directory / contract.CONFIG_FILE_NAME

    def prepare(self, snapshot: ConfigSnapshot) -> bool:
        """Render the config into the trial folder; False (and a FAIL outcome) if it does not render.

        Raises :class:`OutputError` when the folder cannot be written (a full disk, say).
        """
        self._snapshot_key = snapshot.key
        try:
            resuming_here = self.retry is not None and self.retry.get("directory") == str(self.directory)
            self.resume = resuming_here and self.directory.is_dir()
            if self.directory.exists() and not self.resume:  # left by a deleted study of this name: kept
                move_aside(self.directory)
            self.directory.mkdir(parents=True, exist_ok=self.resume)
            try:
                config = snapshot.render(self.params)
            except ConfigError as error:
                self.outcome = TrialOutcome("FAIL", reason=f"config does not render: {error}")
                return False
            contract.write_json_atomically(self.config_path, config, durable=False)  # dump-best can re-render it
            if self.resume:
                detach_log(self.directory)  # earlier attempts' log artifacts keep their end
                return self._take_over_metrics()
        except OSError as error:
            raise OutputError(
                f"cannot write trial {self.number}'s folder {self.directory}: {error.strerror}; "
                "free space there and run the same command again to resume"
            ) from None
        return True

    def _take_over_metrics(self) -> bool:
        """Resuming: read the epochs earlier attempts left in metrics.jsonl, so that only new ones are read
        from the launch on; those that tune had not reported yet (it was killed) are reported now."""
        drop_torn_line(self.reader.path)  # an attempt killed mid-write; the next line would join it
        try:
            for line in self.reader.read_new():
                self._report_line(line, prune=False)
        except (MalformedMetricsError, TrialResultError) as error:
            self.outcome = TrialOutcome("FAIL", reason=str(error))
            return False
        return True

    def attach_metrics(self, spec: MetricSourceSpec | None, observer: RunObserver | None) -> None:
        """Before launch: the ``--metrics-from`` source to read (None: metrics.jsonl only), and who hears warnings."""
        self.metrics_source = spec.open(self) if spec is not None else None
        self._warn = observer.stopping if observer is not None else None

    def launch(
        self,
        slot: Slot,
        template: CommandTemplate,
        base_env: Mapping[str, str],
        launcher: Launcher,
        *,
        command_key: str | None = None,
    ) -> None:
        """Start the prepared trial's command in ``slot``; a command that cannot start becomes the outcome.

        ``command_key``: the key the study stores the command under (tuner.study.records.command_key).
        The launch record is the caller's to write (:meth:`record_launch`), so that it can
        come after other slots' launches.
        """
        self.slot = slot
        self._command_key = command_key
        self._started_at = time.time()  # before the process starts: the recorded span holds its whole life
        argv = template.render(
            config=self.config_path,
            serialization_dir=self.directory,
            trial_number=self.number,
            resume=self.resume,
            params=self.params,
        )
        env = {
            **base_env,
            **slot.env,
            contract.ENV_CONFIG: str(self.config_path),
            contract.ENV_SERIALIZATION_DIR: str(self.directory),
            contract.ENV_METRICS_FILE: str(self.reader.path),
            contract.ENV_TRIAL_NUMBER: str(self.number),
            contract.ENV_TRIAL_TOKEN: self.token,
        }
        env.pop(contract.ENV_RESUME, None)  # only tune says so, never an inherited environment
        if self.resume:
            env[contract.ENV_RESUME] = "1"
        env.setdefault("PYTHONUNBUFFERED", "1")
        env = trial_env(env, self.params)  # TUNER_PARAM_<NAME>, TUNER_PARAMS (tuner.trials.params_env)
        try:
            self.process = launcher.launch(argv, env=env, log_path=self.log_path)
        except OSError as error:
            self.outcome = TrialOutcome("FAIL", reason=f"cannot start {argv[0]}: {error.strerror}")
        # --trial-timeout counts from here: the first warm launch waits for its worker's imports.
        self.started = time.monotonic()

    def record_launch(self) -> None:
        """Store where, when and by whom the trial runs (or, before launch, who prepared it)."""
        from optuna.exceptions import UpdateFinishedTrialError

        launched = self.slot is not None and self.outcome is None
        try:
            self._set_launch_record(launched)
        except UpdateFinishedTrialError:  # this process was stopped, and another one recovered the trial
            self.stop(REASON_TAKEN_OVER)

    def record_owner(self) -> None:
        """Store who asked the trial, before anything else can fail: a `tune` that cannot record the launch
        (its storage's disk filled meanwhile) still leaves a trial the next run can tell is its own and stale."""
        record_launch(self.trial, {"directory": str(self.directory), "token": self.token, **self.identity})

    def _set_launch_record(self, launched: bool) -> None:
        record_launch(
            self.trial,
            {
                "config_snapshot": self._snapshot_key,
                **({"command": self._command_key} if self._command_key else {}),
                "directory": str(self.directory),
                "slot": self.slot.label if self.slot else None,
                "gpu": self.slot.gpu if self.slot else None,
                "pid": self.process.pid if self.process else None,
                "token": self.token,
                "started": round(self._started_at, 3) if launched else None,
                **({"resumed": True} if self.resume else {}),
                **self.identity,
            },
        )

    def check(self, *, trial_timeout: float | None = None) -> TrialOutcome | None:
        """Read new metrics, prune if Optuna says so, and return the outcome once the trial ended.

        Never blocks: a trial being ended gets SIGTERM now and its outcome once its processes
        are gone (SIGKILL after the grace period), so other slots are not held up meanwhile.
        """
        if self.outcome is not None:
            return self.outcome
        if self._ending is not None:
            return self._finish_ending()
        from optuna.exceptions import UpdateFinishedTrialError

        assert self.process is not None
        exit_status = self.process.poll()
        try:
            pruned_at = self._report_new_epochs(final=exit_status is not None)
        except (MalformedMetricsError, TrialResultError) as error:
            return self._begin_ending(TrialOutcome("FAIL", reason=str(error)))
        except UpdateFinishedTrialError:  # this process was stopped, and another one recovered the trial
            return self._begin_ending(TrialOutcome("FAIL", reason=REASON_TAKEN_OVER))
        if pruned_at is not None:
            step, value = pruned_at
            return self._begin_ending(TrialOutcome("PRUNED", value=value, pruned_epoch=step))
        if exit_status is not None:
            self.outcome = self._judge_exit(exit_status)
        elif trial_timeout is not None and time.monotonic() - self.started > trial_timeout:
            return self._begin_ending(TrialOutcome("FAIL", reason=f"timed out after {trial_timeout:g} s"))
        return self.outcome

    def _begin_ending(self, outcome: TrialOutcome) -> TrialOutcome | None:
        """SIGTERM the trial's process group; ``outcome`` stands once it has ended."""
        if self.process.poll() is None:
            self.process.send(signal.SIGTERM)
        self._ending = (outcome, time.monotonic() + ENDING_GRACE_SECONDS)
        return self._finish_ending()

    def _finish_ending(self) -> TrialOutcome | None:
        assert self._ending is not None
        outcome, deadline = self._ending
        if self.process.poll() is None:
            if time.monotonic() < deadline:
                return None
            self.process.kill()
        self.outcome = outcome
        return outcome

    def stop(self, reason: str) -> TrialOutcome:
        """Record the trial as failed for ``reason``, killing its process group if it still runs.

        The runner ends running trials together first (SIGTERM, grace, SIGKILL), so this only
        has to make sure.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self.outcome = TrialOutcome("FAIL", reason=reason)
        return self.outcome

    def log_tail(self) -> str:
        """The last lines of the trial's output, for the failure record."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - LOG_TAIL_BYTES))
                data = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(data.splitlines()[-LOG_TAIL_LINES:])

    def _report_new_epochs(self, *, final: bool = False) -> tuple[int, float] | None:
        """Report each new epoch's monitored value to Optuna; the epoch and value to prune at, if any.

        A metrics source (``--metrics-from``) first appends what the framework wrote to metrics.jsonl;
        ``final``: the trainer has exited, so the source takes its last epoch too.
        """
        if self.metrics_source is not None:
            self.metrics_source.transfer(final=final)
        for line in self.reader.read_new():
            reported = self._report_line(line)
            if reported is not None:
                return reported
        return None

    def _report_line(self, line: Mapping[str, Any], *, prune: bool = True) -> tuple[int, float] | None:
        """Report one epoch line; the epoch and value to prune at, if Optuna says so.

        An epoch an earlier attempt reported stays as it was (a trainer that starts over runs it again).
        """
        value = self.objective.epoch_value(line)
        if value is None:
            return None
        step = line.get(contract.EPOCH_KEY, len(self.reader.epochs) - 1)
        if isinstance(step, float) and step.is_integer() and 0 <= step <= _MAX_STEP:
            step = int(step)  # a framework's float epoch counter (Hugging Face's 1.0)
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= _MAX_STEP:
            raise MalformedMetricsError(f"epoch must be an integer from 0 to {_MAX_STEP}, got {step!r:.40}")
        self._note_order(step)
        if not math.isfinite(value):
            raise TrialResultError(f"diverged: {self.objective.monitored} is {value} at epoch {step}")
        at_last_epoch = self._at_last_epoch(line, step)
        if step in self.reported:
            return None
        report(self.trial, value, step)
        self.reported[step] = value
        if prune and not at_last_epoch and should_prune(self.trial):
            return step, value
        return None

    def _note_order(self, step: int) -> None:
        """A warning for the live view when ``step`` repeats or goes back (the later line wins the objective)."""
        last, self._last_step = self._last_step, step if self._last_step is None else max(step, self._last_step)
        if last is not None and step <= last and self._warn is not None:
            what = "reported twice" if step == last else f"reported after epoch {last}"
            self._warn(
                f"warning: trial {self.number}: epoch {step} {what}; pruning used its first line, the result its last"
            )

    def _at_last_epoch(self, line: Mapping[str, Any], step: int) -> bool:
        """Whether ``step`` is at or past the last epoch the trainer declared (``last_epoch``)."""
        if contract.LAST_EPOCH_KEY in line:
            last = line[contract.LAST_EPOCH_KEY]
            last = int(last) if isinstance(last, float) and last.is_integer() and last >= 0 else last
            if not isinstance(last, int) or isinstance(last, bool) or last < 0:
                raise MalformedMetricsError(f"{contract.LAST_EPOCH_KEY} must be a non-negative integer, got {last!r}")
            self._last_epoch = last
        return self._last_epoch is not None and step >= self._last_epoch

    def _judge_exit(self, exit_status: int) -> TrialOutcome:
        if exit_status != 0:
            return TrialOutcome("FAIL", reason=self._crash_reason(exit_status))
        try:
            final = read_final_metrics(self.directory / contract.FINAL_METRICS_FILE_NAME)
            epochs = latest_per_epoch(self.reader.epochs)
            values = self.objective.final_values(epochs, final)
            violations = self.objective.violations(epochs, final) or None
        except TrialResultError as error:
            return TrialOutcome("FAIL", reason=str(error))
        several = tuple(values) if self.objective.is_multi else None
        return TrialOutcome("COMPLETE", value=values[0], values=several, violations=violations)

    def _crash_reason(self, exit_status: int) -> str:
        tail = self.log_tail()
        if any(marker in tail.lower() for marker in _OOM_MARKERS):
            return REASON_OOM
        if exit_status < 0:
            try:
                name = signal.Signals(-exit_status).name
            except ValueError:
                name = "signal"
            return f"killed ({name}, signal {-exit_status})"
        error = last_error_line(tail)
        return f"crashed (exit code {exit_status})" + (f": {error}" if error else "")
