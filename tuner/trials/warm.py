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
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.contract import ENV_TRIAL_TOKEN
from tuner.trials.descendants import PidWindow, end_marked_processes
from tuner.trials.launch import CommandTemplate, TrialProcess, die_with_parent, signal_group
from tuner.trials.preloads import framework_preloads, top_level_imports
from tuner.trials.slots import Slot
from tuner.trials.worker import TRAINER_PRELOADS
from tuner.trials.zygote import WORKER_START_TIMEOUT_SECONDS, ForkedWorker, Zygote

LIGHT_PACKAGES = frozenset({*sys.stdlib_module_names, "__future__"})


class WarmLaunchWarning(UserWarning):
    """A warm worker could not be used; trials run as plain subprocesses."""


class Launcher:
    """Starts trial processes as plain subprocesses.

    ``in_own_folder`` (``--trial-cwd trial``): each trial runs in its folder (that of its log), with
    tune's working directory first on ``PYTHONPATH`` so that ``-m my_pkg.train`` is found as before.
    """

    def __init__(self, *, in_own_folder: bool = False) -> None:
        self.in_own_folder = in_own_folder

    def launch(self, argv: list[str], *, env: Mapping[str, str], log_path: Path) -> Any:
        env, cwd = self._placed(env, log_path)
        return TrialProcess(argv, env=env, log_path=log_path, cwd=cwd)

    def _placed(self, env: Mapping[str, str], log_path: Path) -> tuple[dict[str, str], Path | None]:
        """The trial's environment and working directory (None: tune's)."""
        if not self.in_own_folder:
            return dict(env), None
        python_path = os.pathsep.join(filter(None, (os.getcwd(), env.get("PYTHONPATH"))))
        return {**env, "PYTHONPATH": python_path}, log_path.parent

    def close(self) -> None:
        """Release what the launcher holds (nothing, for plain subprocesses)."""


class WarmLauncher(Launcher):
    """One slot's warm worker; replaced when it dies, bypassed when it cannot start."""

    def __init__(
        self,
        module: str,
        *,
        preload: tuple[str, ...],
        env: Mapping[str, str],
        log_path: Path,
        in_own_folder: bool = False,
    ) -> None:
        super().__init__(in_own_folder=in_own_folder)
        self.module = module
        self.preload = tuple(dict.fromkeys((*preload, *framework_preloads(module))))
        self.env = dict(env)
        self.log_path = log_path
        self._worker: _Worker | None = None
        self._zygote: Zygote | None = None
        self._broken = False

    def start(self) -> None:
        """Start the zygote now (its imports overlap with other work); the worker is forked from it when needed."""
        if self._zygote is None and not self._broken:
            self._zygote = Zygote.acquire(self._preload_argv(), env=self.env, log_path=self.log_path)

    def _preload_argv(self) -> tuple[str, ...]:
        """The worker's options: what to import before forking (torch unless the trainer seems not to use it)."""
        options = tuple(item for module in self.preload for item in ("--preload", module))
        return options if self.preload or likely_uses_torch(self.module) else (*options, "--no-torch")

    def launch(self, argv: list[str], *, env: Mapping[str, str], log_path: Path) -> Any:
        module, args = split_python_module(argv) or (None, None)
        if module != self.module or self._broken:
            return super().launch(argv, env=env, log_path=log_path)
        if self._worker is not None and not self._worker.alive():
            self._worker.close()
            self._worker = None  # crashed or killed: replace it
        try:
            placed_env, cwd = self._placed(env, log_path)
            return self._started_worker().fork(module, args, env=placed_env, log_path=log_path, cwd=cwd)
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
            forked = self._zygote.worker(env=self.env, log_path=self.log_path)
            self._worker = _Worker(*forked) if forked is not None else None
            if self._worker is None:  # no zygote: a worker of its own, as before
                self._worker = _Worker.start(self._preload_argv(), env=self.env, log_path=self.log_path)
        return self._worker


def make_launcher(
    template: CommandTemplate,
    slot: Slot,
    warm_launch: bool,
    base_env: Mapping[str, str],
    serialization_dir: Path,
    preload: Sequence[str] = (),
    *,
    own_folder: bool = False,
) -> Launcher:
    """A slot's launcher: warm for a ``python -m`` command (with ``warm_launch``), plain otherwise.

    A warm worker imports what the bundled trainer needs, ``preload`` (``--preload``) and the
    framework the trainer module imports (tuner.trials.preloads).
    """
    probe = template.render(config=Path("config.json"), serialization_dir=Path("."), trial_number=0)
    python_module = split_python_module(probe) if warm_launch else None
    if python_module is None:
        return Launcher(in_own_folder=own_folder)
    module = python_module[0]
    return WarmLauncher(
        module,
        preload=(*TRAINER_PRELOADS.get(module, ()), *preload),
        env={**base_env, **slot.env},
        log_path=serialization_dir / ".workers" / f"{slot.label}.log",
        in_own_folder=own_folder,
    )


def likely_uses_torch(module: str) -> bool:
    """Whether ``module`` imports torch or any other non-standard package at its top level (read, not run).

    A trainer that imports only the standard library and tuner up front (a script that imports torch
    only on some paths, or none at all) starts without torch in its worker: its first trials do not
    wait for torch's import; the worker imports torch after the first trial that did.
    """
    names = top_level_imports(module)
    if names is None:
        return True  # not found where a trial would find it, or not Python source: as if it did
    return any(name.split(".")[0] not in LIGHT_PACKAGES and name not in ("tuner", "tuner.contract") for name in names)


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

    def __init__(self, popen: subprocess.Popen[bytes] | ForkedWorker, stdin: Any = None, stdout: Any = None) -> None:
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
        argv = [sys.executable, "-m", "tuner.trials.worker", *preload]
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

    def fork(
        self, module: str, args: list[str], *, env: Mapping[str, str], log_path: Path, cwd: Path | None = None
    ) -> WarmTrialProcess:
        if not self._ready:
            self._expect("ready", timeout=WORKER_START_TIMEOUT_SECONDS)
            self._ready = True
        cwd = cwd or Path.cwd()
        request = {"module": module, "args": args, "env": dict(env), "cwd": str(cwd), "log": str(log_path)}
        window = PidWindow()  # the trial's own processes get their ids after this (its leader is forked ahead)
        self.stdin.write((json.dumps(request) + "\n").encode())
        self.stdin.flush()
        pid = self._expect("started", timeout=30.0)
        return WarmTrialProcess(self, pid, token=env.get(ENV_TRIAL_TOKEN), window=window)

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
        if isinstance(self.popen, ForkedWorker):
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

    def __init__(self, worker: _Worker, pid: int, *, token: str | None = None, window: PidWindow | None = None) -> None:
        self.worker = worker
        self.pid = pid
        self.returncode: int | None = None
        self._token = token  # marks the trial's processes outside its group (tuner.trials.descendants)
        self._window = window

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.worker.exit_status(self.pid)
            if self.returncode is not None:
                signal_group(self.pid, signal.SIGKILL)  # leftovers of the trial's process group
                end_marked_processes(self._token, group=self.pid, window=self._window)  # and those that left it
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
        end_marked_processes(self._token, group=self.pid, window=self._window)
        return self.returncode
