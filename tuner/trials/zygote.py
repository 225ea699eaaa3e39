"""The zygote of warm launch: one process imports torch once and forks the slots' workers.

4 or 8 slots whose workers each imported torch by themselves took 4-8 times torch's import on
2 cores before the first trial; forked from one zygote, every worker is ready once it is.
:class:`tuner.trials.warm.WarmLauncher` asks it for its worker; the other side is
``tuner.trials.worker._serve_zygote``. A worker's pipes are passed over a Unix socket.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from tuner.trials.launch import die_with_parent

WORKER_START_TIMEOUT_SECONDS = 120.0


class Zygote:
    """The process that imported the preloads once and forks the slots' workers (see tuner.trials.worker).

    Shared by the launchers with the same preloads and closed with the last of them. Where it
    cannot start or dies, :meth:`worker` gives None and each launcher starts its own worker.
    """

    shared: ClassVar[dict[tuple[str, ...], Zygote]] = {}

    def __init__(self, preload: tuple[str, ...], popen: subprocess.Popen[bytes] | None, channel: socket.socket | None):
        self.preload = preload
        self.popen = popen
        self.channel = channel
        self.users = 0
        self._ready = False

    @classmethod
    def acquire(cls, preload: tuple[str, ...], *, env: Mapping[str, str], log_path: Path) -> Zygote:
        zygote = cls.shared.get(preload)
        if zygote is None or not zygote.alive():
            zygote = cls.shared[preload] = cls._start(preload, env=env, log_path=log_path.with_name("zygote.log"))
        zygote.users += 1
        return zygote

    @classmethod
    def _start(cls, preload: tuple[str, ...], *, env: Mapping[str, str], log_path: Path) -> Zygote:
        if not hasattr(os, "pidfd_open"):
            return cls(preload, None, None)  # workers it forked could not be watched: each slot starts its own
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "tuner.trials.worker", "--zygote", *preload]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_path, "ab") as log, theirs:
                popen = subprocess.Popen(
                    argv,
                    env=dict(env),
                    stdin=theirs,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, no locks
                )
        except OSError:
            ours.close()
            return cls(preload, None, None)
        return cls(preload, popen, ours)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def worker(self, *, env: Mapping[str, str], log_path: Path) -> tuple[ForkedWorker, Any, Any] | None:
        """A new worker forked from the zygote, with ``env``: the process, its stdin and its stdout (or None)."""
        if self.channel is None or not self.alive():
            return None
        stdin_read, stdin_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        try:
            if not self._ready:
                self._receive("ready", WORKER_START_TIMEOUT_SECONDS)
                self._ready = True
            log_path.parent.mkdir(parents=True, exist_ok=True)
            request = json.dumps({"env": dict(env), "log": str(log_path)}).encode()
            socket.send_fds(self.channel, [request], [stdin_read, stdout_write])
            pid = self._receive("forked", 30.0)
            pidfd = os.pidfd_open(pid)  # the zygote reaps it, never before tune closed its stdin
        except (OSError, TimeoutError, ValueError):
            for descriptor in (stdin_write, stdout_read):
                os.close(descriptor)
            return None
        finally:
            os.close(stdin_read)
            os.close(stdout_write)
        return ForkedWorker(pid, pidfd), open(stdin_write, "wb"), open(stdout_read, "rb")

    def release(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if self.shared.get(self.preload) is self:
            del self.shared[self.preload]
        if self.channel is not None:
            self.channel.close()  # the zygote reads end of file and exits
        if self.popen is not None:
            try:
                self.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def _receive(self, key: str, timeout: float) -> int:
        assert self.channel is not None
        deadline = time.monotonic() + timeout
        while True:
            readable, _, _ = select.select([self.channel], [], [], min(0.5, max(0.0, deadline - time.monotonic())))
            if readable:
                message = self.channel.recv(1 << 16)
                if not message:
                    raise OSError(f"zygote exited with status {self.popen.wait() if self.popen else None}")
                return int(json.loads(message)[key])
            if not self.alive():
                raise OSError(f"zygote exited with status {self.popen.returncode if self.popen else None}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no '{key}' from the zygote within {timeout:g} s")


class ForkedWorker:
    """A worker forked by the zygote, watched through its pidfd (tune is not its parent)."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = -9  # its status goes to the zygote; tune only needs to know it ended
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not select.select([self.pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired("tuner.trials.worker", timeout or 0.0)
        self.returncode = -9 if self.returncode is None else self.returncode
        return self.returncode

    def kill(self) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        os.close(self.pidfd)
