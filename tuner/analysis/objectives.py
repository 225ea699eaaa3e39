"""The trial table's columns for several objectives and constraints.

A multi-objective study's rows carry each objective's value as ``value_<metric>`` (``value`` is the
first objective's) and ``pareto`` (on the feasible Pareto front); a study with constraints carries
``feasible`` (false: some constraint is not met; none for trials that never completed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tuner.study.constraints import is_feasible
from tuner.study.pareto import pareto_trials
from tuner.study.records import stored_metrics
from tuner.trials.prune_judge import prune_values

if TYPE_CHECKING:
    import optuna

VALUE_PREFIX = "value_"
PARETO_COLUMN = "pareto"
FEASIBLE_COLUMN = "feasible"


def first_value(trial: optuna.trial.FrozenTrial) -> float | None:
    """The trial's value, the first objective's with several (Optuna's ``trial.value`` refuses those)."""
    values = trial.values
    return values[0] if values else None


def add_objective_cells(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial], rows: Sequence[dict[str, Any]]
) -> None:
    """Add the objective and constraint columns to the ``rows`` of ``trials`` (in the same order)."""
    multi = len(study.directions) > 1
    constrained = any(trial.constraints for trial in trials)
    if not multi and not constrained:
        return
    names = stored_metrics(study)
    front = {trial.number for trial in pareto_trials(study)} if multi else set()
    for trial, row in zip(trials, rows):
        if multi:
            values = list(trial.values or [None] * len(names))
            row.update({VALUE_PREFIX + name: value for name, value in zip(names, values)})
            row[PARETO_COLUMN] = trial.number in front
            steps = prune_values(trial)  # Optuna keeps no intermediate values for several objectives
            row["epochs_reported"] = max(steps) + 1 if steps else row.get("epochs_reported", 0)
        if constrained:
            row[FEASIBLE_COLUMN] = is_feasible(trial) if trial.state.name == "COMPLETE" else None


def objective_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The objective and constraint columns the rows have, in order."""
    names = list(dict.fromkeys(key for row in rows for key in row if key.startswith(VALUE_PREFIX)))
    return [*names, *(column for column in (PARETO_COLUMN, FEASIBLE_COLUMN) if any(column in row for row in rows))]


def only_pareto(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """``trials`` on the study's feasible Pareto front (``show-trials --pareto``)."""
    from tuner.errors import OptionError

    if len(study.directions) < 2:
        raise OptionError(f"--pareto: study '{study.study_name}' has one objective; its best is `--top 1`")
    front = {trial.number for trial in pareto_trials(study)}
    return [trial for trial in trials if trial.number in front]
