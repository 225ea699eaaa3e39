"""What a stored study found: the best trial, its rendered config, and per-trial rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from tuner.contract import write_json_atomically
from tuner.errors import StudyError
from tuner.study import stored_snapshot
from tuner.trials import ATTR_LAUNCH, ATTR_PRUNED_EPOCH, ATTR_REASON

if TYPE_CHECKING:
    import optuna

STATES = ("complete", "pruned", "fail", "running", "waiting")
SORT_KEYS = ("number", "value", "duration", "state")


def select_trial(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    """Trial ``number`` (which must have completed), or the best trial."""
    import optuna

    if number is None:
        try:
            return study.best_trial
        except ValueError:
            raise StudyError(f"study '{study.study_name}' has no completed trial yet") from None
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.number == number]
    if not trials:
        raise StudyError(f"study '{study.study_name}' has no trial {number} (it has {len(study.trials)} trials)")
    if trials[0].state != optuna.trial.TrialState.COMPLETE:
        raise StudyError(f"trial {number} of study '{study.study_name}' did not complete ({trials[0].state.name})")
    return trials[0]


def trial_config(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The config ``trial`` ran with, rendered from the snapshot stored in the study."""
    snapshot = stored_snapshot(study, trial.user_attrs.get(ATTR_LAUNCH, {}).get("config_snapshot"))
    return snapshot.render(trial.params)


def write_trial_config(study: optuna.Study, trial: optuna.trial.FrozenTrial, path: Path) -> Path:
    """Write the config of ``trial`` atomically to ``path``; returns the path."""
    path = Path(path)
    if path.is_dir():
        raise StudyError(f"{path} is a folder; give a file name such as {path / 'best_config.json'}")
    if not path.parent.is_dir():
        raise StudyError(f"cannot write {path}: folder {path.parent} does not exist")
    write_json_atomically(path, trial_config(study, trial))
    return path


def trial_rows(
    study: optuna.Study, *, states: Iterable[str] | None = None, sort: str = "number", reverse: bool = False
) -> list[dict[str, Any]]:
    """One plain dict per trial: number, state, value, duration, pruned epoch, reason, slot, params."""
    wanted = {state.upper() for state in states} if states else None
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if wanted and trial.state.name not in wanted:
            continue
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "duration_s": None if duration is None else round(duration, 3),
                "pruned_epoch": trial.user_attrs.get(ATTR_PRUNED_EPOCH),
                "reason": trial.user_attrs.get(ATTR_REASON),
                "slot": trial.user_attrs.get(ATTR_LAUNCH, {}).get("slot"),
                "params": dict(trial.params),
            }
        )
    return sorted(rows, key=_sort_key(sort, study), reverse=reverse)


def _sort_key(sort: str, study: optuna.Study) -> Any:
    if sort == "value":
        sign = -1 if study.direction.name == "MAXIMIZE" else 1
        return lambda row: (row["value"] is None, sign * row["value"] if row["value"] is not None else 0)
    if sort == "duration":
        return lambda row: (row["duration_s"] is None, row["duration_s"] or 0)
    if sort == "state":
        return lambda row: (row["state"], row["number"])
    return lambda row: row["number"]
