"""A trial folder's files: the trainer's last error line, epoch lines once each, torn lines, old folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuner import contract

ERROR_LINE_CHARS = 300  # of the trainer's last error line, carried in a crash reason


def last_error_line(log: str) -> str | None:
    """The line of a trial's output that says why it ended: the last ``error: ...`` line
    (``error:`` dropped), else the last non-blank line (a traceback's exception line)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if not lines:
        return None
    marked = [line for line in lines if line.lower().startswith("error:") or ": error:" in line.lower()]
    line = marked[-1] if marked else lines[-1]
    line = line[line.lower().index("error:") + len("error:") :].strip() if marked else line
    return line if len(line) <= ERROR_LINE_CHARS else line[: ERROR_LINE_CHARS - 3] + "..."


def latest_per_epoch(epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The epoch lines with each epoch once, as its last line has it: a resumed trainer that started over
    ran the first epochs again."""
    latest: dict[Any, dict[str, Any]] = {}
    for index, line in enumerate(epochs):
        key = line.get(contract.EPOCH_KEY, ("line", index))
        latest.pop(key, None)  # a repeated epoch moves to where it was run last
        latest[key] = line
    return list(latest.values())


def drop_torn_line(path: Path) -> None:
    """Cut a last line without its newline (a writer killed mid-line) off the end of ``path``."""
    try:
        with open(path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def move_aside(directory: Path) -> Path:
    """Rename ``directory`` to the first free ``<name>.old-<k>`` next to it."""
    index = 1
    while directory.with_name(f"{directory.name}.old-{index}").exists():
        index += 1
    target = directory.with_name(f"{directory.name}.old-{index}")
    directory.rename(target)
    return target
