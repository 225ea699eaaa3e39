"""report() takes what frameworks hand it, and an epoch reported twice is a warning, never silent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy
import optuna
import pytest
import torch

from tuner.contract import ENV_METRICS_FILE, report

TWICE = """
import json, os, sys
from tuner import report
report(0, validation_accuracy=0.104)  # a callback that also runs in Lightning's sanity check
for epoch in range(2):
    report(epoch, validation_accuracy=0.931 + epoch / 100)
"""
HF_LINES = """
import json, os
with open(os.environ["TUNER_METRICS_FILE"], "a") as handle:
    for epoch in (1.0, 2.0):  # Hugging Face's log dict, written as it is
        handle.write(json.dumps({"eval_loss": 1 / epoch, "eval_accuracy": epoch / 4, "epoch": epoch}) + "\\n")
"""


@pytest.fixture
def metrics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(ENV_METRICS_FILE, str(path))
    monkeypatch.delenv("RANK", raising=False)
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_metrics_dict_holding_hugging_faces_float_epoch_is_reported_under_the_given_epoch(metrics_file):
    hf_metrics = {"eval_loss": 0.5, "eval_accuracy": 0.75, "epoch": 1.0}

    assert report(0, **hf_metrics) is True
    assert lines(metrics_file) == [{"epoch": 0, "eval_loss": 0.5, "eval_accuracy": 0.75}]


@pytest.mark.parametrize("epoch", [2, 2.0, numpy.int64(2), numpy.float32(2.0), torch.tensor(2)], ids=repr)
def test_whole_number_epochs_of_any_kind_are_written_as_integers(metrics_file, epoch):
    report(epoch, last_epoch=numpy.int32(4), loss=1.0)

    assert lines(metrics_file) == [{"epoch": 2, "loss": 1.0, "last_epoch": 4}]
    assert type(lines(metrics_file)[0]["epoch"]) is int


@pytest.mark.parametrize("epoch", [0.5, -1, "3", True])
def test_an_epoch_that_is_no_whole_number_is_refused_by_name(metrics_file, epoch):
    with pytest.raises(ValueError, match="epoch must be a non-negative whole number"):
        report(epoch, loss=1.0)
    assert not metrics_file.exists()


def test_tensors_and_numpy_scalars_are_written_as_plain_numbers(metrics_file):
    report(0, acc=torch.tensor(0.25), loss=numpy.float64(0.5), n=numpy.int64(3), per_class=torch.tensor([1.0, 2.0]))

    assert lines(metrics_file) == [{"epoch": 0, "acc": 0.25, "loss": 0.5, "n": 3, "per_class": [1.0, 2.0]}]


@pytest.mark.parametrize("second, said", [(0, "epoch 0 was already reported"), (1, "epoch 1 comes after epoch 2")])
def test_a_repeated_or_decreasing_epoch_is_written_with_a_warning_on_stderr(metrics_file, capsys, second, said):
    report(0 if second == 0 else 2, acc=0.1)
    report(second, acc=0.9)

    assert said in capsys.readouterr().err
    assert [line["epoch"] for line in lines(metrics_file)] == [0 if second == 0 else 2, second]


def test_report_does_nothing_outside_tune(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_METRICS_FILE, raising=False)

    assert report(0.5, epoch=1.0, acc=0.3) is False


def run_script(tmp_path: Path, tune_cli, text: str, *options: str):
    (tmp_path / "train.py").write_text(text)
    (tmp_path / "plain.jsonnet").write_text("{x: std.parseJson(std.extVar('x'))}")
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))
    command = f"{sys.executable} {tmp_path / 'train.py'}"
    result = tune_cli("plain.jsonnet", "space.json", "--command", command, "--n-trials", "1", *options)
    (trial,) = optuna.load_study(study_name="plain", storage="sqlite:///tune.db").trials
    return result, trial


def test_an_epoch_reported_twice_is_a_warning_in_the_live_view_and_the_trials_log(tmp_path, monkeypatch, tune_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    result, trial = run_script(
        tmp_path, tune_cli, TWICE, "--metric", "best_validation_accuracy", "--direction", "maximize"
    )

    assert result.exit_code == 0, result.output
    assert "warning: trial 0: epoch 0 reported twice" in result.output
    log = (tmp_path / "results" / "plain" / "trial_0" / "out.log").read_text()
    assert "tuner.report: warning: epoch 0 was already reported" in log
    assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(0.941)
    assert trial.intermediate_values == {0: 0.104, 1: pytest.approx(0.941)}  # Optuna keeps an epoch's first report


def test_hugging_faces_log_dict_written_as_a_line_is_read_with_its_whole_float_epochs(tmp_path, monkeypatch, tune_cli):
    monkeypatch.chdir(tmp_path)
    result, trial = run_script(tmp_path, tune_cli, HF_LINES, "--metric", "best_eval_loss", "--direction", "minimize")

    assert result.exit_code == 0, result.output
    assert trial.state.name == "COMPLETE" and trial.value == 0.5
    assert trial.intermediate_values == {1: 1.0, 2: 0.5}
