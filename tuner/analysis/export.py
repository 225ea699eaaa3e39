"""A study as files to share, like PyKEEN's ``save_to_directory``: trials, summary, best config, plots.

With several objectives there is no best config: ``pareto/`` holds the front's configs and ``front.tsv``
instead, and the trial table has each objective's column and the front marked (:mod:`tuner.analysis.pareto_export`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.analysis.gpu_hours import gpu_hours
from tuner.analysis.pareto_export import constraints_summary, objectives_summary, write_front_files
from tuner.analysis.plots import PlotReport, write_plots
from tuner.analysis.results import delimited_text, trial_rows
from tuner.contract import write_json_atomically
from tuner.errors import StudyError
from tuner.study.best_config import BEST_CONFIG_FILE_NAME, write_best_config
from tuner.study.pareto import is_multi_objective
from tuner.study.records import (
    ATTR_COMMAND,
    ATTR_CONFIG_PATH,
    ATTR_PRUNER,
    ATTR_SAMPLER,
    ATTR_SEARCH_SPACE,
    run_duration,
    stored_metric,
    stored_snapshot,
    trial_command,
    trial_config,
)

if TYPE_CHECKING:
    import optuna

TRIALS_FILE_NAME = "trials.tsv"
STUDY_FILE_NAME = "study.json"
PLOTS_DIR_NAME = "plots"


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
    """Write ``trials.tsv`` (or ``.csv``), ``study.json``, ``best_config.json`` (several objectives:
    ``pareto/``) and ``plots/`` into ``directory``."""
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
    stores_config = _fixed_ext_vars(study) is not None
    if is_multi_objective(study):
        result.files.extend(write_front_files(study, directory, with_configs=stores_config))
    elif (best := _feasible_best(study)) is not None and stores_config:
        result.files.append(write_best_config(directory / BEST_CONFIG_FILE_NAME, trial_config(study, best)))
    if plots:
        result.plots = write_plots(study, directory=directory / PLOTS_DIR_NAME, fmt=plot_format, baseline=baseline)
        result.files.extend(plot.path for plot in result.plots.written)
    return result


def write_trials_table(study: optuna.Study, path: Path, *, separator: str = "\t") -> Path:
    """The trial table ``show-trials --format csv`` prints, with ``separator`` (a tab: TSV), written atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(delimited_text(trial_rows(study), separator))
    temporary.replace(path)
    return path


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """Name, direction, metric, sampler, pruner, search space, fixed ext vars, counts by state, best trial;
    with several objectives ``direction``, ``metric`` and ``best_trial`` are null and ``objectives``,
    ``pareto_front`` and ``best_per_objective`` say what they found; ``constraints`` where there are some."""
    trials = study.get_trials(deepcopy=False)
    attrs = study.user_attrs
    multi = is_multi_objective(study)
    best = None if multi else _feasible_best(study)
    return {
        "name": study.study_name,
        "direction": None if multi else study.direction.name.lower(),
        "metric": None if multi else stored_metric(study),
        "sampler": attrs.get(ATTR_SAMPLER),
        "pruner": attrs.get(ATTR_PRUNER),
        "search_space": attrs.get(ATTR_SEARCH_SPACE),
        "config_path": attrs.get(ATTR_CONFIG_PATH),
        "command": attrs.get(ATTR_COMMAND),
        "fixed_ext_vars": _fixed_ext_vars(study),
        "n_trials": len(trials),
        "counts_by_state": dict(sorted(Counter(trial.state.name.lower() for trial in trials).items())),
        "best_trial": _best_trial(study, best) if best is not None else None,
        **(objectives_summary(study) if multi else {}),
        **constraints_summary(study),
        **_usage(study),
    }


def _usage(study: optuna.Study) -> dict[str, Any]:
    """GPU-hours spent and saved by pruning (GPU studies only), and the bytes of the trial folders found here."""
    rows = trial_rows(study)
    hours = gpu_hours(rows)
    found = [row["disk_bytes"] for row in rows if row.get("disk_bytes") is not None]
    return {**(hours.to_dict() if hours else {}), "disk_bytes": sum(found) if found else None}


def _best_trial(study: optuna.Study, best: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": best.number,
        "value": best.value,
        "params": best.params,
        "command": trial_command(study, best),  # the study's "command" is its latest run's
        "duration_s": ran.total_seconds() if (ran := run_duration(best)) else None,
        "datetime_complete": best.datetime_complete.isoformat(timespec="seconds") if best.datetime_complete else None,
    }


def _fixed_ext_vars(study: optuna.Study) -> dict[str, str] | None:
    try:
        return dict(stored_snapshot(study, None).fixed_ext_vars)
    except StudyError:
        return None  # a study not created by tune stores no config


def _feasible_best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best trial (a feasible one where the study has constraints); None before one completed."""
    if not any(trial.state.name == "COMPLETE" for trial in study.get_trials(deepcopy=False)):
        return None
    try:
        return study.best_trial
    except ValueError:  # every completed trial is infeasible
        return None
