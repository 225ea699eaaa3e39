"""Trial processes: build the command line, start it in its own process group, end it.

Commands are argument lists, split like a shell would but never run through one,
so no sampled value can inject anything.
"""

from __future__ import annotations

import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.contract import ENV_TRIAL_TOKEN
from tuner.errors import OptionError
from tuner.trials.descendants import PidWindow, end_marked_processes
from tuner.trials.params_env import PLACEHOLDER, command_value, substitute

PLACEHOLDERS = ("{config}", "{serialization_dir}", "{trial_number}", "{gpus}", "{n_gpus}", "{resume}")
GPU_PLACEHOLDERS = ("{gpus}", "{n_gpus}")
DEFAULT_COMMAND = "{python} -m tuner.train {config} -s {serialization_dir}"
# Ctrl-C, SIGTERM (a scheduler preempting tune): time for trainers to write a checkpoint (--grace).
TERMINATE_GRACE_SECONDS = 30.0
# A pruned or timed-out trial is not resumed: its checkpoint is of no use, so it gets no more than this.
ENDING_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class CommandTemplate:
    """A training command with placeholders: ``{config}``, ``{serialization_dir}``, ``{trial_number}``,
    the slot's ``{gpus}`` (its CUDA_VISIBLE_DEVICES) and ``{n_gpus}``, and ``{resume}`` (see :meth:`render`)."""

    argv: tuple[str, ...]

    @classmethod
    def parse(cls, text: str | None, parameters: Sequence[str] = ()) -> CommandTemplate:
        """Split ``text`` (None: the built-in trainer) and check that its program exists.

        ``parameters``: the search space's names, each a placeholder too (tuner.trials.params_env).
        """
        source = DEFAULT_COMMAND if text is None else text
        try:
            argv = tuple(shlex.split(source))
        except ValueError as error:
            raise OptionError(f"--command {text!r} cannot be split into arguments: {error}") from None
        if not argv:
            raise OptionError("--command is empty; give the training program and its arguments")
        template = cls(argv)
        template._check_placeholders(text or "", parameters)
        template._check_program()
        return template

    @property
    def is_default(self) -> bool:
        return " ".join(self.argv) == DEFAULT_COMMAND

    def uses(self, placeholder: str) -> bool:
        """Whether some argument holds ``placeholder``."""
        return any(placeholder in argument for argument in self.argv)

    def for_slot(self, gpus: tuple[str, ...]) -> CommandTemplate:
        """This command with a slot's ``{gpus}`` (comma list) and ``{n_gpus}`` filled in."""
        if not any(self.uses(placeholder) for placeholder in GPU_PLACEHOLDERS):
            return self
        values = {"{gpus}": ",".join(gpus), "{n_gpus}": str(len(gpus))}
        return CommandTemplate(tuple(_substitute(argument, values) for argument in self.argv))

    def render(
        self,
        *,
        config: Path,
        serialization_dir: Path,
        trial_number: int,
        resume: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """The argument list for one trial, with the sampled ``params`` in their placeholders.

        An argument that is exactly ``{resume}`` becomes ``--resume`` on a resumed launch and is
        dropped otherwise; inside a longer argument (``--resume={resume}``) it is ``1`` or ``0``.
        """
        values = {
            "python": sys.executable,
            "config": str(config),
            "serialization_dir": str(serialization_dir),
            "trial_number": str(trial_number),
            "resume": "1" if resume else "0",
        }
        sampled = {name: command_value(value) for name, value in (params or {}).items() if name not in values}
        argv: list[str] = []
        for argument in self.argv:
            if argument == "{resume}":
                argv.extend(["--resume"] if resume else [])
            else:
                argv.append(argument)
        return substitute(argv, {**sampled, **values})

    def _check_placeholders(self, text: str, parameters: Sequence[str] = ()) -> None:
        known = {*PLACEHOLDERS, "{python}"}
        found = {match.group(0) for argument in self.argv for match in PLACEHOLDER.finditer(argument)}
        taken = sorted(found & known & {f"{{{name}}}" for name in parameters})
        if taken:
            raise OptionError(
                f"--command {text!r}: {taken[0]} is both a built-in placeholder and a parameter of the search space; "
                "rename the parameter"
            )
        unknown = sorted(found - known - {f"{{{name}}}" for name in parameters})
        if unknown:
            names = ", ".join(f"{{{name}}}" for name in parameters[:5]) + (", ..." if len(parameters) > 5 else "")
            params = f", or a parameter of the search space ({names})" if parameters else ""
            raise OptionError(
                f"--command {text!r}: unknown placeholder {', '.join(unknown)}; use {', '.join(PLACEHOLDERS)}{params}"
            )

    def _check_program(self) -> None:
        program = self.argv[0]
        if program == "{python}":
            return
        if os.sep in program:
            if not os.access(program, os.X_OK) or os.path.isdir(program):
                raise OptionError(f"--command: program '{program}' does not exist or is not executable")
        elif shutil.which(program) is None:
            raise OptionError(f"--command: program '{program}' was not found on PATH")


def _substitute(argument: str, values: Mapping[str, str]) -> str:
    for placeholder, value in values.items():
        argument = argument.replace(placeholder, value)
    return argument


class TrialProcess:
    """One trial's process, leader of its own process group; output goes to a log file."""

    def __init__(self, argv: list[str], *, env: Mapping[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self._window = PidWindow()  # every process of the trial gets its id after this
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, no locks taken
            )
        self.pid = self.popen.pid
        self._pidfd = _open_pidfd(self.pid)
        self._token = env.get(ENV_TRIAL_TOKEN)

    def poll(self) -> int | None:
        """The exit status once the leader has exited (negative: killed by that signal)."""
        status = self.popen.poll()
        if status is not None:
            self._reap_group()
        return status

    def send(self, signum: int) -> None:
        """Send ``signum`` to the whole process group, without waiting."""
        signal_group(self.pid, signum)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, waiting up to ``timeout`` seconds; None if still running then."""
        try:
            status = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reap_group()
        return status

    def kill(self) -> int:
        """SIGKILL the whole group at once."""
        signal_group(self.pid, signal.SIGKILL)
        status = self.popen.wait()
        self._reap_group()
        return status

    def fileno(self) -> int:
        """A descriptor that becomes readable when the process exits (for ``select``)."""
        return self._pidfd if self._pidfd is not None else -1

    def _reap_group(self) -> None:
        # Children the trainer left behind (data-loader workers, say) must not outlive the trial,
        # nor those that left its process group (daemons).
        signal_group(self.pid, signal.SIGKILL)
        end_marked_processes(self._token, group=self.pid, window=self._window)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def terminate_all(processes: Iterable[Any], grace: float = TERMINATE_GRACE_SECONDS) -> None:
    """SIGTERM every group at once, then SIGKILL what is left after ``grace`` seconds."""
    processes = list(processes)
    for process in processes:
        signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        process.kill()


def wait_for_exit(processes: Iterable[Any], timeout: float) -> None:
    """Sleep up to ``timeout`` seconds, waking early when one of ``processes`` exits."""
    descriptors = [process.fileno() for process in processes]
    if descriptors and all(descriptor >= 0 for descriptor in descriptors):
        select.select(descriptors, [], [], timeout)
    else:
        time.sleep(min(timeout, 0.01))


def die_with_parent() -> None:
    """In the child before exec: get SIGKILL if `tune` dies (Linux), so no trial outlives it.

    Only the trial's leader gets it; anything it starts stays in its process group,
    which `tune` ends as a whole, or a later run finds and ends (see the stale-trial recovery).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _load_prctl() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PR_SET_PDEATHSIG = 1
_PRCTL = _load_prctl()


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # pidfds need Linux 5.3; callers fall back to short sleeps


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
