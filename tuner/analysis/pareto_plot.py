"""Plot arguments for studies of several objectives: Optuna's Pareto-front plot, and importances per objective."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tuner.errors import StudyError

if TYPE_CHECKING:
    import optuna


def name_objectives(study: optuna.Study, metrics: Sequence[str]) -> None:
    """Give the (in-memory) ``study`` Optuna's metric names, which its multi-objective plots label with."""
    import warnings

    if len(study.directions) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning
            study.set_metric_names(list(metrics))


def first_objective(trial: optuna.trial.FrozenTrial) -> float:
    """The plotted value of one-objective plots (history, parallel, slice, contour) in a multi-objective study."""
    return trial.values[0]


def several_objectives_arguments(
    study: optuna.Study, kind: str, metrics: Sequence[str], evaluator: str
) -> dict[str, Any]:
    """Arguments for Optuna's ``plot_pareto_front`` (infeasible trials drawn apart, as Optuna does when
    told the constraints) or ``plot_param_importances`` (one bar per parameter and objective)."""
    from tuner.analysis.importance import build_evaluator

    if kind == "importance":
        return {"evaluator": build_evaluator(evaluator)}  # the bars are named by the study's metric names
    if len(study.directions) < 2:
        raise StudyError("the study has one objective; a Pareto front needs several")
    if len(study.directions) > 3:
        raise StudyError(f"Optuna draws the Pareto front of 2 or 3 objectives; the study has {len(study.directions)}")
    arguments: dict[str, Any] = {"target_names": list(metrics)}
    if any(trial.constraints for trial in study.get_trials(deepcopy=False)):
        arguments["constraints_func"] = _constraint_values
    return arguments


def _constraint_values(trial: optuna.trial.FrozenTrial) -> list[float]:
    return list(trial.constraints.values())
