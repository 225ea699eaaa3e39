"""`tune show-trials`: the best K, chosen params, epochs, slot, reasons; and one trial in full."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner, Result

from tests.analysis.analysis_studies import make_study
from tuner.cli import main


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    monkeypatch.chdir(tmp_path)
    return make_study("sqlite:///tune.db", tmp_path / "results", n_complete=6, n_pruned=2, n_failed=1)


def show(*args: str) -> Result:
    return CliRunner().invoke(main, ["show-trials", *args], catch_exceptions=False)


def as_json(*args: str) -> list[dict]:
    return json.loads(show(*args, "--format", "json").stdout)


def test_top_lists_the_best_completed_trials_best_first(study):
    best = sorted((trial for trial in study.trials if trial.value is not None), key=lambda trial: -trial.value)[:3]
    assert [row["number"] for row in as_json("--top", "3")] == [trial.number for trial in best]


def test_params_are_filtered_by_name_or_pattern(study):
    rows = as_json("--param", "x", "--param", "u*")
    assert set(rows[0]["params"]) == {"x", "units"}


def test_unknown_param_name_lists_the_study_params(study):
    result = show("--param", "lr")
    assert result.exit_code == 2
    assert "--param lr: no parameter matches; the study's parameters: x, y, units, act" in result.output


def test_rows_carry_epochs_slot_duration_and_failure_reason(study):
    rows = {row["number"]: row for row in as_json()}
    failed = next(trial for trial in study.trials if trial.state.name == "FAIL")
    pruned = next(trial for trial in study.trials if trial.state.name == "PRUNED")
    assert rows[failed.number]["reason"] == "out of memory"
    assert rows[pruned.number]["epochs_reported"] == 1 and rows[pruned.number]["pruned_epoch"] == 0
    assert rows[pruned.number]["slot"] == f"gpu {pruned.number % 2}"
    assert rows[pruned.number]["duration_s"] == 3.0


def test_table_has_epochs_and_slot_columns(study):
    output = CliRunner().invoke(main, ["show-trials", "--top", "1"], env={"COLUMNS": "200"}).output
    header = next(line for line in output.splitlines() if "state" in line)
    assert "epochs" in header and "slot" in header
    assert "gpu" in output


def test_one_trial_in_full(study, tmp_path):
    number = study.best_trial.number
    result = CliRunner().invoke(main, ["show-trials", "--trial", str(number)], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    folder = tmp_path / "results" / f"trial_{number}"
    assert str(folder / "out.log") in result.output and str(folder / "config.json") in result.output
    assert "learning curve ▁▅█" in result.output
    assert "training_seconds" in result.output  # from the trial's metrics.json
    assert "validation_loss" in result.output  # from its metrics.jsonl


def test_one_trial_as_json(study):
    failed = next(trial for trial in study.trials if trial.state.name == "FAIL")
    detail = json.loads(show("--trial", str(failed.number), "--format", "json").stdout)
    assert detail["reason"] == "out of memory"
    assert detail["log_tail"] == "CUDA error: out of memory"
    assert detail["launch"]["slot"] == f"gpu {failed.number % 2}"
    assert detail["intermediate_values"] == {}


def test_unknown_trial_number_is_a_user_error(study):
    result = show("--trial", "99")
    assert result.exit_code == 2
    assert "study 'demo' has no trial 99 (it has 9 trials)" in result.output
