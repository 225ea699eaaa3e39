"""What a stored study found: the best trial, one trial in full, and the trial table.

The trial table is one row per trial with the columns of :data:`TRIAL_COLUMNS` and the trial's
parameters; ``show-trials`` prints it (table, CSV, JSON) and ``export`` writes it (TSV, CSV), so
every format has the same columns.
"""

from __future__ import annotations

import csv
import fnmatch
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import contract
from tuner.analysis.objectives import add_objective_cells, first_value, objective_columns, only_pareto
from tuner.contract import EpochMetricsReader, MalformedMetricsError, read_final_metrics
from tuner.errors import OptionError, StudyError
from tuner.study.checkpoints import folder_bytes
from tuner.study.pareto import no_single_best
from tuner.study.records import (
    ATTR_LAUNCH,
    ATTR_LOG_TAIL,
    ATTR_PRUNED_EPOCH,
    ATTR_REASON,
    attempt_number,
    gpu_usage,
    launched_at,
    run_duration,
)
from tuner.trials.prune_judge import prune_values

if TYPE_CHECKING:
    import optuna


STATES = ("complete", "pruned", "fail", "running", "waiting")
SORT_KEYS = ("number", "value", "duration", "state")
# Every column of the trial table but the parameters, which follow as params_<name> (in JSON: "params").
# start and end are ISO 8601; start is the trial's launch, so duration_s is end - start.
TRIAL_COLUMNS = (
    "number",
    "state",
    "value",
    "start",
    "end",
    "duration_s",
    "pruned_epoch",
    "reason",
    "slot",
    "epochs_reported",
    "attempts",  # 1, or the attempt a retry is (interrupted, or out of memory on a shared GPU)
)
PARAM_PREFIX = "params_"
# Columns written only when some trial has a value: a CPU-only study has no GPU columns, and
# disk_bytes (the bytes of the trial's folder) shows only where the folders are.
OPTIONAL_COLUMNS = ("gpus", "gpu_seconds", "peak_gpu_memory_mb", "disk_bytes")


def select_trial(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    """Trial ``number`` (which must have completed), or the best trial."""
    if number is None:
        if len(study.directions) > 1:
            raise no_single_best(study)
        try:
            return study.best_trial
        except ValueError:
            raise StudyError(f"study '{study.study_name}' has no completed trial yet") from None
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.number == number]
    if not trials:
        raise StudyError(f"study '{study.study_name}' has no trial {number} (it has {len(study.trials)} trials)")
    if trials[0].state.name != "COMPLETE":
        raise StudyError(f"trial {number} of study '{study.study_name}' did not complete ({trials[0].state.name})")
    return trials[0]


def trial_rows(
    study: optuna.Study,
    *,
    states: Iterable[str] | None = None,
    sort: str = "number",
    reverse: bool = False,
    top: int | None = None,
    params: Iterable[str] | None = None,
    disk: bool = True,
    pareto: bool = False,
) -> list[dict[str, Any]]:
    """The trial table: one plain dict per trial, the :data:`TRIAL_COLUMNS` and ``params`` (a dict).

    ``top`` keeps the ``top`` best completed trials; ``params`` keeps only the parameters
    whose name matches one of these shell-style patterns (``lr``, ``*_dim``); ``disk`` adds each
    trial folder's bytes where the folder is here (``disk_bytes``); ``pareto`` keeps the Pareto front
    of a multi-objective study (:mod:`tuner.analysis.objectives` adds its columns).
    """
    wanted = {state.upper() for state in states} if states else None
    trials = study.get_trials(deepcopy=False)
    keep = _matching_params(trials, params)
    first = _first_epoch(trials)
    selected = [trial for trial in trials if not wanted or trial.state.name in wanted]
    selected = only_pareto(study, selected) if pareto else selected
    rows = [_row(trial, keep, first) for trial in selected]
    add_objective_cells(study, selected, rows)
    if disk:
        for row, trial in zip(rows, selected):
            row["disk_bytes"] = folder_bytes(_folder(trial))
    if top is not None:
        rows = sorted((row for row in rows if row["value"] is not None), key=_sort_key("value", study))[:top]
    return sorted(rows, key=_sort_key(sort, study), reverse=reverse)


def _row(trial: optuna.trial.FrozenTrial, keep: set[str] | None, first_epoch: int = 0) -> dict[str, Any]:
    ran = run_duration(trial)
    duration = ran.total_seconds() if ran is not None else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": first_value(trial),
        "start": _iso(launched_at(trial)),
        "end": _iso(trial.datetime_complete),
        "duration_s": None if duration is None else round(duration, 3),
        "pruned_epoch": trial.user_attrs.get(ATTR_PRUNED_EPOCH),
        "reason": trial.user_attrs.get(ATTR_REASON),
        "slot": trial.user_attrs.get(ATTR_LAUNCH, {}).get("slot"),
        "epochs_reported": _epochs_reported(trial, first_epoch),
        "attempts": attempt_number(trial),
        **{name: value for name, value in gpu_usage(trial).items() if name in OPTIONAL_COLUMNS},  # GPU trials only
        "params": {name: value for name, value in _params(trial).items() if keep is None or name in keep},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


def param_names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The parameters of the rows, in the order they first appear."""
    return list(dict.fromkeys(name for row in rows for name in row["params"]))


def table_header(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns of the trial table as CSV and TSV have them: :data:`TRIAL_COLUMNS`, the
    :data:`OPTIONAL_COLUMNS` some row has a value for, then ``params_<name>``."""
    return [*_columns(rows), *(PARAM_PREFIX + name for name in param_names(rows))]


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    optional = [name for name in OPTIONAL_COLUMNS if any(row.get(name) is not None for row in rows)]
    return [*TRIAL_COLUMNS, *objective_columns(rows), *optional]


def _folder(trial: optuna.trial.FrozenTrial) -> Path | None:
    directory = (trial.user_attrs.get(ATTR_LAUNCH) or {}).get("directory")
    return Path(directory) if directory else None


def delimited_text(rows: Sequence[Mapping[str, Any]], separator: str = ",") -> str:
    """The trial table as CSV (or TSV, with a tab): the header, then a line per row; no value is ``""``."""
    names = param_names(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow(table_header(rows))
    columns = _columns(rows)
    for row in rows:
        cells = [row.get(column) for column in columns] + [row["params"].get(name) for name in names]
        writer.writerow("" if cell is None else cell for cell in cells)
    return buffer.getvalue()


def _epochs_reported(trial: optuna.trial.FrozenTrial, first_epoch: int) -> int:
    """Epochs the trial ran, by its last report (not the number of reports: a trainer that
    evaluates every second epoch reports half of them)."""
    return max(trial.intermediate_values) + 1 - first_epoch if trial.intermediate_values else 0


def _first_epoch(trials: list[optuna.trial.FrozenTrial]) -> int:
    """0 when the study's trainer counts epochs from 0 (some trial reported epoch 0), else 1 (PyKEEN)."""
    reported = [trial for trial in trials if trial.intermediate_values]
    return 0 if not reported or any(0 in trial.intermediate_values for trial in reported) else 1


def _params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's parameters; for a queued (waiting) trial, the values it was queued with."""
    if trial.params or trial.state.name != "WAITING":
        return trial.params
    return dict(trial.system_attrs.get("fixed_params") or {})


def _matching_params(trials: list[optuna.trial.FrozenTrial], patterns: Iterable[str] | None) -> set[str] | None:
    if not patterns:
        return None
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    keep: set[str] = set()
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if not matched and names:
            raise OptionError(f"--param {pattern}: no parameter matches; the study's parameters: {', '.join(names)}")
        keep.update(matched)
    return keep


@dataclass(frozen=True)
class TrialDetail:
    """Everything known about one trial: the stored record and what its folder still holds."""

    row: dict[str, Any]
    intermediate_values: dict[int, float]
    epoch_metrics: list[dict[str, Any]]
    final_metrics: dict[str, Any] | None
    directory: Path | None
    log_tail: str | None
    launch: dict[str, Any] = field(default_factory=dict)
    disk_bytes: int | None = None  # of its folder, where it still exists

    @property
    def log_path(self) -> Path | None:
        return self.directory / contract.LOG_FILE_NAME if self.directory else None

    @property
    def config_path(self) -> Path | None:
        return self.directory / contract.CONFIG_FILE_NAME if self.directory else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``show-trials --trial N --format json``)."""
        return {
            **self.row,
            "launch": self.launch,
            "intermediate_values": {str(step): value for step, value in self.intermediate_values.items()},
            "epoch_metrics": self.epoch_metrics,
            "final_metrics": self.final_metrics,
            "log_path": str(self.log_path) if self.log_path else None,
            "config_path": str(self.config_path) if self.config_path else None,
            "log_tail": self.log_tail,
            "disk_bytes": self.disk_bytes,
        }


def trial_detail(study: optuna.Study, number: int) -> TrialDetail:
    """The trial ``number`` of ``study`` in full; its folder's metrics files when they still exist."""
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.number == number]
    if not trials:
        raise StudyError(f"study '{study.study_name}' has no trial {number} (it has {len(study.trials)} trials)")
    trial = trials[0]
    launch = dict(trial.user_attrs.get(ATTR_LAUNCH) or {})
    directory = Path(launch["directory"]) if launch.get("directory") else None
    row = _row(trial, None, _first_epoch(study.get_trials(deepcopy=False)))
    add_objective_cells(study, [trial], [row])
    return TrialDetail(
        row=row,
        intermediate_values=dict(sorted((trial.intermediate_values or prune_values(trial)).items())),
        epoch_metrics=_epoch_metrics(directory),
        final_metrics=_final_metrics(directory),
        directory=directory,
        log_tail=trial.user_attrs.get(ATTR_LOG_TAIL),
        launch=launch,
        disk_bytes=folder_bytes(directory),
    )


def _epoch_metrics(directory: Path | None) -> list[dict[str, Any]]:
    if directory is None:
        return []
    # A malformed line already failed the trial: show the others, parsed as the trial's were.
    reader = EpochMetricsReader(directory / contract.EPOCH_METRICS_FILE_NAME, skip_malformed=True)
    try:
        reader.read_new()
    except MalformedMetricsError:
        pass  # an unreadable file or an endless line: the lines before it
    return reader.epochs


def _final_metrics(directory: Path | None) -> dict[str, Any] | None:
    if directory is None:
        return None
    try:
        return read_final_metrics(directory / contract.FINAL_METRICS_FILE_NAME)
    except MalformedMetricsError:
        return None


def _sort_key(sort: str, study: optuna.Study) -> Any:
    if sort == "value":
        sign = -1 if study.directions[0].name == "MAXIMIZE" else 1
        return lambda row: (row["value"] is None, sign * row["value"] if row["value"] is not None else 0)
    if sort == "duration":
        return lambda row: (row["duration_s"] is None, row["duration_s"] or 0)
    if sort == "state":
        return lambda row: (row["state"], row["number"])
    return lambda row: row["number"]
