"""Run a command with its stdout on a pseudo-terminal of a given size, as a user's terminal shows it."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
from collections.abc import Sequence


def run_on_terminal(argv: Sequence[str], columns: int, env: dict[str, str], cwd: str | None = None) -> str:
    """The command's stdout as a terminal of ``columns`` columns receives it (colours included, newlines as ``\\n``)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = {key: value for key, value in env.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    environment.update(TERM="xterm-256color")
    environment.pop("FORCE_COLOR", None)
    process = subprocess.Popen(
        list(argv), stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=environment, cwd=cwd
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert process.wait() == 0, stderr
    return b"".join(chunks).decode().replace("\r\n", "\n")
