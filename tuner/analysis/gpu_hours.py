"""A study's GPU-hours: spent, and saved by pruning (an estimate).

Spent: the sum of the trials' GPU-seconds (the GPUs of a trial's slot x its run time, recorded as it
ends). Saved by pruning: for each pruned trial, the epochs it did not run (the median number of epochs
the completed trials ran, minus its own) x the completed trials' mean seconds per epoch x its GPUs.
It is an estimate: it assumes a pruned trial would have run like the average completed one, and
with no completed trial (or no epoch reported) there is none.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class GpuHours:
    """GPU-hours spent by the trials, and saved by pruning (None when it cannot be estimated)."""

    spent: float
    saved_by_pruning: float | None
    trials: int  # trials that used a GPU

    def to_dict(self) -> dict[str, Any]:
        saved = None if self.saved_by_pruning is None else round(self.saved_by_pruning, 4)
        return {"gpu_hours": round(self.spent, 4), "gpu_hours_saved_by_pruning": saved}


def gpu_hours(rows: Iterable[Mapping[str, Any]]) -> GpuHours | None:
    """From trial-table rows (:func:`tuner.analysis.results.trial_rows`); None when no trial used a GPU."""
    rows = list(rows)
    used = [row for row in rows if row.get("gpu_seconds")]
    if not used:
        return None
    spent = sum(row["gpu_seconds"] for row in used) / 3600
    return GpuHours(spent=spent, saved_by_pruning=_saved_by_pruning(rows), trials=len(used))


def study_gpu_hours(study: optuna.Study) -> GpuHours | None:
    """Of all the study's trials."""
    from tuner.analysis.results import trial_rows

    return gpu_hours(trial_rows(study, disk=False))


def _saved_by_pruning(rows: list[Mapping[str, Any]]) -> float | None:
    complete = [
        row
        for row in rows
        if row["state"] == "COMPLETE" and row.get("epochs_reported") and row.get("duration_s") is not None
    ]
    pruned = [row for row in rows if row["state"] == "PRUNED" and row.get("gpus")]
    if not pruned:
        return 0.0
    if not complete:
        return None
    full_epochs = statistics.median(row["epochs_reported"] for row in complete)
    seconds_per_epoch = statistics.fmean(row["duration_s"] / row["epochs_reported"] for row in complete)
    not_run = ((max(0.0, full_epochs - (row.get("epochs_reported") or 0)), row["gpus"]) for row in pruned)
    return sum(epochs * seconds_per_epoch * gpus for epochs, gpus in not_run) / 3600
