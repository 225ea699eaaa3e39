"""A trial's descendants wherever they went: found by the marker in their environment, and ended.

A trial's processes share its process group unless one leaves it (``setsid``, a double-forked
daemon, a child in a group of its own). Each trial's environment carries a token of its own
(:data:`tuner.contract.ENV_TRIAL_TOKEN`), inherited by everything it starts, so the process
table tells which processes are the trial's. A cgroup would hold them more surely, but needs
a delegated cgroup tree, which containers and shared hosts rarely give.

A limit: a process of a warm-launched trial (forked by the warm worker) that forks without
``exec`` keeps the worker's original environment block; it is found only while it stays in
the trial's process group.
"""

from __future__ import annotations

import os
import signal
import uuid

from tuner.contract import ENV_TRIAL_TOKEN


def new_trial_token() -> str:
    """A marker unique to one trial launch."""
    return uuid.uuid4().hex


def marked_processes(token: str) -> list[int]:
    """Live processes whose environment carries ``token`` (0.3 ms for the whole process table here)."""
    marker = f"{ENV_TRIAL_TOKEN}={token}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:  # gone, a kernel thread, or another user's
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_marked_processes(token: str | None) -> None:
    """SIGKILL every process that carries ``token``, until none is left (they may be forking)."""
    if not token:
        return
    for _ in range(10):
        pids = [pid for pid in marked_processes(token) if pid != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
