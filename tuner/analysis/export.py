"""A study as files to share, like PyKEEN's ``save_to_directory``: trials, summary, best config, plots."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.analysis.plots import PlotReport, write_plots
from tuner.contract import write_json_atomically
from tuner.errors import StudyError, require
from tuner.study.records import (
    ATTR_COMMAND,
    ATTR_CONFIG_PATH,
    ATTR_PRUNER,
    ATTR_SAMPLER,
    ATTR_SEARCH_SPACE,
    run_duration,
    stored_metric,
    stored_snapshot,
    write_trial_config,
)

if TYPE_CHECKING:
    import optuna

TRIALS_FILE_NAME = "trials.tsv"
STUDY_FILE_NAME = "study.json"
BEST_CONFIG_FILE_NAME = "best_config.json"
PLOTS_DIR_NAME = "plots"
# Multi-line or bulky trial attributes stay in the storage; a TSV row is one line.
_LEFT_OUT_OF_TSV = ("user_attrs_log_tail",)


@dataclass
class ExportResult:
    """The files written, and the plot report when plots were asked for."""

    files: list[Path] = field(default_factory=list)
    plots: PlotReport | None = None


def export_study(
    study: optuna.Study,
    *,
    directory: str | Path,
    plots: bool = True,
    plot_format: str = "html",
    separator: str = "\t",
    baseline: float | None = None,
) -> ExportResult:
    """Write ``trials.tsv`` (or ``.csv``), ``study.json``, ``best_config.json`` and ``plots/`` into ``directory``."""
    require("pandas", purpose="tune export")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise StudyError(f"cannot export into {directory}: it is a file")
    directory.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    trials_name = TRIALS_FILE_NAME if separator == "\t" else "trials.csv"
    result.files.append(write_trials_table(study, directory / trials_name, separator=separator))
    summary_path = directory / STUDY_FILE_NAME
    write_json_atomically(summary_path, study_summary(study))
    result.files.append(summary_path)
    if _has_complete_trial(study) and _fixed_ext_vars(study) is not None:
        result.files.append(write_trial_config(study, study.best_trial, directory / BEST_CONFIG_FILE_NAME))
    if plots:
        result.plots = write_plots(study, directory=directory / PLOTS_DIR_NAME, fmt=plot_format, baseline=baseline)
        result.files.extend(plot.path for plot in result.plots.written)
    return result


def write_trials_table(study: optuna.Study, path: Path, *, separator: str = "\t") -> Path:
    """Optuna's ``trials_dataframe`` as TSV/CSV: ``duration`` in seconds, nested attributes (``launch``) as JSON."""
    frame = study.trials_dataframe(multi_index=False)
    frame = frame.drop(columns=[column for column in _LEFT_OUT_OF_TSV if column in frame.columns])
    if "duration" in frame.columns:
        # pandas writes a timedelta as "0 days 00:00:11.112210"; seconds read anywhere.
        frame["duration"] = frame["duration"].dt.total_seconds()
    for column in frame.columns:
        if frame[column].map(lambda cell: isinstance(cell, (dict, list))).any():
            frame[column] = frame[column].map(lambda cell: json.dumps(cell) if isinstance(cell, (dict, list)) else cell)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_csv(temporary, sep=separator, index=False)
    temporary.replace(path)
    return path


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """Name, direction, metric, sampler, pruner, search space, fixed ext vars, counts by state, best trial."""
    trials = study.get_trials(deepcopy=False)
    attrs = study.user_attrs
    return {
        "name": study.study_name,
        "direction": study.direction.name.lower(),
        "metric": stored_metric(study),
        "sampler": attrs.get(ATTR_SAMPLER),
        "pruner": attrs.get(ATTR_PRUNER),
        "search_space": attrs.get(ATTR_SEARCH_SPACE),
        "config_path": attrs.get(ATTR_CONFIG_PATH),
        "command": attrs.get(ATTR_COMMAND),
        "fixed_ext_vars": _fixed_ext_vars(study),
        "n_trials": len(trials),
        "counts_by_state": dict(sorted(Counter(trial.state.name.lower() for trial in trials).items())),
        "best_trial": _best_trial(study) if _has_complete_trial(study) else None,
    }


def _best_trial(study: optuna.Study) -> dict[str, Any]:
    best = study.best_trial
    return {
        "number": best.number,
        "value": best.value,
        "params": best.params,
        "duration_s": ran.total_seconds() if (ran := run_duration(best)) else None,
        "datetime_complete": best.datetime_complete.isoformat(timespec="seconds") if best.datetime_complete else None,
    }


def _fixed_ext_vars(study: optuna.Study) -> dict[str, str] | None:
    try:
        return dict(stored_snapshot(study, None).fixed_ext_vars)
    except StudyError:
        return None  # a study not created by tune stores no config


def _has_complete_trial(study: optuna.Study) -> bool:
    return any(trial.state.name == "COMPLETE" for trial in study.get_trials(deepcopy=False))
