"""One trial table: show-trials CSV and JSON and export's trials.tsv have the same columns and values."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tests.analysis.analysis_studies import START, make_study
from tuner.cli import main


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    monkeypatch.chdir(tmp_path)
    return make_study("sqlite:///tune.db", tmp_path / "results", n_complete=4, n_pruned=1, n_failed=1)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_csv_json_and_tsv_have_the_same_columns_with_start_and_end(study, tmp_path):
    as_csv = list(csv.DictReader(io.StringIO(run("show-trials", "--format", "csv"))))
    as_json = json.loads(run("show-trials", "--format", "json"))
    run("export", "-o", "out", "--no-plots")
    with open(tmp_path / "out" / "trials.tsv", newline="") as handle:
        as_tsv = list(csv.DictReader(handle, delimiter="\t"))

    json_columns = [key for key in as_json[0] if key != "params"] + [f"params_{name}" for name in as_json[0]["params"]]
    assert list(as_csv[0]) == list(as_tsv[0]) == json_columns
    assert {"start", "end", "duration_s"} <= set(json_columns)
    assert as_csv == as_tsv
    assert [row["start"] for row in as_csv] == [row["start"] for row in as_json]


def test_start_and_end_are_iso_8601_and_the_duration_is_between_them(study):
    rows = json.loads(run("show-trials", "--format", "json"))

    assert datetime.fromisoformat(rows[0]["start"]) == START
    for row, trial in zip(rows, study.trials):
        start, end = datetime.fromisoformat(row["start"]), datetime.fromisoformat(row["end"])
        assert end == trial.datetime_complete
        assert (end - start).total_seconds() == row["duration_s"]


def test_a_waiting_trial_has_no_start_or_end(study):
    study.enqueue_trial({"x": 0.5, "y": 0.01, "units": 8, "act": "relu"})
    waiting = json.loads(run("show-trials", "--format", "json", "--state", "waiting"))
    assert [(row["start"], row["end"], row["duration_s"]) for row in waiting] == [(None, None, None)]
    as_csv = csv.DictReader(io.StringIO(run("show-trials", "--format", "csv", "--state", "waiting")))
    assert [(row["start"], row["end"], row["duration_s"]) for row in as_csv] == [("", "", "")]
