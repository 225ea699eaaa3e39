"""`tune show-trials` prints its table as it did before the fast layout (tuner.display.plain_table):
the expectations were captured from the rich-Table implementation, piped and on terminals of three widths
(a long reason folded, columns left out, the table cut at a terminal narrower than its first columns)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.display.small_study import make_small_study
from tests.display.terminal import run_on_terminal

EXPECTED = Path(__file__).parent / "expected"


@pytest.fixture(scope="module")
def show_trials(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    url = make_small_study(tmp_path_factory.mktemp("table") / "tune.db")
    return [sys.executable, "-m", "tuner", "show-trials", "--storage", url]


def test_piped_the_table_is_the_same_plain_text(show_trials):
    done = subprocess.run(show_trials, capture_output=True, text=True, check=True, env=os.environ)
    assert done.stdout == (EXPECTED / "small_piped.txt").read_text()
    assert "\x1b[" not in done.stdout


@pytest.mark.parametrize("columns", [140, 72, 30])
def test_on_a_terminal_the_table_has_the_same_colours_and_layout(show_trials, columns):
    shown = run_on_terminal(show_trials, columns, dict(os.environ))
    assert shown == (EXPECTED / f"small_terminal_{columns}.txt").read_text()
    assert "\x1b[32mcomplete\x1b[0m" in shown and "\x1b[31mfail    \x1b[0m" in shown
