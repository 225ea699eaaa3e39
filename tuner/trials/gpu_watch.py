"""``--gpus free``: which GPUs someone else is using, read from nvidia-smi at most about once a second.

A GPU is busy when it runs a compute process that is not one of tune's trials (a process not
descended from this `tune`), or when the memory in use, less what tune's own trials hold, is
above ``--busy-gpu-mb``. The GPUs free when tune starts become its slots; before each launch they
are read again, and a slot whose GPU someone has taken meanwhile waits instead of launching a
trial into an out-of-memory crash. The live view says which slot waits and why.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from tuner.trials.gpus import Gpu, GpuReading, read_gpus

if TYPE_CHECKING:
    from tuner.trials.slots import Slot

DEFAULT_BUSY_GPU_MB = 1024.0
MIN_READ_INTERVAL_SECONDS = 1.0  # nvidia-smi takes 20-100 ms and wakes the driver: not at every poll
WAIT_STEP_SECONDS = 0.2


class WaitingObserver(Protocol):
    def slots_waiting(self, waiting: Mapping[str, str]) -> None: ...


class GpuWatch:
    """The busy state of ``gpus``, read again when older than a second."""

    def __init__(self, gpus: Sequence[Gpu], busy_gpu_mb: float = DEFAULT_BUSY_GPU_MB) -> None:
        self.gpus = {gpu.device: gpu for gpu in gpus}
        self.busy_gpu_mb = busy_gpu_mb
        self.observer: WaitingObserver | None = None
        self.notes: list[str] = []  # for the user, once, before the run
        self._read_at = -float("inf")
        self._busy: dict[str, str] = {}
        self._waiting: dict[str, str] = {}  # slot label -> why, as last told to the observer

    def busy(self) -> dict[str, str]:
        """Device -> why it is busy, for the watched GPUs that are busy now (a reading at most a second old)."""
        if time.monotonic() - self._read_at >= MIN_READ_INTERVAL_SECONDS:
            readings = read_gpus()
            self._read_at = time.monotonic()
            if readings is not None:  # a failed reading (nvidia-smi hit by a Ctrl-C, say) changes nothing
                self._busy = self._busy_now(readings)
        return self._busy

    def ready(self, free: Sequence[Slot], *, block: bool, stop: Callable[[], str | None]) -> list[Slot]:
        """The ``free`` slots whose GPUs nobody else uses now; with ``block``, wait until there is one.

        While ``stop()`` gives a reason, all of ``free`` is returned: the runner then starts nothing
        and stops for that reason.
        """
        while True:
            if stop():
                return list(free)
            busy = self.busy()
            waiting = {slot.label: _why(slot, busy) for slot in free if any(gpu in busy for gpu in slot.gpus)}
            self._tell(waiting, looked_at={slot.label for slot in free})
            ready = [slot for slot in free if slot.label not in waiting]
            if ready or not block or not free:
                return ready
            time.sleep(WAIT_STEP_SECONDS)

    def _tell(self, waiting: dict[str, str], looked_at: set[str]) -> None:
        """Tell the observer when the waiting slots change (those not ``looked_at`` keep their state)."""
        now = {label: why for label, why in self._waiting.items() if label not in looked_at}
        now.update(waiting)
        if now != self._waiting:
            self._waiting = now
            if self.observer is not None:
                self.observer.slots_waiting(dict(now))

    def _busy_now(self, readings: Sequence[GpuReading]) -> dict[str, str]:
        ours = tune_descendants()
        busy = {}
        for device, gpu in self.gpus.items():
            reading = next((r for r in readings if _same(r, gpu)), None)
            if reading is not None:
                why = busy_reason(reading, ours, self.busy_gpu_mb)
                if why:
                    busy[device] = why
        return busy


def busy_reason(reading: GpuReading, ours: set[int], busy_gpu_mb: float) -> str | None:
    """Why the GPU of ``reading`` is busy for a trial of this tune (``ours``: its processes), or None."""
    foreign = [pid for pid in reading.processes if pid not in ours]
    if foreign:
        return f"busy ({_owner(foreign[0])})"
    others_mb = reading.memory_used_mb - sum(reading.processes.values())
    if others_mb > busy_gpu_mb:
        return f"busy ({others_mb:.0f} MiB in use by others, over --busy-gpu-mb {busy_gpu_mb:g})"
    return None


def free_gpus(gpus: Sequence[Gpu], busy_gpu_mb: float) -> tuple[list[Gpu], dict[str, str]]:
    """The GPUs of ``gpus`` that nobody else uses now, and why each of the others is busy."""
    watch = GpuWatch(gpus, busy_gpu_mb)
    busy = watch.busy()
    return [gpu for gpu in gpus if gpu.device not in busy], busy


def tune_descendants(root: int | None = None) -> set[int]:
    """This process (or ``root``) and every process descended from it, from the parent links in /proc."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _owner(pid: int) -> str:
    """``other user's process`` or, for one of this user's own programs, its pid."""
    try:
        same_user = os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except OSError:  # not visible here: another user's, or another container's
        same_user = False
    return f"process {pid}, not one of tune's trials" if same_user else "other user's process"


def _same(reading: GpuReading, gpu: Gpu) -> bool:
    return reading.uuid == gpu.uuid if gpu.uuid else reading.index == (gpu.index or gpu.device)


def _why(slot: Slot, busy: Mapping[str, str]) -> str:
    return next(busy[gpu] for gpu in slot.gpus if gpu in busy)
