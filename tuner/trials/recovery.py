"""Trials left RUNNING by a `tune` process that died: find them, end what is left, queue them to resume.

On this host a trial's launch record (process ids and start times) tells at once
whether the `tune` process that owns it is still alive. Trials of other hosts are
found by Optuna's heartbeat (RDB storages). A trial asked but never launched (its
`tune` died in between) has no launch record; it is failed once it is older than
the heartbeat's grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.study.heartbeat import heartbeat_grace_seconds, heartbeat_stale_trials, study_storage, trial_id
from tuner.study.records import (
    ATTR_LAUNCH,
    REASON_NEVER_LAUNCHED,
    REASON_NO_HEARTBEAT,
    REASON_TUNE_DIED,
    attempt_number,
    interrupted_times_reason,
    mark_recovered,
    next_attempt,
    queue_retry,
    retry_of,
)
from tuner.trials.descendants import end_marked_processes

if TYPE_CHECKING:
    import optuna


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot); None when it does not exist."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[19])


def recover_stale_trials(study: optuna.Study, max_retries: int = 2) -> list[int]:
    """Fail the RUNNING trials whose `tune` process is gone; returns their numbers.

    This host's trials are judged by their launch record (a `tune` process that is alive,
    even if stopped, keeps its trials), other hosts' by Optuna's heartbeat. Leftover processes
    are killed and the trial queued again to resume in its folder (:mod:`tuner.trials.retries`);
    failed this way, a trial does not count. One interrupted on each of its ``max_retries`` + 1
    attempts is failed for good, and counts. A study not opened by tune's
    :func:`~tuner.study.storage.create_or_resume_study` is left alone.
    """
    import optuna

    storage = study_storage(study)
    if storage is None:
        return []
    stale = heartbeat_stale_trials(study)
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        reason = _stale_reason(study, trial, trial.number in stale)
        last_attempt = attempt_number(trial) > max_retries and reason in (REASON_TUNE_DIED, REASON_NO_HEARTBEAT)
        if last_attempt:
            reason = interrupted_times_reason(attempt_number(trial))
        if reason is None or not _fail(study, storage, trial, reason):
            continue  # alive, or another process recovered it first
        # A trial asked ahead but not sampled yet has only the queued point it took, if any.
        params = trial.params or trial.system_attrs.get("fixed_params")
        if not last_attempt and params:
            queue_retry(study, params, trial.intermediate_values, _next_attempt(study, trial, reason))
        recovered.append(trial.number)
    return recovered


def _next_attempt(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> dict[str, Any]:
    """The next attempt of a stale trial, in its folder; one never launched keeps its attempt (it did not run).

    A trial found by its heartbeat may still run (its `tune` stopped, or cut off from the storage): if
    anything wrote into its folder within the heartbeat's grace period, the retry starts over in a folder
    of its own rather than share one with it.
    """
    launch: dict[str, Any] = trial.user_attrs.get(ATTR_LAUNCH) or {}
    previous = retry_of(trial.user_attrs)
    if not launch.get("started") and previous is not None:
        return previous
    alone = bool(previous and previous.get("alone"))
    directory = launch.get("directory")
    if reason == REASON_NO_HEARTBEAT and isinstance(directory, str) and _written_lately(study, Path(directory)):
        directory = None
    return next_attempt(trial.number, trial.user_attrs, directory=directory, alone=alone)


def _written_lately(study: optuna.Study, directory: Path) -> bool:
    """Whether ``directory`` or a file in it was modified within the heartbeat's grace period."""
    grace = heartbeat_grace_seconds(study) or 0
    try:
        entries = [directory, *directory.iterdir()]
        newest = max(entry.stat().st_mtime for entry in entries)
    except OSError:
        return False  # not here (another host's folder): the retry gets a folder of its own anyway
    return time.time() - newest < grace


def _stale_reason(study: optuna.Study, trial: optuna.trial.FrozenTrial, heartbeat_stale: bool) -> str | None:
    """Why ``trial`` is to be failed as left by a dead `tune`; None while its `tune` may be alive.

    A dead owner on this host has its leftover processes killed here.
    """
    launch: dict[str, Any] = trial.user_attrs.get(ATTR_LAUNCH) or {}
    if launch.get("host") == socket.gethostname():
        if _owner_alive(launch):
            return None
        _kill_leftovers(launch, trial.number)
        return REASON_TUNE_DIED
    if heartbeat_stale:
        return REASON_NO_HEARTBEAT
    if not launch and _asked_long_ago(study, trial):
        return REASON_NEVER_LAUNCHED  # its `tune` died (or failed) between asking and launching
    return None


def _asked_long_ago(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` was asked longer ago than any `tune` takes to launch what it asked."""
    grace = heartbeat_grace_seconds(study)
    if grace is None or trial.datetime_start is None:
        return False
    return datetime.now() - trial.datetime_start > timedelta(seconds=grace)


def _fail(
    study: optuna.Study, storage: optuna.storages.BaseStorage, trial: optuna.trial.FrozenTrial, reason: str
) -> bool:
    """Record ``trial`` as failed for ``reason``; False if another process finished it first."""
    import optuna

    try:
        mark_recovered(storage, trial_id(study, trial.number), reason)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return False
    return True


def launch_identity() -> dict[str, Any]:
    """What identifies this `tune` process in a trial's launch record."""
    return {"host": socket.gethostname(), "tuner_pid": os.getpid(), "tuner_started": process_start_time(os.getpid())}


def _owner_alive(launch: dict[str, Any]) -> bool:
    pid = launch.get("tuner_pid")
    if not isinstance(pid, int):
        return False
    started = process_start_time(pid)
    return started is not None and started == launch.get("tuner_started")


def _kill_leftovers(launch: dict[str, Any], number: int) -> None:
    """Kill what is left of the trial: its process group, and whatever carries its token."""
    _kill_leftover_group(launch, number)
    token = launch.get("token")
    end_marked_processes(token if isinstance(token, str) else None)


def _kill_leftover_group(launch: dict[str, Any], number: int) -> None:
    """Kill what is left of the trial's process group, leader or not.

    The leader dies with `tune` (PR_SET_PDEATHSIG) but what it started stays in its
    group, so the group is looked up by id; it is this trial's when one of its
    processes has the trial's environment (process group ids are reused too).
    """
    pgid = launch.get("pid")
    if not isinstance(pgid, int):
        return
    marker = f"TUNER_TRIAL_NUMBER={number}".encode()
    if not any(marker in _environ(pid) for pid in _group_members(pgid)):
        return  # gone, or the id was reused by something that is not this trial
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return []
