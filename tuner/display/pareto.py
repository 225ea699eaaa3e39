"""Several objectives on the terminal: the run's closing lines about the Pareto front, and trial values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuner.study.pareto import FRONT_FILE_NAME, front_summary

if TYPE_CHECKING:
    import optuna


def front_lines(result: Any) -> list[str]:
    """What a run of a multi-objective study found (``result`` a :class:`tuner.api.TuneResult`)."""
    if not result.pareto_trials:
        return ["No trial has completed (within the constraints) yet, so there is no Pareto front."]
    folder = result.pareto_dir
    return [
        f"Pareto {front_summary(result.study)}",
        (
            f"No single best config with several objectives: the front's configs are {folder}/trial_<N>.json "
            f"({folder / FRONT_FILE_NAME} lists them); `tune dump-best --trial N` writes any trial's."
        ),
    ]


def trial_value_text(trial: optuna.trial.FrozenTrial) -> str:
    """``value 0.98`` or, with several objectives, ``values 0.98, 1204``."""
    values = list(trial.values or [])
    if len(values) <= 1:
        return f"value {trial.value:.6g}"
    return "values " + ", ".join(f"{value:.6g}" for value in values)
