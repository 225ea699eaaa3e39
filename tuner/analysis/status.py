"""`tune status`: a study's workers as the storage sees them, their running trials, and the study's counts and best
(with several objectives: the Pareto front's size and each objective's best on it).

Everything comes from the storage, so the view is the same for one machine and fifty: the worker
registry (:mod:`tuner.study.workers`) and the trials' launch records (which `tune` process runs each
trial, in which slot) and intermediate values (the epochs reported so far).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuner.study.pareto import directions, is_multi_objective, pareto_trials
from tuner.study.records import ATTR_LAUNCH, launched_at, stored_metric, stored_metrics
from tuner.study.workers import Worker, read_workers, worker_id
from tuner.trials.prune_judge import prune_values
from tuner.trials.recovery import process_start_time

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class RunningTrial:
    """A RUNNING trial: its last reported epoch (None before the first) and where it runs."""

    number: int
    epoch: int | None
    slot: str | None
    started: float | None


@dataclass
class WorkerStatus:
    worker: Worker
    state: str  # running, stale, dead (this host: its process is gone) or ended
    running: list[RunningTrial] = field(default_factory=list)
    finished: int = 0  # trials it launched that have ended


@dataclass(frozen=True)
class ObjectiveBest:
    """One objective of several and its best value on the Pareto front (None: no front yet)."""

    metric: str
    direction: str
    number: int | None = None
    value: float | None = None


@dataclass
class StudyStatus:
    study_name: str
    metric: str | None  # several objectives: None (see objectives)
    direction: str | None
    counts: dict[str, int]  # trial state (lower case) -> count
    best: tuple[int, float] | None  # (number, value); several objectives: None
    workers: list[WorkerStatus]
    unowned: list[RunningTrial]  # RUNNING trials of no registered worker (an older tune, or not launched yet)
    now: float
    objectives: list[ObjectiveBest] = field(default_factory=list)  # several objectives only
    front_size: int | None = None  # several objectives: trials on the (feasible) Pareto front


def study_status(storage: optuna.storages.BaseStorage, study: optuna.Study, now: float | None = None) -> StudyStatus:
    """The status of ``study``, read from ``storage`` (the one it was loaded from)."""
    now = time.time() if now is None else now
    workers = {
        worker.id: WorkerStatus(worker, _state(worker, now))
        for worker in read_workers(storage, storage.get_study_id_from_name(study.study_name))
    }
    trials = study.get_trials(deepcopy=False)
    unowned = []
    for trial in trials:
        launch = trial.user_attrs.get(ATTR_LAUNCH) or {}
        owner = workers.get(worker_id(launch)) if launch else None
        if trial.state.name == "RUNNING":
            (owner.running if owner else unowned).append(_running(trial, launch))
        elif owner is not None and trial.state.is_finished():
            owner.finished += 1
    multi = is_multi_objective(study)
    status = StudyStatus(
        study_name=study.study_name,
        metric=None if multi else stored_metric(study),
        direction=None if multi else study.direction.name.lower(),
        counts=dict(Counter(trial.state.name.lower() for trial in trials)),
        best=None if multi else _best(study),
        workers=list(workers.values()),
        unowned=unowned,
        now=now,
    )
    if multi:
        status.objectives, status.front_size = _front(study)
    return status


def _front(study: optuna.Study) -> tuple[list[ObjectiveBest], int]:
    """Each objective's best on the study's feasible Pareto front, and the front's size."""
    front = pareto_trials(study)
    bests = []
    for index, (metric, way) in enumerate(zip(stored_metrics(study), directions(study))):
        if not front:
            bests.append(ObjectiveBest(metric, way))
            continue
        pick = max if way == "maximize" else min
        chosen = pick(front, key=lambda trial: trial.values[index])
        bests.append(ObjectiveBest(metric, way, chosen.number, float(chosen.values[index])))
    return bests, len(front)


def _state(worker: Worker, now: float) -> str:
    """The worker's state; one of this host that is gone is ``dead`` at once, without waiting for its grace."""
    state = worker.state(now)
    here = worker.host == socket.gethostname() and isinstance(worker.pid, int)
    if state == "running" and here and process_start_time(worker.pid) != worker.process_start:
        return "dead"
    return state


def _running(trial: optuna.trial.FrozenTrial, launch: dict[str, Any]) -> RunningTrial:
    started = launched_at(trial) if launch.get("started") else None
    epochs = trial.intermediate_values or prune_values(trial)  # several objectives: the prune-on objective's
    return RunningTrial(
        number=trial.number,
        epoch=max(epochs) if epochs else None,
        slot=launch.get("slot") if isinstance(launch.get("slot"), str) else None,
        started=started.timestamp() if started else None,
    )


def _best(study: optuna.Study) -> tuple[int, float] | None:
    try:
        best = study.best_trial
    except (ValueError, RuntimeError):  # no complete trial yet; several objectives
        return None
    return (best.number, float(best.value)) if best.value is not None else None


def status_dict(status: StudyStatus) -> dict[str, Any]:
    """The status as plain data (``tune status --format json``)."""
    data: dict[str, Any] = {
        "study": status.study_name,
        "metric": status.metric,
        "direction": status.direction,
        "trials": status.counts,
        "best": None if status.best is None else {"number": status.best[0], "value": status.best[1]},
    }
    if status.objectives:
        data["objectives"] = [
            {"metric": one.metric, "direction": one.direction, "best": _objective_best(one)}
            for one in status.objectives
        ]
        data["pareto_front_size"] = status.front_size
    return {
        **data,
        "workers": [_worker_dict(entry, status.now) for entry in status.workers],
        "running_without_worker": [_trial_dict(trial) for trial in status.unowned],
    }


def _objective_best(one: ObjectiveBest) -> dict[str, Any] | None:
    return None if one.number is None else {"number": one.number, "value": one.value}


def _worker_dict(entry: WorkerStatus, now: float) -> dict[str, Any]:
    worker = entry.worker
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "slots": worker.slots,
        "state": entry.state,
        "started": worker.started,
        "last_beat": worker.beat,
        "seconds_since_beat": round(now - worker.beat, 1),
        "ended": worker.ended,
        "slurm": worker.slurm,
        "running": [_trial_dict(trial) for trial in entry.running],
        "finished_trials": entry.finished,
    }


def _trial_dict(trial: RunningTrial) -> dict[str, Any]:
    return {"number": trial.number, "epoch": trial.epoch, "slot": trial.slot, "started": trial.started}
