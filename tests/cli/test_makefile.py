"""The Makefile's set-up: torch from the ordinary index by default, from TORCH_INDEX when given."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _install_commands(tmp_path: Path, *variables: str) -> list[str]:
    """The commands `make install` would run into a fresh virtual environment under tmp_path."""
    out = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "install", f"VENV={tmp_path / 'venv'}", *variables],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "pip install" in line]


def test_torch_comes_from_the_ordinary_index_by_default(tmp_path: Path) -> None:
    torch_line = _install_commands(tmp_path)[0]
    assert "torch==2.13.0" in torch_line
    assert "--index-url" not in torch_line


def test_torch_index_sends_only_torch_to_that_index(tmp_path: Path) -> None:
    lines = _install_commands(tmp_path, "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert lines[0].endswith("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    assert all("--index-url" not in line for line in lines[1:])
