"""Warm launch: trials of a Python module forked from a worker that already imported torch.

A fresh interpreter that imports torch and builds an optimizer spends 1.7-2.2 s
before training and ~0.5 s exiting; a fork from a warm worker costs tens of
milliseconds and still gives every trial its own process. Used for the built-in
trainer and any ``python -m MODULE`` command; anything else runs as a plain
subprocess, and so does everything if a worker cannot start.

The slots' workers are forked from one zygote, a process that imported torch once (4 or 8
slots would otherwise import it 4 or 8 times at once); a worker the zygote cannot give is
started on its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

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
        self._zygote: _Zygote | None = None
        self._broken = False

    def start(self) -> None:
        """Start the zygote now (its imports overlap with other work); the worker is forked from it when needed."""
        if self._zygote is None and not self._broken:
            self._zygote = _Zygote.acquire(self.preload, env=self.env, log_path=self.log_path)

    def launch(self, argv: list[str], *, env: Mapping[str, str], log_path: Path) -> Any:
        module, args = split_python_module(argv) or (None, None)
        if module != self.module or self._broken:
            return super().launch(argv, env=env, log_path=log_path)
        if self._worker is not None and not self._worker.alive():
            self._worker.close()
            self._worker = None  # crashed or killed: replace it
        try:
            return self._started_worker().fork(module, args, env=env, log_path=log_path)
        except (OSError, ValueError, TimeoutError) as error:
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
        if self._zygote is not None:
            self._zygote.release()
            self._zygote = None

    def _started_worker(self) -> _Worker:
        if self._worker is None:
            self.start()
            assert self._zygote is not None
            self._worker = self._zygote.worker(env=self.env, log_path=self.log_path)
            if self._worker is None:  # no zygote: a worker of its own, as before
                self._worker = _Worker.start(self.preload, env=self.env, log_path=self.log_path)
        return self._worker


class _Zygote:
    """The process that imported the preloads once and forks the slots' workers (see tuner.trials.worker).

    Shared by the launchers with the same preloads and closed with the last of them. Where it
    cannot start or dies, :meth:`worker` gives None and each launcher starts its own worker.
    """

    _shared: ClassVar[dict[tuple[str, ...], _Zygote]] = {}

    def __init__(self, preload: tuple[str, ...], popen: subprocess.Popen[bytes] | None, channel: socket.socket | None):
        self.preload = preload
        self.popen = popen
        self.channel = channel
        self.users = 0
        self._ready = False

    @classmethod
    def acquire(cls, preload: tuple[str, ...], *, env: Mapping[str, str], log_path: Path) -> _Zygote:
        zygote = cls._shared.get(preload)
        if zygote is None or not zygote.alive():
            zygote = cls._shared[preload] = cls._start(preload, env=env, log_path=log_path.with_name("zygote.log"))
        zygote.users += 1
        return zygote

    @classmethod
    def _start(cls, preload: tuple[str, ...], *, env: Mapping[str, str], log_path: Path) -> _Zygote:
        if not hasattr(os, "pidfd_open"):
            return cls(preload, None, None)  # workers it forked could not be watched: each slot starts its own
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "tuner.trials.worker", "--zygote"]
        for module in preload:
            argv += ["--preload", module]
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

    def worker(self, *, env: Mapping[str, str], log_path: Path) -> _Worker | None:
        """A new worker forked from the zygote, with ``env``; None if the zygote cannot give one."""
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
        return _Worker(_ForkedWorker(pid, pidfd), open(stdin_write, "wb"), open(stdout_read, "rb"))

    def release(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if self._shared.get(self.preload) is self:
            del self._shared[self.preload]
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


class _ForkedWorker:
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

    def __init__(self, popen: subprocess.Popen[bytes] | _ForkedWorker, stdin: Any = None, stdout: Any = None) -> None:
        self.popen = popen
        self.stdin = stdin if stdin is not None else popen.stdin
        self.stdout = stdout if stdout is not None else popen.stdout
        self._buffer = b""
        self._exits: dict[int, int] = {}
        self._ready = False
        assert self.stdout is not None
        fcntl.fcntl(self.stdout, fcntl.F_SETFL, fcntl.fcntl(self.stdout, fcntl.F_GETFL) | os.O_NONBLOCK)

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
        self.stdin.write((json.dumps(request) + "\n").encode())
        self.stdin.flush()
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
            select.select([self.stdout], [], [], max(0.0, min(0.1, deadline - time.monotonic())))

    def fileno(self) -> int:
        return self.stdout.fileno()

    def close(self) -> None:
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.stdout.close()
        if isinstance(self.popen, _ForkedWorker):
            self.popen.close()

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
            select.select([self.stdout], [], [], min(0.5, max(0.0, deadline - time.monotonic())))

    def _read_messages(self) -> list[dict[str, Any]]:
        try:
            chunk = self.stdout.read()
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
