"""Shared fixtures: a tiny real trainer, configs written to tmp_path, and the CLI in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

TRAINERS = Path(__file__).parent / "trainers"

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
            "--ext-var", f"epochs={epochs}",
            "--ext-var", f"sleep={sleep}",
            "--ext-var", f"extra={json.dumps(extra or {})}",
        ]

    return make


@pytest.fixture
def tune_cli() -> Callable[..., Result]:
    """Invoke the ``tune`` CLI in-process and return click's result."""
    from tuner.cli import main

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def working_copy(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the project folder ``source``, made the working directory."""
    import shutil

    directory = tmp_path / "project"
    shutil.copytree(source, directory)
    monkeypatch.chdir(directory)
    return directory
