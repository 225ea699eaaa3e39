"""The one Jsonnet engine of a study: go-jsonnet, every render bounded in time and memory.

Everything a study renders (pre-flight, trial configs, best configs, dump-best, search
spaces and study configs in Jsonnet) goes through :func:`render`, so a trial's
``config.json`` is exactly what any later render of its parameters gives. Renders run in
a long-lived child process (:mod:`tuner.config.jsonnet_server`): a config that loops or grows
without end is killed there and becomes an error, never a hang of `tune`.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

# A real config renders in milliseconds; this bounds a runaway one.
RENDER_TIME_LIMIT_S = 30.0
# Starting the render process (an interpreter and go-jsonnet) on a loaded machine; not counted as render time.
START_TIME_LIMIT_S = 120.0
ENV_RENDER_TIME_LIMIT = "TUNER_RENDER_TIME_LIMIT"


class JsonnetError(RuntimeError):
    """The engine refused the source; the message is the engine's own, with its stack of frames."""


class RenderLimitError(JsonnetError):
    """The render ran past its time limit or out of memory, or the render process died."""


class _RenderProcess:
    """The child process that renders, started on first use and again after it had to be killed."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def render(self, entry: str, files: Mapping[str, str], ext_vars: Mapping[str, str], time_limit: float) -> str:
        request = {"entry": entry, "files": dict(files), "ext_vars": dict(ext_vars), "cwd": os.getcwd()}
        message = json.dumps(request) + "\n"
        with self._lock:
            process = self._running()
            try:
                process.stdin.write(message)
                process.stdin.flush()
                line = _read_line(process, time_limit)
            except OSError:  # the process is gone: a broken pipe
                line = ""
            if not line:
                self.close()
                reason = "ran out of memory or crashed" if line == "" else f"took more than {time_limit:g} s"
                raise RenderLimitError(f"RUNTIME ERROR: the render {reason}; the config may loop or grow without end")
        answer = json.loads(line)
        if "error" in answer:
            raise JsonnetError(answer["error"])
        return answer["json"]

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()
            for stream in (process.stdin, process.stdout):
                stream.close()

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._process = process = subprocess.Popen(
                [sys.executable, "-m", "tuner.config.jsonnet_server"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # a Go runtime crash dumps every goroutine there
                cwd="/",  # it holds no user folder busy; requests carry the caller's directory
                text=True,
                encoding="utf-8",
                start_new_session=True,  # a Ctrl-C meant for `tune` does not kill a render half-way
            )
            if not _read_line(process, START_TIME_LIMIT_S):
                self.close()
                raise RenderLimitError("RUNTIME ERROR: the Jsonnet render process (go-jsonnet) did not start")
        return self._process


def _read_line(process: subprocess.Popen[str], time_limit: float) -> str | None:
    """One answer line; None when none came within ``time_limit``, ``""`` when the process ended."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(time_limit):
            return None
    return process.stdout.readline()


_PROCESS = _RenderProcess()
atexit.register(_PROCESS.close)


def render(entry: str, files: Mapping[str, str], ext_vars: Mapping[str, str], time_limit: float | None = None) -> str:
    """Evaluate ``files[entry]`` (imports from ``files``, else from disk) and return its JSON text.

    Raises:
        JsonnetError: The source does not evaluate; :class:`RenderLimitError` if it ran past
            ``time_limit`` seconds (default :data:`RENDER_TIME_LIMIT_S`, or ``$TUNER_RENDER_TIME_LIMIT``).
    """
    if time_limit is None:
        time_limit = float(os.environ.get(ENV_RENDER_TIME_LIMIT, RENDER_TIME_LIMIT_S))
    return _PROCESS.render(entry, files, ext_vars, time_limit)


def parse_rendered(text: str) -> Any:
    """The rendered JSON as data; NaN or infinity (which no training can use) is a :class:`JsonnetError`."""

    def refuse(constant: str) -> Any:
        raise JsonnetError(f"RUNTIME ERROR: the config renders a non-finite number ({constant})")

    def finite(literal: str) -> float:
        value = float(literal)
        return value if math.isfinite(value) else refuse(literal)

    return json.loads(text, parse_constant=refuse, parse_float=finite)
