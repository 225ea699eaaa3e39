"""What ``tune slurm`` asks SLURM for: the time limit, extra sbatch options, the storage the workers share.

Everything here is checked before anything is submitted; a mistake is one :class:`OptionError` line.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Iterable

from tuner.errors import OptionError
from tuner.study.storage import describe_storage

# sbatch's own forms of --time that name hours, minutes and seconds: HH:MM:SS, D-HH:MM:SS.
_TIME = re.compile(r"(?:(?P<days>\d+)-)?(?P<hours>\d+):(?P<minutes>[0-5]\d):(?P<seconds>[0-5]\d)")
_KEY = re.compile(r"[a-z][a-z0-9_-]*")
# sbatch options that tune slurm sets itself, and the option (or reason) to use instead.
RESERVED_SBATCH = {
    "array": "--workers",
    "time": "--time",
    "partition": "--partition",
    "gpus-per-node": "--gpus-per-worker",
    "signal": "tune sends SIGTERM --grace + 30 s before the time limit (see docs/slurm.md)",
    "output": "the logs go to the results folder's slurm/",
    "error": "the logs go to the results folder's slurm/",
    "open-mode": "the logs are appended to",
    "wrap": "each task runs `tune run`",
}
# Seconds before the time limit, on top of --grace, that SIGTERM comes: tune records the interrupted trials
# and exits in them.
SIGNAL_MARGIN_SECONDS = 30


def parse_time(text: str) -> int:
    """``--time HH:MM:SS`` (or ``D-HH:MM:SS``) as seconds; anything else is refused."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise OptionError(f"--time takes HH:MM:SS (or D-HH:MM:SS), got {text!r}")
    days, hours, minutes, seconds = (int(match[name] or 0) for name in ("days", "hours", "minutes", "seconds"))
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise OptionError(f"--time must be above 00:00:00, got {text!r}")
    return total


def parse_sbatch_options(pairs: Iterable[str]) -> dict[str, str | bool]:
    """``--slurm KEY=VALUE`` pairs as submitit's ``additional_parameters``: sbatch's long option names
    (``qos=high`` is ``--qos=high``), ``KEY=`` for a flag (``exclusive=`` is ``--exclusive``)."""
    options: dict[str, str | bool] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip().removeprefix("--")
        if not separator or not _KEY.fullmatch(key):
            raise OptionError(
                f"--slurm takes KEY=VALUE with KEY an sbatch option's long name (qos=high, mem=16G; "
                f"KEY= for a flag such as exclusive=), got {pair!r}"
            )
        dashed = key.replace("_", "-")
        if dashed in RESERVED_SBATCH:
            raise OptionError(f"--slurm {pair}: tune slurm sets --{dashed} itself; use {RESERVED_SBATCH[dashed]}")
        # submitit writes its own parameters with underscores turned into dashes: one spelling, so that
        # ``job-name`` replaces its default instead of adding a second --job-name line.
        options[key.replace("-", "_")] = value if value else True
    return options


def check_shared_storage(url: str) -> None:
    """Refuse a SQLite storage: the workers run on several nodes, and SQLite is not safe on network file systems."""
    if url.startswith("sqlite"):
        raise OptionError(
            f"tune slurm cannot use {describe_storage(url)}: SQLite is not safe on the network file systems that "
            "SLURM's nodes share; use PostgreSQL (--storage postgresql://user:password@host/db) or a journal file "
            "on a shared file system (--storage journal:/shared/tune.log)"
        )


def signal_option(grace: float) -> str:
    """sbatch's ``--signal``: SIGTERM to every process of the task, in time for ``--grace`` and the records."""
    return f"TERM@{math.ceil(grace) + SIGNAL_MARGIN_SECONDS}"


def kill_wait_seconds() -> int | None:
    """The cluster's KillWait (seconds between a cancel's or preemption's SIGTERM and its SIGKILL); None if unknown."""
    if shutil.which("scontrol") is None:
        return None
    try:
        output = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^KillWait\s*=\s*(\d+)", output, re.MULTILINE)
    return int(match[1]) if match else None


def grace_warning(grace: float, kill_wait: int | None) -> str | None:
    """A warning when a cancelled or preempted task's tune is killed before it can record its trials."""
    if kill_wait is None or grace + 5 < kill_wait:
        return None
    return (
        f"--grace {grace:g} s is not below the cluster's KillWait ({kill_wait} s): a cancelled or preempted task's "
        f"tune is killed before it records its interrupted trials (the next worker then recovers them by their "
        f"heartbeat); pass --grace {max(1, kill_wait - 10)} or less"
    )
