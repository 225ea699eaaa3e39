"""Files written in a thread of their own, in order, so that training never waits for the disk.

The training thread takes a snapshot of the state (tensors copied to CPU memory, containers copied);
serialising, writing and renaming happen in the background, in the order they were asked for: an
epoch's line is appended only after its checkpoint is in place. Killed meanwhile, the run loses the
last writes in order, so a line never exists without its checkpoint.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class BackgroundWriter:
    """Runs write jobs one after the other in a daemon thread; an error comes back on the next call."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; raises the error of an earlier job (a full disk, say)."""
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="tuner-train-writer", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait until every queued job is done; raises the first error."""
        self._jobs.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if self._error is None:  # after a failure the later writes would break the order
                    job()
            except Exception as error:  # noqa: BLE001 - any failure goes back to the training thread
                self._error = error
            finally:
                self._jobs.task_done()


def snapshot(state: Any) -> Any:
    """``state`` as of now: tensors copied into CPU memory and containers copied, so that training on
    (optimizers update their moments in place) cannot change what the background thread saves."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        copied = type(state)() if type(state) is not dict else {}
        copied.update((key, snapshot(value)) for key, value in state.items())
        if hasattr(state, "_metadata"):  # a module's state_dict keeps its version metadata here
            copied._metadata = state._metadata  # type: ignore[attr-defined]
        return copied
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a named tuple takes its fields one by one
        return type(state)(*(snapshot(value) for value in state))
    if isinstance(state, list | tuple):
        return type(state)(snapshot(value) for value in state)
    return state


def serialize(state: Any) -> bytes:
    """``torch.save`` into memory (torch's zip writer seeks a lot: twice as slow on a file)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` into a temporary file next to ``path``, then rename it over ``path``.

    Readers (and a resumed run) see the old file or the whole new one, never a part.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
    except BaseException:  # a full disk: the previous file stays whole
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
