"""Trials left RUNNING by a `tune` process that died: find them, end what is left, retry once.

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
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.study.records import (
    ATTR_LAUNCH,
    ATTR_REASON,
    ATTR_RETRY_OF,
    REASON_NEVER_LAUNCHED,
    REASON_NO_HEARTBEAT,
    REASON_TUNE_DIED,
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


def recover_stale_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose `tune` process is gone; returns their numbers.

    This host's trials are judged by their launch record (a `tune` process that is alive,
    even if stopped, keeps its trials), other hosts' by Optuna's heartbeat. Leftover processes
    are killed and the parameters queued again, once; failed this way, a trial does not count.
    """
    import optuna

    host = socket.gethostname()
    stale_ids = _heartbeat_stale_trial_ids(study)
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        launch: dict[str, Any] = trial.user_attrs.get(ATTR_LAUNCH) or {}
        if launch.get("host") == host:
            if _owner_alive(launch):
                continue
            _kill_leftovers(launch, trial.number)
            reason = REASON_TUNE_DIED
        elif trial._trial_id in stale_ids:
            reason = REASON_NO_HEARTBEAT
        elif not launch and _asked_long_ago(study, trial):
            reason = REASON_NEVER_LAUNCHED  # its `tune` died (or failed) between asking and launching
        else:
            continue
        if not _fail(study, trial, reason):
            continue  # another process recovered it first
        if ATTR_RETRY_OF not in trial.user_attrs and trial.params:
            study.enqueue_trial(trial.params, user_attrs={ATTR_RETRY_OF: trial.number}, skip_if_exists=False)
        recovered.append(trial.number)
    return recovered


def _heartbeat_stale_trial_ids(study: optuna.Study) -> set[int]:
    """Ids of RUNNING trials whose heartbeat is older than the storage's grace period.

    Optuna's ``fail_stale_trials`` is not used: it fails the trials before its callback runs,
    so the reason can no longer be stored on them, and it would fail this host's trials whose
    `tune` process is alive but stopped (SIGSTOP, a suspended laptop).
    """
    from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

    storage = study._storage
    if not isinstance(storage, BaseHeartbeat) or not is_heartbeat_enabled(storage):
        return set()
    return set(storage._get_stale_trial_ids(study._study_id))


def _asked_long_ago(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` was asked longer ago than any `tune` takes to launch what it asked."""
    from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

    storage = study._storage
    if not isinstance(storage, BaseHeartbeat) or not is_heartbeat_enabled(storage) or trial.datetime_start is None:
        return False
    grace = getattr(storage, "grace_period", None) or 2 * (storage.get_heartbeat_interval() or 0)
    return datetime.now() - trial.datetime_start > timedelta(seconds=grace)


def _fail(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> bool:
    """Record ``trial`` as failed for ``reason``; False if another process finished it first."""
    import optuna

    try:
        # There is no public call to annotate another process's trial; Optuna's own
        # fail_stale_trials uses the storage the same way.
        study._storage.set_trial_user_attr(trial._trial_id, ATTR_REASON, reason)
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
