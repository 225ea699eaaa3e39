"""A trial's descendants wherever they went: found by the marker in their environment, and ended.

A trial's processes share its process group unless one leaves it (``setsid``, a double-forked
daemon, a child in a group of its own). Each trial's environment carries a token of its own
(:data:`tuner.contract.ENV_TRIAL_TOKEN`), inherited by everything it starts, so the process
table tells which processes are the trial's. A cgroup would hold them more surely, but needs
a delegated cgroup tree, which containers and shared hosts rarely give.

A trial's processes all get their ids after its launch: a :class:`PidWindow` opened at the
launch narrows the search to the ids handed out since (Linux's ``ns_last_pid``), and processes
still in the trial's own group are skipped (the group is ended as a whole). Both matter at a
trial's end: reading the environment of a process that is tearing down waits for its memory
to be unmapped, ~5 ms for one that had torch mapped.

A limit: a process of a warm-launched trial (forked by the warm worker) that forks without
``exec`` keeps the worker's original environment block; it is found only while it stays in
the trial's process group.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterable

from tuner.contract import ENV_TRIAL_TOKEN

_LAST_PID = "/proc/sys/kernel/ns_last_pid"
MAX_WINDOW = 4096  # more ids handed out since the launch than this: the whole process table is read


def new_trial_token() -> str:
    """A marker unique to one trial launch."""
    return uuid.uuid4().hex


class PidWindow:
    """The process ids the kernel hands out from its opening on, in this PID namespace."""

    def __init__(self) -> None:
        self._first = _read_int(_LAST_PID)

    def pids(self) -> Iterable[int] | None:
        """The ids handed out since the opening (some may be free again); None when unknown or too many."""
        last = _read_int(_LAST_PID)
        if self._first is None or last is None:
            return None
        span = (last - self._first) % _PID_MAX
        if span > MAX_WINDOW:
            return None
        return [pid for offset in range(1, span + 1) if (pid := (self._first + offset) % _PID_MAX) > 0]


def marked_processes(token: str, *, group: int | None = None, window: PidWindow | None = None) -> list[int]:
    """Live processes whose environment carries ``token``; those in process group ``group`` are skipped,
    and with ``window`` only its ids are looked at (0.3 ms for the whole process table here)."""
    marker = f"{ENV_TRIAL_TOKEN}={token}".encode()
    candidates = window.pids() if window is not None else None
    if candidates is None:
        candidates = [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]
    found = []
    for pid in candidates:
        try:
            if group is not None and os.getpgid(pid) == group:
                continue
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:  # gone, a kernel thread, or another user's
            continue
        if marker in environ.split(b"\0"):
            found.append(pid)
    return found


def end_marked_processes(token: str | None, *, group: int | None = None, window: PidWindow | None = None) -> None:
    """SIGKILL every process that carries ``token``, until none is left (they may be forking).

    ``group`` (already ended as a whole) and ``window`` narrow the search, see :func:`marked_processes`.
    """
    if not token:
        return
    for _ in range(10):
        pids = [pid for pid in marked_processes(token, group=group, window=window) if pid != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _read_int(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


_PID_MAX = _read_int("/proc/sys/kernel/pid_max") or 1 << 22
