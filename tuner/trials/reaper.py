"""The processes a run leaves when `tune` itself is killed (SIGKILL, OOM killer): ended by a reaper.

A trial's leader dies with `tune` (``PR_SET_PDEATHSIG``), but what left its process group does not:
torchrun starts each rank with ``start_new_session=True``, so when `tune` is SIGKILLed its agent
dies and the ranks (and their DataLoader workers) would train on, orphaned. While `tune` runs, a
trial's end kills them by its token (:mod:`tuner.trials.descendants`); for `tune`'s own death, a
small reaper started with the run waits on a pipe that only `tune` holds open and, when it closes,
kills every process carrying this run's token (all trials' processes inherit it). The reaper is a
bare ``python -I -S -c`` of a few lines (about 20 ms to start, once per run), in a session of its
own so that a Ctrl-C at the terminal does not end it first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

ENV_RUN_TOKEN = "TUNER_RUN_TOKEN"

_REAPER = """
import os, signal, sys
marker = sys.argv[1].encode()
sys.stdin.buffer.read()  # returns when tune closes the pipe or dies
for _ in range(20):
    pids = []
    for name in os.listdir('/proc'):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open('/proc/' + name + '/environ', 'rb') as handle:
                    if marker in handle.read().split(b'\\0'):
                        pids.append(int(name))
            except OSError:
                pass
    if not pids:
        break
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


class Reaper:
    """The run's reaper process; ``env`` is what every trial's environment must add."""

    def __init__(self) -> None:
        token = uuid.uuid4().hex
        self.env = {ENV_RUN_TOKEN: token}
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _REAPER, f"{ENV_RUN_TOKEN}={token}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={key: value for key, value in os.environ.items() if key != ENV_RUN_TOKEN},
            )
        except OSError:  # no reaper: trials still end with tune in every other way
            self._process = None

    def close(self) -> None:
        """Let the reaper go: every trial has ended by now, so it finds nothing and exits."""
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            self._process.wait()
            self._process = None
