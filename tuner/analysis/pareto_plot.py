"""Plots of studies of several objectives: Optuna's Pareto-front plot, importances per objective, one
plot per objective where Optuna plots one target, and the learning curves of the prune-on objective.

Optuna keeps no intermediate values in a multi-objective study (it refuses ``trial.report``), so the
learning curves are drawn from the per-epoch values ``tune`` stores for the prune-on objective
(``prune_values``, :mod:`tuner.trials.prune_judge`): a single-objective copy of the study in that
objective's direction carries them as its intermediate values, and the axis is named after the metric.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tuner.errors import StudyError
from tuner.study.records import ATTR_PRUNE_ON, stored_metrics
from tuner.trials.prune_judge import prune_objective, shadow_study

if TYPE_CHECKING:
    import optuna


def name_objectives(study: optuna.Study, metrics: Sequence[str]) -> None:
    """Give the (in-memory) ``study`` Optuna's metric names, which its multi-objective plots label with."""
    import warnings

    if len(study.directions) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning
            study.set_metric_names(list(metrics))


def objective_target(index: int) -> Callable[[optuna.trial.FrozenTrial], float]:
    """The plotted value of one-target plots (history, parallel, slice, contour): objective ``index``'s."""

    def target(trial: optuna.trial.FrozenTrial) -> float:
        return trial.values[index]

    return target


def objective_file_suffix(metric: str) -> str:
    """``_param_count``: what a per-objective plot's file name ends with (the metric, safe as a file name)."""
    return "_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("_.") or "objective")


def per_epoch_study(study: optuna.Study, copy: optuna.Study) -> tuple[optuna.Study, str]:
    """For a multi-objective ``study`` (``copy``: its trials in memory): a single-objective study of the
    prune-on objective whose intermediate values are each trial's ``prune_values``, and that metric's name."""
    index, direction = prune_objective(study)
    stored = study.user_attrs.get(ATTR_PRUNE_ON)
    metric = stored.get("metric") if isinstance(stored, dict) else None
    shadow, _ = shadow_study(copy, 0, index, direction)
    return shadow, str(metric or stored_metrics(study)[index])


def name_epoch_axis(figure: Any, metric: str, fmt: str) -> None:
    """Title the learning curves' value axis with the metric they show (Optuna's: "Intermediate Value")."""
    title = f"{metric} (per epoch)"
    if fmt == "html":
        figure.update_layout(yaxis_title=title)
    else:
        figure.set_ylabel(title)


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
