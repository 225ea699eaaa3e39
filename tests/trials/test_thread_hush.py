"""hushed(): Optuna's log records and warnings of one named thread are dropped; other threads' are shown."""

from __future__ import annotations

import io
import logging
import threading
import warnings

import optuna

from tuner.trials.thread_hush import hushed

HUSHED = "hushed-thread"


def emit(tag: str) -> None:
    optuna.logging.get_logger("optuna._gp.gp").warning(f"record from {tag}")
    warnings.warn(f"warning from {tag}", UserWarning, stacklevel=1)


def emit_in_thread(tag: str, name: str) -> None:
    thread = threading.Thread(target=emit, args=(tag,), name=name)
    thread.start()
    thread.join()


def test_only_the_named_threads_records_and_warnings_are_dropped():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    optuna_logger = logging.getLogger("optuna")
    optuna_logger.addHandler(handler)
    shown: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *rest: shown.append(str(message))
            with hushed(HUSHED):
                emit_in_thread("the hushed thread", HUSHED)
                emit_in_thread("another thread", "another")
                emit("the main thread")
            emit_in_thread("the hushed thread, after", HUSHED)
    finally:
        optuna_logger.removeHandler(handler)
    assert shown == [
        "warning from another thread",
        "warning from the main thread",
        "warning from the hushed thread, after",
    ]
    records = stream.getvalue().splitlines()
    assert records == [
        "record from another thread",
        "record from the main thread",
        "record from the hushed thread, after",
    ]
