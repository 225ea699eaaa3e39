"""Pruning at the trainer's last epoch saves nothing and loses a result: `tune` never prunes there."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

# Prunes every trial at every epoch after the first: a value below 2 is below `lower`.
PRUNE_ALWAYS = ["--pruner", "threshold", "--pruner-kwargs", json.dumps({"lower": 2.0, "n_warmup_steps": 1})]


def digits_config(num_epochs: int) -> str:
    return f"""{{
  dataset_reader: {{type: 'sklearn', dataset: 'digits'}},
  train_data_path: 'train', validation_data_path: 'validation',
  model: {{type: 'cnn', channels: [2, 4], hidden_dim: 8}},
  trainer: {{num_epochs: {num_epochs}, validation_metric: '+accuracy', num_threads: 1,
             optimizer: {{type: 'adam', lr: std.parseJson(std.extVar('lr'))}}}},
}}"""


@pytest.fixture
def digits_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tune_cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"type": "float", "low": 0.001, "high": 0.01}}))

    def run(num_epochs: int) -> optuna.trial.FrozenTrial:
        (tmp_path / "digits.jsonnet").write_text(digits_config(num_epochs))
        result = tune_cli("digits.jsonnet", "space.json", "--n-trials", "1", *PRUNE_ALWAYS)
        assert result.exit_code == 0, result.output
        (trial,) = optuna.load_study(study_name="digits", storage="sqlite:///tune.db").trials
        return trial

    return run


def test_the_builtin_trainers_trial_is_not_pruned_at_its_last_epoch(digits_study):
    trial = digits_study(2)  # epochs 0 and 1; the pruner's warm-up spares epoch 0, so only epoch 1 could prune

    assert trial.state.name == "COMPLETE"
    assert sorted(trial.intermediate_values) == [0, 1]


def test_the_builtin_trainers_trial_is_still_pruned_before_its_last_epoch(digits_study):
    trial = digits_study(3)

    assert (trial.state.name, trial.user_attrs["pruned_epoch"]) == ("PRUNED", 1)


@pytest.mark.parametrize("declared, state", [(True, "COMPLETE"), (False, "PRUNED")])
def test_a_trainer_that_reports_its_last_epoch_is_not_pruned_there(
    declared, state, study_files, tune_cli, quadratic_command
):
    args = study_files(epochs=2, extra={"declare_last_epoch": declared})
    result = tune_cli(*args, "--n-trials", "1", "--command", quadratic_command, *PRUNE_ALWAYS)

    assert result.exit_code == 0, result.output
    (trial,) = optuna.load_study(study_name="quad", storage="sqlite:///tune.db").trials
    assert trial.state.name == state
