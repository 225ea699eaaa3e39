"""Keep what Optuna says from inside one background thread (log records, Python warnings) off the console.

The Terminator's Gaussian-process fits warn through Optuna's logger ("The optimization of kernel parameters
failed") and through :mod:`warnings` (numpy's overflow warnings, Optuna's "Clip non-finite values"). Those
are about a fit of the Terminator's, not about the user's trials, and would break into the live view.

Neither Optuna's log level nor ``warnings.catch_warnings`` can be set for one thread: both are process-wide,
and ``catch_warnings`` entered in a background thread restores the filters it saved when it leaves, undoing
what the main thread changed meanwhile. So :func:`hushed` leaves the levels and filters as they are and drops
what a thread of the given name emits where it is shown: a :class:`logging.Filter` on the handlers Optuna's
records reach, and a wrapper around ``warnings.showwarning`` (the hook Python documents for replacing how
warnings are shown). Whatever other threads emit is shown as before.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

OPTUNA_LOGGER = "optuna"  # the root of Optuna's loggers (optuna.logging)


@contextmanager
def hushed(thread_name: str) -> Iterator[None]:
    """While inside, drop Optuna's log records and all warnings emitted by threads named ``thread_name``.

    Enter and leave it in the thread that owns the background work (the main thread), so that it nests
    with that thread's own ``warnings.catch_warnings`` blocks.
    """
    records = _ThreadRecords(thread_name)
    handlers = _handlers_reached(logging.getLogger(OPTUNA_LOGGER))
    for handler in handlers:
        handler.addFilter(records)
    shown = _ShownOutside(thread_name, warnings.showwarning)
    warnings.showwarning = shown.show
    try:
        yield
    finally:
        if warnings.showwarning == shown.show:  # unless someone replaced the hook since (then theirs stays)
            warnings.showwarning = shown.previous
        for handler in handlers:
            handler.removeFilter(records)


class _ThreadRecords(logging.Filter):
    """Refuses Optuna's records made in threads named ``thread_name``."""

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name

    def filter(self, record: logging.LogRecord) -> bool:
        from_optuna = record.name == OPTUNA_LOGGER or record.name.startswith(OPTUNA_LOGGER + ".")
        return not (from_optuna and record.threadName == self.thread_name)


class _ShownOutside:
    """A ``warnings.showwarning`` that passes on all warnings but those of threads named ``thread_name``."""

    def __init__(self, thread_name: str, previous: Any) -> None:
        self.thread_name = thread_name
        self.previous = previous

    def show(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if threading.current_thread().name != self.thread_name:
            self.previous(message, category, filename, lineno, file, line)


def _handlers_reached(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers a record logged to ``logger`` (or a child of it) reaches, as :mod:`logging` walks them."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        handlers.extend(current.handlers)
        current = current.parent if current.propagate else None
    if not handlers and logging.lastResort is not None:
        handlers.append(logging.lastResort)  # what logging prints with when no handler is set up
    return handlers
