"""Ctrl-C and SIGTERM while a study runs: counted by the runner, never raised into its loop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupt_handlers(handle: Callable[[], None]) -> Iterator[None]:
    """Call ``handle`` for each SIGINT or SIGTERM inside the block; the previous handlers come back after it.

    ``handle`` runs between two bytecodes of the main thread, wherever the runner's loop is:
    it should only count and send signals. Outside the main thread, where Python cannot set
    signal handlers, the block runs without them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        handle()

    previous = {signum: signal.signal(signum, on_signal) for signum in INTERRUPT_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
