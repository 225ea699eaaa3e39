"""Shared fixtures: a tiny real trainer, configs written to tmp_path, and the CLI in-process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result

TRAINERS = Path(__file__).parent / "trainers"
WAIT_SECONDS = 120  # a deadline guards against a hang; a passing wait ends as soon as its event happens

T = TypeVar("T")

QUADRATIC_CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  epochs: std.parseInt(std.extVar('epochs')),
  sleep: std.parseJson(std.extVar('sleep')),
  trainer: { validation_metric: '+accuracy' },
} + std.parseJson(std.extVar('extra'))
"""


@pytest.fixture
def quadratic_command() -> str:
    """A --command running tests/trainers/quadratic.py (no torch; peaks at x = 3)."""
    return f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"


@pytest.fixture
def study_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """Write the quadratic config and a space into tmp_path (the working directory); return tune arguments."""
    monkeypatch.chdir(tmp_path)

    def make(space: Any = None, *, epochs: int = 3, sleep: float = 0.0, extra: dict | None = None) -> list[str]:
        (tmp_path / "quad.jsonnet").write_text(QUADRATIC_CONFIG)
        space = space if space is not None else {"x": {"type": "float", "low": 0.0, "high": 6.0}}
        (tmp_path / "space.json").write_text(json.dumps(space))
        return [
            "quad.jsonnet",
            "space.json",
            "--ext-var",
            f"epochs={epochs}",
            "--ext-var",
            f"sleep={sleep}",
            "--ext-var",
            f"extra={json.dumps(extra or {})}",
        ]

    return make


@pytest.fixture
def tune_cli() -> Callable[..., Result]:
    """Invoke the ``tune`` CLI in-process and return click's result."""
    return invoke_tune


def invoke_tune(*args: str) -> Result:
    """Run the ``tune`` CLI in-process (in the working directory) and return click's result."""
    from tuner.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def working_copy(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the project folder ``source``, made the working directory."""
    import shutil

    directory = tmp_path / "project"
    shutil.copytree(source, directory)
    monkeypatch.chdir(directory)
    return directory


def wait_for(
    condition: Callable[[], T],
    what: str,
    *,
    timeout: float = WAIT_SECONDS,
    process: subprocess.Popen[str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something true, and return that.

    ``what`` names the awaited event ("trial 0's trainer started"). Raises AssertionError naming it when
    ``timeout`` seconds pass first, or at once (with its output) when ``process``, the program expected to
    bring the event about, exits without it.
    """
    deadline = time.monotonic() + timeout
    while True:
        exited = process is not None and process.poll() is not None  # before the check: it may act, then exit
        if value := condition():
            return value
        if exited:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(
                f"waiting for {what}: the process exited (status {process.returncode}) without it;"
                f" its output:\n{output}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {what}: not the case after {timeout:g} s")
        time.sleep(0.05)
