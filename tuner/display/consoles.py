"""The one place rich Consoles are made; everything else is handed one.

A CLI command makes its consoles once and passes them down; :func:`tuner.tune` called from Python
without a console gets :func:`message_console`. They live here, below both, because the library's
default and the CLI's must be the same console and the library may not import the CLI.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rich.console import Console

# Piped to a file or a program, a table is as wide as its columns: nothing is cut or folded.
PIPE_WIDTH = 100_000


@dataclass(frozen=True)
class Consoles:
    """A command's two outputs: ``messages`` (progress, notes, errors) on stderr, ``data`` on stdout."""

    messages: Console
    data: Console


def message_console() -> Console:
    """stderr, for progress and messages; a long line stays one line (soft wrap), as a log reader wants."""
    return Console(stderr=True, soft_wrap=True)


def data_console(output_format: str = "table") -> Console:
    """stdout, for data: a table as wide as the terminal (piped: as wide as it needs); CSV and JSON unwrapped."""
    if output_format != "table":
        return Console(soft_wrap=True)
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


def consoles(output_format: str = "table") -> Consoles:
    """The consoles of a command whose data is printed as ``output_format`` (table, csv or json)."""
    return Consoles(messages=message_console(), data=data_console(output_format))
