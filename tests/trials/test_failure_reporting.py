"""What a user sees of failed trials: the trainer's own error line, and an exit status a script can test."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tests.faults.conftest import faulty_study  # noqa: F401 - a fixture

# Only building the model finds the typo: pre-flight cannot, so every trial crashes on it.
MODEL_TYPO_CONFIG = """{
  dataset_reader: {type: 'sklearn', dataset: 'digits'},
  train_data_path: 'train', validation_data_path: 'validation',
  model: {type: 'cnn', channels: [2, 4], hiden_dim: 8},
  trainer: {num_epochs: 1, validation_metric: '+accuracy', num_threads: 1,
            optimizer: {type: 'adam', lr: std.parseJson(std.extVar('lr'))}},
}"""


@pytest.fixture
def crashing_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "typo.jsonnet").write_text(MODEL_TYPO_CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"type": "float", "low": 0.001, "high": 0.01}}))
    return ["typo.jsonnet", "space.json", "--pruner", "none"]


def test_a_crash_reason_carries_the_trainers_last_error_line_everywhere_it_is_shown(crashing_study, tune_cli):
    result = tune_cli(*crashing_study, "--n-trials", "2")

    reason = "crashed (exit code 2): unknown key 'model.hiden_dim' (did you mean 'hidden_dim'?)"
    live_lines = [line for line in result.output.splitlines() if line.startswith("trial ")]
    assert len(live_lines) == 2 and all(f"failed: {reason}" in line for line in live_lines)
    assert f"Most common failure (2 of 2): {reason}" in result.output  # the final summary
    shown = json.loads(tune_cli("show-trials", "--format", "json").stdout)
    assert [row["reason"].startswith(reason) for row in shown] == [True, True]


def test_exit_status_is_1_when_every_trial_of_the_run_failed(faulty_study, tune_cli):  # noqa: F811
    result = tune_cli(*faulty_study(fault="exit"), "--n-trials", "2")

    assert "this run: 0 complete, 0 pruned, 2 failed" in result.output
    assert result.exit_code == 1


def test_exit_status_is_1_when_a_resumed_run_only_added_failures(faulty_study, tune_cli):  # noqa: F811
    assert tune_cli(*faulty_study(fault="ok"), "--n-trials", "1").exit_code == 0
    result = tune_cli(*faulty_study(fault="exit"), "--n-trials", "2")

    assert "this run: 0 complete, 0 pruned, 1 failed" in result.output
    assert result.exit_code == 1


def test_exit_status_is_0_when_a_trial_of_the_run_completed_beside_failures(faulty_study, tune_cli):  # noqa: F811
    result = tune_cli(*faulty_study(faults={"0": "exit"}), "--n-trials", "2")

    assert "this run: 1 complete, 0 pruned, 1 failed" in result.output
    assert result.exit_code == 0
    assert [
        trial.state.name for trial in optuna.load_study(study_name="faulty", storage="sqlite:///tune.db").trials
    ] == ["FAIL", "COMPLETE"]
