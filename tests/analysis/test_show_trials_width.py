"""`tune show-trials` fits the terminal: whole cells for number, state, value, duration; the rest as room allows."""

from __future__ import annotations

import fcntl
import io
import itertools
import os
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from rich.cells import cell_len
from rich.console import Console

from tests.analysis.analysis_studies import DISTRIBUTIONS, make_study
from tuner.analysis.results import trial_rows
from tuner.cli import main
from tuner.display.trials import render_trials

ROOT = Path(__file__).resolve().parents[2]
LONG_REASON = "crashed (exit code 2): trainer.cuda_device: GPU 0 requested but 0 visible; use -1 for CPU or null"
FAIL = TrialState.FAIL
ALL_COLUMNS = ["x", "y", "units", "act", "epochs", "pruned at", "slot", "reason"]


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    monkeypatch.chdir(tmp_path)
    study = make_study("sqlite:///tune.db", tmp_path / "results", n_complete=6, n_pruned=2, n_failed=1)
    params = {"x": 0.5, "y": 0.01, "units": 16, "act": "relu"}
    attrs = {"reason": LONG_REASON, "launch": {"slot": "job0"}}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, user_attrs=attrs, state=FAIL))
    return study


def table_at(study: optuna.Study, width: int) -> list[str]:
    buffer = io.StringIO()
    render_trials(trial_rows(study), "table", Console(file=buffer, width=width))
    return buffer.getvalue().splitlines()


def header(lines: list[str]) -> list[str]:
    return [cell.strip() for cell in next(line for line in lines if "state" in line).strip("┃").split("┃")]


def body(lines: list[str]) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")]


def footer_names(lines: list[str]) -> list[str]:
    text = " ".join(lines[lines.index(next(line for line in lines if line.startswith("└"))) + 1 :])
    pattern = r"\+ \d+ columns? not shown: (.*); use --format csv or a wider terminal"
    match = re.fullmatch(pattern, " ".join(text.split()))
    assert match, text
    return match.group(1).split(", ")


@pytest.mark.parametrize("width", [80, 120])
def test_table_keeps_number_state_value_and_duration_whole_at_terminal_widths(study, width):
    lines = table_at(study, width)
    assert all(cell_len(line) <= width for line in lines)
    assert header(lines)[:4] == ["#", "state", "value", "duration"]
    rows = body(lines)
    by_number = {trial.number: trial for trial in study.trials}
    numbers = [int(row[0]) for row in rows if row[0]]
    assert numbers == sorted(by_number)  # every trial's number shows, whole
    for row in rows:
        if row[0]:
            assert row[1] == by_number[int(row[0])].state.name.lower()
    assert "…" not in "".join(lines)
    assert all(cell for row in rows if row[0] for cell in row[:4])


@pytest.mark.parametrize("width", [80, 120])
def test_columns_left_out_for_width_are_named_in_a_footer(study, width):
    lines = table_at(study, width)
    shown = header(lines)[4:]
    left_out = footer_names(lines)
    assert sorted(shown + left_out) == sorted(ALL_COLUMNS)
    assert shown and shown[0] == "x"  # parameters come first


def test_reason_folds_into_the_room_left_instead_of_being_cut(study):
    lines = table_at(study, 150)
    assert "reason" in header(lines)
    reason_column = header(lines).index("reason")
    rows = body(lines)
    start = next(index for index, row in enumerate(rows) if row[0] == str(len(study.trials) - 1))
    own = [rows[start]] + list(itertools.takewhile(lambda row: not row[0], rows[start + 1 :]))
    assert len(own) > 1  # folded onto several lines
    assert " ".join(" ".join(row[reason_column] for row in own).split()) == LONG_REASON


def test_a_column_no_trial_has_a_value_for_is_not_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = make_study("sqlite:///tune.db", tmp_path / "results", n_complete=4, n_pruned=0, n_failed=0)
    names = header(table_at(study, 200))
    assert "pruned at" not in names and "reason" not in names and "slot" in names


def test_piped_show_trials_has_every_column(study):
    result = CliRunner().invoke(main, ["show-trials"], catch_exceptions=False)
    lines = result.output.splitlines()
    assert header(lines) == ["#", "state", "value", "duration", *ALL_COLUMNS]
    assert "not shown" not in result.output
    assert LONG_REASON in result.output


def run_in_terminal(argv: list[str], columns: int, cwd: Path) -> str:
    """Run ``argv`` with a pseudo-terminal of ``columns`` as its stdout; return what it wrote."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm", NO_COLOR="1")
    process = subprocess.Popen(argv, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    os.close(follower)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is done
                break
            if not data:
                break
            output += data
    finally:
        process.kill() if process.poll() is None else None
        process.wait()
        os.close(leader)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode("utf-8", "replace")).replace("\r", "")


def test_show_trials_in_an_80_column_terminal_fits_and_names_the_rest(study, tmp_path):
    text = run_in_terminal([sys.executable, "-m", "tuner", "show-trials"], 80, tmp_path)
    lines = text.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), text
    assert header(lines)[:4] == ["#", "state", "value", "duration"]
    assert [int(row[0]) for row in body(lines) if row[0]] == list(range(len(study.trials)))
    assert "reason" in footer_names(lines)
