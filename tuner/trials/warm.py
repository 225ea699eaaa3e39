"""Warm launch: trials of a Python module forked from a worker that already imported torch.

A fresh interpreter that imports torch and builds an optimizer spends 1.7-2.2 s
before training and ~0.5 s exiting; a fork from a warm worker costs tens of
milliseconds and still gives every trial its own process. Used for the built-in
trainer and any ``python -m MODULE`` command; anything else runs as a plain
subprocess, and so does everything if a worker cannot start.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.contract import ENV_TRIAL_TOKEN
from tuner.trials.descendants import end_marked_processes
from tuner.trials.launch import TrialProcess, die_with_parent, signal_group

WORKER_START_TIMEOUT_SECONDS = 120.0


class WarmLaunchWarning(UserWarning):
    """A warm worker could not be used; trials run as plain subprocesses."""


class Launcher:
    """Starts trial processes as plain subprocesses."""

    def launch(self, argv: list[str], *, env: Mapping[str, str], log_path: Path) -> Any:
        return TrialProcess(argv, env=env, log_path=log_path)

    def close(self) -> None:
        """Release what the launcher holds (nothing, for plain subprocesses)."""


class WarmLauncher(Launcher):
    """One slot's warm worker; replaced when it dies, bypassed when it cannot start."""

    def __init__(self, module: str, *, preload: tuple[str, ...], env: Mapping[str, str], log_path: Path) -> None:
        self.module = module
        self.preload = preload
        self.env = dict(env)
        self.log_path = log_path
        self._worker: _Worker | None = None
        self._broken = False

    def start(self) -> None:
        """Start the worker now, so that its imports overlap with other work."""
        if self._worker is None and not self._broken:
            self._worker = _Worker.start(self.preload, env=self.env, log_path=self.log_path)

    def launch(self, argv: list[str], *, env: Mapping[str, str], log_path: Path) -> Any:
        module, args = split_python_module(argv) or (None, None)
        if module != self.module or self._broken:
            return super().launch(argv, env=env, log_path=log_path)
        if self._worker is not None and not self._worker.alive():
            self._worker.close()
            self._worker = None  # crashed or killed: replace it
        try:
            self.start()
            assert self._worker is not None
            return self._worker.fork(module, args, env=env, log_path=log_path)
        except (OSError, ValueError, TimeoutError, AssertionError) as error:
            self._broken = True
            warnings.warn(
                f"warm launcher unavailable ({error}); trials run as plain subprocesses (see {self.log_path})",
                WarmLaunchWarning,
                stacklevel=2,
            )
            return super().launch(argv, env=env, log_path=log_path)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None


def split_python_module(argv: list[str]) -> tuple[str, list[str]] | None:
    """``(module, args)`` when ``argv`` runs this interpreter as ``python -m module args``."""
    if len(argv) < 3 or argv[1] != "-m":
        return None
    program = argv[0]
    if os.sep not in program:
        from shutil import which

        program = which(program) or program
    try:
        same = os.path.samefile(program, sys.executable)
    except OSError:
        return None
    return (argv[2], argv[3:]) if same else None


class _Worker:
    """The worker process and its JSON-lines pipes."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self._buffer = b""
        self._exits: dict[int, int] = {}
        self._ready = False
        assert popen.stdout is not None
        fcntl.fcntl(popen.stdout, fcntl.F_SETFL, fcntl.fcntl(popen.stdout, fcntl.F_GETFL) | os.O_NONBLOCK)

    @classmethod
    def start(cls, preload: tuple[str, ...], *, env: Mapping[str, str], log_path: Path) -> _Worker:
        argv = [sys.executable, "-m", "tuner.trials.worker"]
        for module in preload:
            argv += ["--preload", module]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, no locks
            )
        return cls(popen)  # its imports run while tune goes on; fork() waits for "ready"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def fork(self, module: str, args: list[str], *, env: Mapping[str, str], log_path: Path) -> WarmTrialProcess:
        if not self._ready:
            self._expect("ready", timeout=WORKER_START_TIMEOUT_SECONDS)
            self._ready = True
        request = {"module": module, "args": args, "env": dict(env), "cwd": os.getcwd(), "log": str(log_path)}
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(request) + "\n").encode())
        self.popen.stdin.flush()
        pid = self._expect("started", timeout=30.0)
        return WarmTrialProcess(self, pid, token=env.get(ENV_TRIAL_TOKEN))

    def exit_status(self, pid: int) -> int | None:
        """The child's exit status once the worker reported it; -9 if the worker itself died."""
        self._read_messages()
        if pid in self._exits:
            return self._exits[pid]
        if not self.alive():
            return -9  # the child got SIGKILL with its worker (PR_SET_PDEATHSIG)
        return None

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            status = self.exit_status(pid)
            if status is not None or time.monotonic() >= deadline:
                return status
            select.select([self.popen.stdout], [], [], max(0.0, min(0.1, deadline - time.monotonic())))

    def fileno(self) -> int:
        assert self.popen.stdout is not None
        return self.popen.stdout.fileno()

    def close(self) -> None:
        if self.popen.stdin is not None:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        try:
            self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def _expect(self, key: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            for message in self._read_messages():
                if key in message:
                    return int(message[key])
            if not self.alive():
                raise OSError(f"worker exited with status {self.popen.returncode}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no '{key}' from the worker within {timeout:g} s")
            select.select([self.popen.stdout], [], [], min(0.5, max(0.0, deadline - time.monotonic())))

    def _read_messages(self) -> list[dict[str, Any]]:
        assert self.popen.stdout is not None
        try:
            chunk = self.popen.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        messages = [json.loads(line) for line in lines if line.strip()]
        for message in messages:
            if "exited" in message:
                self._exits[int(message["exited"])] = int(message["status"])
        return messages


class WarmTrialProcess:
    """A trial forked by a worker; the same interface as :class:`tuner.launch.TrialProcess`."""

    def __init__(self, worker: _Worker, pid: int, *, token: str | None = None) -> None:
        self.worker = worker
        self.pid = pid
        self.returncode: int | None = None
        self._token = token  # marks the trial's processes outside its group (tuner.trials.descendants)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.worker.exit_status(self.pid)
            if self.returncode is not None:
                signal_group(self.pid, signal.SIGKILL)  # leftovers of the trial's process group
                end_marked_processes(self._token)  # and those that left it
        return self.returncode

    def send(self, signum: int) -> None:
        signal_group(self.pid, signum)

    def kill(self) -> int:
        signal_group(self.pid, signal.SIGKILL)
        return self._final_status()

    def wait(self, timeout: float | None = None) -> int | None:
        return self.worker.wait_exit(self.pid, timeout if timeout is not None else 3600.0)

    def fileno(self) -> int:
        return self.worker.fileno()

    def _final_status(self) -> int:
        status = self.worker.wait_exit(self.pid, 30.0)
        self.returncode = status if status is not None else -9
        signal_group(self.pid, signal.SIGKILL)
        end_marked_processes(self._token)
        return self.returncode
