"""The render process: evaluates Jsonnet requests read from stdin, one JSON line each, answering on stdout.

Started by :mod:`tuner.config.jsonnet_engine`, which bounds every render in time and memory by
running it here, in a process it can kill. Requests: ``{"entry", "files", "ext_vars", "cwd"}``;
answers: ``{"json": text}`` or ``{"error": message}``, after one ``{"ready": true}`` once started.
It exits at end of input, and with its parent (Linux), so it can never outlive `tune`.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Renders that need more than this are runaway configs (``std.range(1, 1e10)``), not real ones.
MEMORY_LIMIT_BYTES = 4 << 30
_PR_SET_PDEATHSIG = 1
READY = '{"ready": true}'


def main() -> None:
    _die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    import _gojsonnet

    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # nothing but answers on the answer channel
    answers.write(READY + "\n")  # started: render time limits count from here
    answers.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            text = evaluate(_gojsonnet, request["entry"], request["files"], request["ext_vars"], request["cwd"])
            answer = {"json": text}
        except RuntimeError as error:
            answer = {"error": str(error)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def evaluate(engine: Any, entry: str, files: Mapping[str, str], ext_vars: Mapping[str, str], cwd: str) -> str:
    """Render ``files[entry]``; imports come from ``files`` first, then from disk, relative to ``cwd``
    (the caller's working directory: this process keeps none of its own, so it holds no folder busy)."""

    def import_file(directory: str, relative: str) -> tuple[str, bytes]:
        path = os.path.normpath(os.path.join(directory, relative))
        if path in files:
            return path, files[path].encode("utf-8")
        return path, Path(cwd, path).read_bytes()

    return engine.evaluate_snippet(entry, files[entry], ext_vars=dict(ext_vars), import_callback=import_file)


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: end of input still ends the process when `tune` exits
    if os.getppid() == 1:
        sys.exit(0)  # the parent died before the signal was armed


if __name__ == "__main__":
    main()
