"""A warm launch worker: imports torch once, then forks one child per trial.

Each child is forked ahead, while the previous trial runs, and waits for its request,
so that a freed slot does not wait for the fork (~7 ms for a process that imported torch).

Started by `tune` as ``python -m tuner.trials.worker --zygote --preload MODULE``: one process
imports torch once, warms its first-call paths on the CPU (single-threaded, never touching CUDA)
and forks one worker per slot on request (``_serve_zygote``), so that 4 or 8 slots do not each
import torch. A worker can also be started on its own (without ``--zygote``). A worker talks JSON
lines: reads ``{"module", "args", "env", "cwd", "log"}`` requests on stdin, answers
``{"started": pid}`` and, when that child ends, ``{"exited": pid, "status": code}`` (negative:
killed by that signal). A child is a fresh trial
process in all that matters: its own session and process group, its own
environment, output to its log file, new random seeds; when its module ends (returns,
``sys.exit``, an exception) it waits for its non-daemon threads and runs the ``atexit`` handlers
registered since the fork, as an interpreter would, then ends with ``os._exit``. The zygote and
the workers ignore SIGTERM and SIGINT: a scheduler that signals every process of a job (SLURM's
``scancel --signal=TERM``, a preemption's warning) must not end them under their trials; `tune`
hears the signal and ends the trials with their grace. A trial gets the default handlers back.

Never imports Optuna and never initialises CUDA: CUDA is initialised only in the trials. The
warm-up runs torch with one thread (no OpenMP thread pool exists when the workers fork, which
could deadlock the children otherwise) and, where torch was built for an accelerator, no
backward pass and no optimizer step (both ask the driver for its devices).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import runpy
import select
import signal
import socket
import sys
import traceback
from typing import Any

from tuner.trials.child_exit import exit_as_interpreter_does, forget_worker_exit_handlers
from tuner.trials.module_code import ModuleCode
from tuner.trials.torch_warm_up import use_trial_thread_count, warm_up_torch

# Modules whose import dominates a trial's start: ~2 s for torch here, ~0.85 s for torch._dynamo,
# which the first torch.optim construction imports.
BASE_PRELOAD = ("torch", "torch._dynamo", "torch.optim", "torch.nn")
BUILTIN_TRAINER_PRELOAD = ("tuner.train.cli", "tuner.train.pipeline")
# What each bundled trainer module imports before its first step (PyKEEN: ~1.5 s more).
TRAINER_PRELOADS = {
    "tuner.train": BUILTIN_TRAINER_PRELOAD,
    "tuner.pykeen_trainer": ("tuner.pykeen_trainer.cli", "pykeen.pipeline", "pykeen.datasets", "pykeen.models"),
}
_TAKEN = b"+"  # a spare's acknowledgement of its request, on the pipe that later carries its exit status
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # ignored by the zygote and the workers, not by trials
SHORT_TRIAL_SECONDS = 0.05  # a trial that ends sooner is reported before the next process is forked
_IMPORTED_TORCH = b"t"  # after the exit status: the trial imported torch, which its worker had not
_compiled: dict[str, ModuleCode | None] = {}  # trial modules by name, compiled once here for the children forked next


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tuner.trials.worker")
    parser.add_argument("--preload", action="append", default=[], help="module to import before forking")
    parser.add_argument("--zygote", action="store_true", help="fork workers on requests from the socket on stdin")
    parser.add_argument("--no-torch", action="store_true", help="import torch only once a trial has imported it")
    options = parser.parse_args()
    _die_with_parent()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # tune ends this process (end of input, or its own death)
    _preload((*options.preload,) if options.no_torch else (*BASE_PRELOAD, *options.preload))
    if options.zygote:
        _serve_zygote(socket.socket(fileno=0))
    else:
        _serve(sys.stdin.buffer, sys.stdout)


def _preload(modules: tuple[str, ...]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the trial itself will report the missing module
    warm_up_torch()
    gc.freeze()  # the objects so far are never collected: a trial's first collection does not copy their pages


def _serve(requests: Any, replies: Any) -> None:
    """The worker's loop: one trial per request line, each in a child forked ahead."""
    _reply(replies, {"ready": os.getpid()})
    spare: _Spare | None = _Spare.fork()
    unreaped: list[int] = []  # children that said their status and may still be being torn down
    for line in requests:
        child, spare = spare or _Spare.fork(), None
        while not child.hand(line):
            child = _Spare.fork()  # the spare died (killed from outside): fork one now
        _reply(replies, {"started": child.pid})
        _compile_for_next_trials(line)
        # The next trial's process is forked (~7 ms for a process that has torch mapped) while this
        # trial runs, or, for a trial that ends at once, after its end is reported, while tune
        # records it and prepares the next: so that the fork is never between a trial's end and tune.
        if not child.ends_within(SHORT_TRIAL_SECONDS):
            spare = _Spare.fork()
        # The child says its exit status just before exiting; a child that dies without saying
        # (a crash, a signal) is reported from waitpid.
        said, imported_torch = child.read_status()
        if said is not None:
            _reply(replies, {"exited": child.pid, "status": said})
            unreaped.append(child.pid)
        else:
            _, wait_status = os.waitpid(child.pid, 0)
            _reply(replies, {"exited": child.pid, "status": os.waitstatus_to_exitcode(wait_status)})
        if imported_torch and "torch" not in sys.modules:
            # Started without torch (the trainer seemed not to need it) and a trial imported it:
            # import it here once, so that the next trials do not.
            _preload(BASE_PRELOAD)
            if spare is not None:
                spare.dismiss()
            spare = None
        spare = spare or _Spare.fork()
        # A process that had torch mapped takes ~10 ms to tear down after saying its status: reaped
        # when done, never waited for.
        unreaped = [pid for pid in unreaped if os.waitpid(pid, os.WNOHANG)[0] == 0]
    for pid in unreaped:
        os.waitpid(pid, 0)
    if spare is not None:
        spare.dismiss()


def _compile_for_next_trials(line: bytes) -> None:
    """Compile the requested module here (while its trial runs), for the children forked from now on."""
    try:
        module = json.loads(line)["module"]
    except (ValueError, KeyError, TypeError):
        return  # the child reports the malformed request
    known = _compiled.get(module)
    if module not in _compiled or (known is not None and not known.is_current()):
        _compiled[module] = ModuleCode.find(module)


def _serve_zygote(channel: socket.socket) -> None:
    """Fork a worker for each request: ``{"env", "log"}`` with the worker's stdin and stdout attached."""
    channel.sendall(json.dumps({"ready": os.getpid()}).encode())
    while True:
        message, descriptors, _, _ = socket.recv_fds(channel, 1 << 20, 2)
        if not message:
            break  # tune closed the socket: the workers end with this process (PR_SET_PDEATHSIG)
        pid = os.fork()
        if pid == 0:
            channel.detach()  # fd 0 becomes the worker's stdin; the socket object must not close it
            _become_worker(json.loads(message), *descriptors)  # never returns
        for descriptor in descriptors:
            os.close(descriptor)
        channel.sendall(json.dumps({"forked": pid}).encode())
        _reap_exited()
    _reap_exited()


def _become_worker(request: dict[str, Any], stdin: int, stdout: int) -> None:
    """In a child of the zygote: a slot's worker, as if started on its own with ``request["env"]``."""
    try:
        os.setsid()
        _die_with_parent()
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
        _close_inherited_descriptors(keep=())
        os.environ.clear()
        os.environ.update(request["env"])
        _serve(sys.stdin.buffer, sys.stdout)
        code = 0
    except BaseException:  # noqa: BLE001 - never return into the zygote's loop
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _reap_exited() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


class _Spare:
    """A child forked ahead of its trial, waiting for its request on a pipe."""

    def __init__(self, pid: int, request: int, done: int) -> None:
        self.pid = pid
        self._request = request  # write end: the request goes here
        self._done = done  # read end: the exit status comes from here

    @classmethod
    def fork(cls) -> _Spare:
        request_read, request_write = os.pipe()
        done_read, done_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(request_write)
            os.close(done_read)
            _wait_for_request(request_read, done_write)  # never returns
        os.close(request_read)
        os.close(done_write)
        return cls(pid, request_write, done_read)

    def hand(self, line: bytes) -> bool:
        """Pass the trial's request on; False if the spare is gone.

        The spare acknowledges the request before it becomes the trial. A spare killed from
        outside may still hold its pipe open while the kill takes effect, and take the request
        without ever running it; without the acknowledgement its death would be the trial's.
        """
        try:
            os.write(self._request, line if line.endswith(b"\n") else line + b"\n")
        except BrokenPipeError:
            self.dismiss()
            return False
        if os.read(self._done, len(_TAKEN)) != _TAKEN:  # end of file: it died before taking the request
            self.dismiss()
            return False
        os.close(self._request)
        return True

    def ends_within(self, seconds: float) -> bool:
        """Whether the trial said its status (or died) within ``seconds``."""
        return bool(select.select([self._done], [], [], seconds)[0])

    def read_status(self) -> tuple[int | None, bool]:
        """The exit status the trial said (None if it died without saying), and whether it imported torch."""
        said = os.read(self._done, 32)
        os.close(self._done)
        return (int(said.rstrip(_IMPORTED_TORCH)) if said else None), said.endswith(_IMPORTED_TORCH)

    def dismiss(self) -> None:
        """Close the spare's pipes and reap it: a live spare reads end-of-file and exits."""
        os.close(self._request)
        os.close(self._done)
        os.waitpid(self.pid, 0)


def _wait_for_request(request: int, done: int) -> None:
    """In a spare child: become a trial's process ahead of time, then wait for the trial."""
    try:
        os.setsid()
        _die_with_parent()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)  # not the worker's pipes: only the worker talks to tune
        os.dup2(null, 1)
        _close_inherited_descriptors(keep=(request, done))
        _reseed()
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(request, 1 << 16)
            if not chunk:
                os._exit(0)  # dismissed
            line += chunk
        os.close(request)
        os.write(done, _TAKEN)  # see _Spare.hand
        _run_child(json.loads(line), done)
    except BaseException:  # noqa: BLE001 - never return into the worker's loop
        traceback.print_exc()
        os._exit(1)


def _run_child(request: dict[str, Any], done: int) -> None:
    code = 1
    exit_now = os._exit
    leader = os.getpid()
    had_torch = "torch" in sys.modules

    def exit_saying_so(status: int) -> None:
        # Trainers end with os._exit (tuner.train does); say the status on the way out. Only the
        # trial's own process speaks: forked helpers (data-loader workers) inherit this function.
        if os.getpid() == leader:
            sys.stdout.flush()
            sys.stderr.flush()
            said = str(int(status)).encode() + (_IMPORTED_TORCH if "torch" in sys.modules and not had_torch else b"")
            try:
                os.write(done, said)
            except OSError:
                pass
        exit_now(status)

    os._exit = exit_saying_so
    try:
        _become_trial(request)
        try:
            compiled = _compiled.get(request["module"])
            if compiled is not None and compiled.is_current():
                compiled.run_as_main()
            else:
                runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit_request:
            code = _exit_code(exit_request.code)
    except BaseException:  # noqa: BLE001 - the child reports everything to its log and exits
        traceback.print_exc()
        code = 1
    finally:
        exit_as_interpreter_does()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _become_trial(request: dict[str, Any]) -> None:
    """The trial's output, working directory, environment, thread count, exit handlers and argv."""
    _redirect_output(request["log"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt, as in a fresh interpreter
    os.chdir(request["cwd"])
    _replace_environment(request["env"])
    use_trial_thread_count()
    forget_worker_exit_handlers()
    sys.argv = [request["module"], *request["args"]]


def _replace_environment(env: dict[str, str]) -> None:
    """Make ``os.environ`` exactly ``env``, touching only what differs (most of it is the worker's already)."""
    for key in [key for key in os.environ if key not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _redirect_output(log_path: str) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    # The trial's streams for the rest of its life: never closed, the process ends with os._exit.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _reseed() -> None:
    """Give the child its own random state: forked children would otherwise share the worker's."""
    seed = int.from_bytes(os.urandom(8), "little")
    random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed % (2**63))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % (2**32))


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _reply(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _close_inherited_descriptors(*, keep: tuple[int, ...]) -> None:
    """Close everything but 0-2 and ``keep``: files and sockets the worker held must not leak into trials."""
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except FileNotFoundError:
        descriptors = list(range(3, 256))
    for descriptor in descriptors:
        if descriptor > 2 and descriptor not in keep:
            try:
                os.close(descriptor)
            except OSError:
                pass


if __name__ == "__main__":
    main()
