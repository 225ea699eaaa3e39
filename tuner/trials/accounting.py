"""What `tune` does as each trial ends besides telling Optuna: GPU-seconds, artifacts, ``--keep-checkpoints``.

The runner calls :meth:`TrialAccounting.before_tell` while the trial can still be written to, and
:meth:`TrialAccounting.after_tell` once Optuna knows its outcome (and best_config.json and best_model/
are current), and asks :meth:`TrialAccounting.stop_reason` before starting a trial (``--gpu-hours``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tuner import contract
from tuner.contract import TrialResultError, read_final_metrics
from tuner.study.records import TrialOutcome, record_gpu_usage
from tuner.trials.budget import Budget

if TYPE_CHECKING:
    from tuner.study.artifacts import TrialArtifacts
    from tuner.study.checkpoints import CheckpointKeeper
    from tuner.trials.trial import TrialRun

PEAK_GPU_MEMORY_KEY = "peak_gpu_memory_mb"  # in the built-in trainer's final metrics


class TrialAccounting:
    """Records each ending trial's GPU usage, uploads its artifacts and deletes what --keep-checkpoints lets go."""

    def __init__(
        self,
        budget: Budget,
        *,
        keeper: CheckpointKeeper | None = None,
        artifacts: TrialArtifacts | None = None,
    ) -> None:
        self.budget = budget
        self.keeper = keeper
        self.artifacts = artifacts
        self._at_launch: dict[int, frozenset[str]] = {}  # trial number -> the files that went to the store at launch

    def before_tell(self, run: TrialRun, outcome: TrialOutcome) -> None:
        """GPU-seconds (GPUs x seconds since launch) and peak GPU memory, then the trial's artifacts."""
        if run.process is None:
            return  # never ran
        gpus = len(run.slot.gpus) if run.slot is not None else 0
        seconds = time.monotonic() - run.started
        record_gpu_usage(run.trial, gpus=gpus, seconds=seconds, peak_gpu_memory_mb=_peak_memory(run.directory))
        self.budget.gpu_seconds_ended += gpus * seconds
        if self.artifacts is not None:
            self.artifacts.register(run.trial, run.directory, at_launch=self._at_launch.pop(run.number, frozenset()))

    def after_launch(self, run: TrialRun) -> None:
        """A trial started: its config and log go to the artifact store now, while it runs (see
        :mod:`tuner.study.artifacts`)."""
        from optuna.exceptions import UpdateFinishedTrialError

        if self.artifacts is None or run.process is None:
            return
        try:
            uploaded = self.artifacts.register_at_launch(run.trial, run.directory, resumed=run.resume)
            self._at_launch[run.number] = uploaded
        except UpdateFinishedTrialError:
            return  # another process recovered the trial meanwhile: the runner finds out when it ends

    def after_tell(self, run: TrialRun) -> None:
        """Delete what --keep-checkpoints lets go now that ``run`` has ended."""
        if self.keeper is not None:
            self.keeper.sweep(run.directory.resolve())

    def finish(self) -> None:
        """At the end of the run: what a reader held back earlier may go now."""
        if self.keeper is not None:
            self.keeper.sweep()

    def stop_reason(self, running: Iterable[TrialRun]) -> str | None:
        """Why no trial should start for ``--gpu-hours``, counting the running trials' GPU time so far."""
        if self.budget.gpu_hours is None:
            return None
        now = time.monotonic()
        seconds = sum(len(run.slot.gpus) * (now - run.started) for run in running if run.process and run.slot)
        return self.budget.gpu_hours_reason(seconds)


def _peak_memory(directory: Path) -> float | None:
    """``peak_gpu_memory_mb`` from the trial's final metrics, when it wrote a finite number there."""
    try:
        final = read_final_metrics(directory / contract.FINAL_METRICS_FILE_NAME)
    except TrialResultError:
        return None
    value = (final or {}).get(PEAK_GPU_MEMORY_KEY)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None
