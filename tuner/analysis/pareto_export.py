"""What ``tune export`` writes for a study of several objectives, and for constraints, beyond the trial table.

A multi-objective study has no best config: the export holds ``pareto/trial_<N>.json`` (the config of
each trial on the feasible Pareto front) and ``pareto/front.tsv``, the same files a run keeps in its
results folder (:class:`tuner.study.pareto.ParetoFiles`), and ``study.json`` names the objectives, the
front and each objective's best on it. A constrained study's ``study.json`` counts its feasible and
infeasible trials (the trial table marks each in its ``feasible`` column).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.study.constraints import is_feasible
from tuner.study.pareto import FRONT_FILE_NAME, PARETO_DIR_NAME, ParetoFiles, directions, front_text, pareto_trials
from tuner.study.records import ATTR_PRUNE_ON, run_duration, stored_metrics

if TYPE_CHECKING:
    import optuna


def write_front_files(study: optuna.Study, directory: Path, *, with_configs: bool) -> list[Path]:
    """``directory/pareto/``: each front trial's config (when ``with_configs``: the study stores its config)
    and ``front.tsv``; configs of trials no longer on the front (an earlier export) are removed."""
    if with_configs:
        files = ParetoFiles(study, directory)
        front = files.update()
        return [files.directory / f"trial_{trial.number}.json" for trial in front] + [files.front_file]
    folder = directory / PARETO_DIR_NAME
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("trial_*.json"):
        stale.unlink()
    path = folder / FRONT_FILE_NAME
    path.write_text(front_text(study, pareto_trials(study)), encoding="utf-8")
    return [path]


def objectives_summary(study: optuna.Study) -> dict[str, Any]:
    """``study.json``'s entries for several objectives: each objective, the front and each one's best on it."""
    metrics = stored_metrics(study)
    front = pareto_trials(study)
    best = {}
    for index, (metric, way) in enumerate(zip(metrics, directions(study))):
        if front:
            pick = max if way == "maximize" else min
            chosen = pick(front, key=lambda trial: trial.values[index])
            best[metric] = {"number": chosen.number, "value": chosen.values[index]}
    stored = study.user_attrs.get(ATTR_PRUNE_ON)
    return {
        "objectives": [{"metric": metric, "direction": way} for metric, way in zip(metrics, directions(study))],
        "prune_on": stored.get("metric") if isinstance(stored, dict) else metrics[0],
        "pareto_front": [_front_entry(trial, metrics) for trial in front],
        "best_per_objective": best,
    }


def constraints_summary(study: optuna.Study) -> dict[str, Any]:
    """``study.json``'s ``constraints``: their names and the completed trials meeting them or not ({} without)."""
    complete = [trial for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]
    names = list(dict.fromkeys(name for trial in complete for name in (trial.constraints or {})))
    if not names:
        return {}
    judged = [is_feasible(trial) for trial in complete]
    return {
        "constraints": {
            "names": names,
            "feasible": sum(1 for verdict in judged if verdict is True),
            "infeasible": sum(1 for verdict in judged if verdict is False),
        }
    }


def _front_entry(trial: optuna.trial.FrozenTrial, metrics: list[str]) -> dict[str, Any]:
    ran = run_duration(trial)
    return {
        "number": trial.number,
        "values": dict(zip(metrics, trial.values)),
        "params": trial.params,
        "duration_s": ran.total_seconds() if ran else None,
    }
