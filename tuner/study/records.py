"""Everything `tune` writes into a study and reads back: attribute names, failure reasons, and their readers.

Study user attributes remember the setup (metric, search space, config snapshots, command, sampler,
pruner); trial user attributes say how each trial was launched and why it ended. They are the contract
with show-trials, dump-best, recovery by another `tune` process, and Optuna's own tools.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.config.snapshot import ConfigSnapshot
from tuner.contract import write_json_atomically
from tuner.errors import StudyError
from tuner.space.parameters import SearchSpace

if TYPE_CHECKING:
    import optuna

# Study user attributes.
ATTR_METRIC = "metric"
ATTR_SEARCH_SPACE = "search_space"
ATTR_CONFIG_PATH = "config_path"
ATTR_COMMAND = "command"  # the latest run's command; each trial's is under ATTR_COMMAND_PREFIX + its launch's key
ATTR_COMMAND_PREFIX = "command:"
ATTR_SNAPSHOT_PREFIX = "config_snapshot:"
ATTR_SPENT_SECONDS = "spent_seconds"
ATTR_SAMPLER = "sampler"  # {"name", "kwargs", "seed"}
ATTR_PRUNER = "pruner"  # {"name", "kwargs"}


def spent_seconds(study: optuna.Study) -> float:
    """Wall time that earlier `tune` runs spent on this study (for --timeout)."""
    return float(study.user_attrs.get(ATTR_SPENT_SECONDS, 0.0))


def add_spent_seconds(study: optuna.Study, seconds: float) -> None:
    study.set_user_attr(ATTR_SPENT_SECONDS, round(spent_seconds(study) + seconds, 3))


def remember_setup(
    study: optuna.Study,
    *,
    space: SearchSpace,
    snapshot: ConfigSnapshot,
    command: list[str] | None,
    sampler: Mapping[str, Any] | None = None,
    pruner: Mapping[str, Any] | None = None,
) -> None:
    """Store what later commands need: search space, config snapshot, command, sampler and pruner.

    A config snapshot or command new to the study is also stored under its key, which each trial's
    launch record names, so that a trial's own config and command outlive later runs' setups.
    """
    attrs = study.user_attrs
    updates: dict[str, Any] = {
        ATTR_SEARCH_SPACE: space.to_dict(),
        ATTR_CONFIG_PATH: snapshot.entry,
        ATTR_COMMAND: command,
        ATTR_SAMPLER: dict(sampler or {}),
        ATTR_PRUNER: dict(pruner or {}),
    }
    key = ATTR_SNAPSHOT_PREFIX + snapshot.key
    if key not in attrs:
        updates[key] = snapshot.to_dict()
    if command is not None:
        updates[ATTR_COMMAND_PREFIX + command_key(command)] = list(command)  # written by the first run that gives it
    for name, value in updates.items():
        if attrs.get(name) != value:
            study.set_user_attr(name, value)


def command_key(command: Sequence[str]) -> str:
    """A short content hash of a command's argument list; equal commands share it."""
    return hashlib.sha256(json.dumps(list(command)).encode()).hexdigest()[:12]


def trial_command(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> list[str] | None:
    """The command template ``trial`` ran with; a trial launched before tune recorded its command's key
    (or copied from another study) gets the study's latest command."""
    key = (trial.user_attrs.get(ATTR_LAUNCH) or {}).get("command")
    stored = study.user_attrs.get(ATTR_COMMAND_PREFIX + key) if isinstance(key, str) else None
    if stored is None:
        stored = study.user_attrs.get(ATTR_COMMAND)
    return list(stored) if stored else None


ATTR_TRIAL_CWD = "trial_cwd"  # {"mode": "tune" or "trial", "directory": tune's working directory}


def remember_trial_cwd(study: optuna.Study, mode: str) -> None:
    """Store where this run's trials run: in tune's working directory (``tune``, which is stored) or their folder."""
    import os

    value = {"mode": mode, "directory": os.getcwd()}
    if study.user_attrs.get(ATTR_TRIAL_CWD) != value:
        study.set_user_attr(ATTR_TRIAL_CWD, value)


def stored_snapshot(study: optuna.Study, key: str | None) -> ConfigSnapshot:
    """The config snapshot stored under ``key`` (the latest one when None)."""
    snapshots = {
        name[len(ATTR_SNAPSHOT_PREFIX) :]: value
        for name, value in study.user_attrs.items()
        if name.startswith(ATTR_SNAPSHOT_PREFIX)
    }
    if not snapshots:
        raise StudyError(f"study '{study.study_name}' was not created by tune: it stores no config")
    if key is None or key not in snapshots:
        path = study.user_attrs.get(ATTR_CONFIG_PATH)
        matching = [value for value in snapshots.values() if value["entry"] == path]
        return ConfigSnapshot.from_dict((matching or list(snapshots.values()))[-1])
    return ConfigSnapshot.from_dict(snapshots[key])


def remember_metric(study: optuna.Study, metric: str) -> None:
    """Store the metric a new study optimises; a resumed study must keep it."""
    study.set_user_attr(ATTR_METRIC, metric)


def stored_metric(study: optuna.Study) -> str | None:
    return study.user_attrs.get(ATTR_METRIC)


ATTR_METRICS = "metrics"  # a multi-objective study: every objective's metric, in order (ATTR_METRIC is the first)
ATTR_PRUNE_ON = "prune_on"  # a multi-objective study: {"metric": name, "index": position among the objectives}
ATTR_PRUNE_VALUES = (
    "prune_values"  # its trials: {"<epoch>": value of the prune-on objective} (tuner.trials.prune_judge)
)


def remember_metrics(study: optuna.Study, metrics: list[str]) -> None:
    """Store the metrics of a new multi-objective study, in the order of its directions."""
    study.set_user_attr(ATTR_METRIC, metrics[0])
    study.set_user_attr(ATTR_METRICS, list(metrics))


def remember_prune_on(study: optuna.Study, metric: str, index: int) -> None:
    """Store which objective pruning follows (this run's ``--prune-on``)."""
    value = {"metric": metric, "index": index}
    if study.user_attrs.get(ATTR_PRUNE_ON) != value:
        study.set_user_attr(ATTR_PRUNE_ON, value)


def record_prune_value(trial: optuna.Trial, step: int, value: float) -> None:
    """Add one epoch's value of the prune-on objective to a multi-objective trial (the first report stands)."""
    values = dict(trial.user_attrs.get(ATTR_PRUNE_VALUES) or {})
    values.setdefault(str(step), value)
    trial.set_user_attr(ATTR_PRUNE_VALUES, values)


def record_pruner_state(storage: optuna.storages.BaseStorage, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """Store system attributes a pruner wrote on a multi-objective trial's shadow (its rung records)."""
    for key, value in attrs.items():
        storage.set_trial_system_attr(trial_id, key, value)


def stored_metrics(study: optuna.Study) -> list[str]:
    """The metric of each of the study's objectives (``value_<i>`` where the study does not say)."""
    stored = study.user_attrs.get(ATTR_METRICS)
    if isinstance(stored, list) and len(stored) == len(study.directions):
        return [str(name) for name in stored]
    first = study.user_attrs.get(ATTR_METRIC)
    if len(study.directions) == 1:
        return [first or "value"]
    return [f"value_{index}" for index in range(len(study.directions))]


def direction_name(study: optuna.Study) -> str:
    return study.direction.name.lower()


# Trial user attributes: the contract with show-trials, dump-best and Optuna's own tools.
# Where and how a trial was launched is one attribute, so that launching costs one storage write.
# config_snapshot, command (their keys), directory, slot, gpu, pid, token, started; host, tuner_pid, tuner_started
ATTR_LAUNCH = "launch"
ATTR_REASON = "reason"
ATTR_PRUNED_EPOCH = "pruned_epoch"
ATTR_LOG_TAIL = "log_tail"
REASON_INTERRUPTED = "interrupted"
REASON_TUNE_DIED = "tune process died"
REASON_NO_HEARTBEAT = "tune process stopped (no heartbeat)"
REASON_SURPLUS = "not run: other tune processes had started the study's last trials"
REASON_NOT_LAUNCHED = "not run: prepared while every slot was busy; tune stopped before a slot freed"
REASON_NOT_SAMPLED = "not run: asked while the last trial ran; tune stopped before sampling it"
REASON_NOT_WRITTEN = "not run: its trial folder could not be written"
REASON_NEVER_LAUNCHED = "not run: its tune process died before launching it"
REASON_SETUP_FAILED = "not run: tune failed while preparing it (see log_tail)"
REASON_TAKEN_OVER = "ended: another tune process recovered it as stale"
REASON_OOM = "out of memory"  # every out-of-memory reason starts so (the failure policy tells them apart)
REASON_OOM_SHARED = "out of memory while sharing its GPU: retried alone"
# Failures that say nothing about the trial's parameters: they do not count towards --n-trials.
NOT_COUNTED_REASONS = frozenset(
    {
        REASON_INTERRUPTED,
        REASON_TUNE_DIED,
        REASON_NO_HEARTBEAT,
        REASON_SURPLUS,
        REASON_NOT_LAUNCHED,
        REASON_NOT_SAMPLED,
        REASON_NEVER_LAUNCHED,
        REASON_SETUP_FAILED,
        REASON_NOT_WRITTEN,
        REASON_OOM_SHARED,
    }
)


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended: Optuna state name, value, and why (for failures and prunes)."""

    state: str  # "COMPLETE", "PRUNED" or "FAIL"
    value: float | None = None
    reason: str | None = None
    pruned_epoch: int | None = None
    values: tuple[float, ...] | None = None  # several objectives: all values (``value`` is the first)
    violations: Mapping[str, float] | None = None  # --constraint: each one's violation (0 or less: met)


def record_launch(trial: optuna.Trial, launch: Mapping[str, Any]) -> None:
    """Store where, when and by whom ``trial`` runs (:data:`ATTR_LAUNCH`), in one storage write."""
    trial.set_user_attr(ATTR_LAUNCH, dict(launch))


def record_outcome(trial: optuna.Trial, outcome: TrialOutcome, log_tail: str | None = None) -> None:
    """Store why ``trial`` ended (and at which epoch it was pruned), and for a failure its log's last lines."""
    if outcome.reason:
        trial.set_user_attr(ATTR_REASON, outcome.reason)
    if outcome.pruned_epoch is not None:
        trial.set_user_attr(ATTR_PRUNED_EPOCH, outcome.pruned_epoch)
    if outcome.state == "FAIL" and log_tail:
        trial.set_user_attr(ATTR_LOG_TAIL, log_tail)


def mark_not_run(trial: optuna.Trial, reason: str, log_tail: str | None = None) -> None:
    """Store why ``trial`` ends without having run (one of the ``REASON_`` "not run" reasons)."""
    trial.set_user_attr(ATTR_REASON, reason)
    if log_tail:
        trial.set_user_attr(ATTR_LOG_TAIL, log_tail)


def mark_recovered(storage: optuna.storages.BaseStorage, trial_id: int, reason: str) -> None:
    """Store why a trial that another `tune` process left RUNNING is failed.

    The trial is not this process's, so there is no :class:`optuna.Trial` to call; the
    storage's own (public) call writes the attribute, as Optuna's ``fail_stale_trials`` does.
    """
    storage.set_trial_user_attr(trial_id, ATTR_REASON, reason)


def launched_at(trial: optuna.trial.FrozenTrial) -> datetime | None:
    """When the trial's process started.

    Optuna stamps a trial's start when it is asked; a trial prepared while every slot was
    busy is asked before its launch, so the launch record's time is the one to show.
    """
    started = (trial.user_attrs.get(ATTR_LAUNCH) or {}).get("started")
    if isinstance(started, (int, float)) and not isinstance(started, bool):
        return datetime.fromtimestamp(started)
    return trial.datetime_start


def run_duration(trial: optuna.trial.FrozenTrial) -> timedelta | None:
    """How long the trial ran, from its launch to its end; None while it runs."""
    start = launched_at(trial)
    if start is None or trial.datetime_complete is None:
        return None
    return max(timedelta(0), trial.datetime_complete - start)


ATTR_RETRY_OF = "retry_of"  # before retries resumed: the number of the trial it re-ran from scratch
# A trial that runs again (interrupted, or out of memory on a shared GPU) is a new Optuna trial tied to the
# old one: "of" (the trial it retries), "first" (the first attempt), "attempt" (1 = the first), "directory"
# (the folder it resumes in), "alone" (to run with its GPU to itself).
ATTR_RETRY = "retry"

# Warm starts (tuner.study.enqueue, tuner.study.warm_start): trials queued from --enqueue, and trials copied
# from another study by --warm-start-from (its name and the trial's number there); the latter are not counted.
ATTR_ENQUEUED = "enqueued"
ATTR_WARM_START_FROM = "warm_start_from"
ATTR_WARM_START_TRIAL = "warm_start_trial"


def interrupted_times_reason(attempts: int) -> str:
    """Why a trial interrupted on every one of its ``attempts`` is failed (and counted)."""
    return f"interrupted {attempts} times"


def retry_of(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The retry record of a trial (its user attributes), None for a first attempt."""
    record = attrs.get(ATTR_RETRY)
    if isinstance(record, dict) and isinstance(record.get("attempt"), int):
        return dict(record)
    if isinstance(attrs.get(ATTR_RETRY_OF), int):  # re-run from scratch by an older tune
        return {"of": attrs[ATTR_RETRY_OF], "first": attrs[ATTR_RETRY_OF], "attempt": 2, "directory": None}
    return None


def attempt_number(trial: optuna.trial.FrozenTrial) -> int:
    """Which attempt at its parameters ``trial`` is: 1, or more for a retry."""
    record = retry_of(trial.user_attrs)
    return record["attempt"] if record else 1


def next_attempt(number: int, attrs: Mapping[str, Any], *, directory: str | None, alone: bool = False) -> dict:
    """The retry record of the attempt after trial ``number`` (whose user attributes are ``attrs``)."""
    previous = retry_of(attrs)
    first = previous["first"] if previous else number
    attempt = previous["attempt"] + 1 if previous else 2
    return {"of": number, "first": first, "attempt": attempt, "directory": directory, "alone": alone}


def queue_retry(
    study: optuna.Study, params: Mapping[str, Any], intermediate_values: Mapping[int, float], record: Mapping[str, Any]
) -> None:
    """Queue ``params`` again as the attempt ``record`` says, with the intermediate values reported so far.

    As Optuna's ``RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)`` does, so that the
    pruner judges all attempts as one trial.
    """
    import optuna

    if len(study.directions) > 1:
        intermediate_values = {}  # kept by tuner.trials.prune_judge; Optuna's TPE reads these as single-objective
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            system_attrs={"fixed_params": dict(params)},
            user_attrs={ATTR_RETRY: dict(record)},
            intermediate_values=dict(intermediate_values),
        )
    )


def trial_config(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The config ``trial`` ran with, rendered from the snapshot stored in the study."""
    snapshot = stored_snapshot(study, trial.user_attrs.get(ATTR_LAUNCH, {}).get("config_snapshot"))
    return snapshot.render(_with_inactive_defaults(study, trial.params))


def _with_inactive_defaults(study: optuna.Study, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus the default of each conditional parameter the trial left inactive."""
    from tuner.space.parse import parse_stored_space

    stored = study.user_attrs.get(ATTR_SEARCH_SPACE)
    if not stored:
        return dict(params)
    return parse_stored_space(stored, source=f"study '{study.study_name}'").complete(params)


def write_trial_config(study: optuna.Study, trial: optuna.trial.FrozenTrial, path: Path) -> Path:
    """Write the config of ``trial`` atomically to ``path``; returns the path."""
    path = Path(path)
    if path.is_dir():
        raise StudyError(f"{path} is a folder; give a file name such as {path / 'best_config.json'}")
    if not path.parent.is_dir():
        raise StudyError(f"cannot write {path}: folder {path.parent} does not exist")
    write_json_atomically(path, trial_config(study, trial))
    return path


# GPU accounting: one attribute per trial, written once as it ends (before Optuna is told).
ATTR_GPU_USAGE = "gpu_usage"  # {"gpus": N, "gpu_seconds": S, "peak_gpu_memory_mb": M or absent}


def record_gpu_usage(trial: optuna.Trial, *, gpus: int, seconds: float, peak_gpu_memory_mb: float | None) -> None:
    """Store the GPUs a trial held and for how long; nothing for a CPU trial (no GPU, no peak memory)."""
    if gpus <= 0 and peak_gpu_memory_mb is None:
        return
    usage: dict[str, Any] = {"gpus": gpus, "gpu_seconds": round(gpus * max(0.0, seconds), 3)}
    if peak_gpu_memory_mb is not None:
        usage["peak_gpu_memory_mb"] = round(float(peak_gpu_memory_mb), 1)
    trial.set_user_attr(ATTR_GPU_USAGE, usage)


def gpu_usage(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's GPU usage record ({} for a CPU trial, or one that never ended in a tune process)."""
    usage = trial.user_attrs.get(ATTR_GPU_USAGE)
    return dict(usage) if isinstance(usage, Mapping) else {}
