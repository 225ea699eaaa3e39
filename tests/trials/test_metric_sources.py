"""--metrics-from regex:PATTERN and --metrics-file: epochs from what a trainer prints or logs itself, pruning
included; bad options are one line and exit 2. Lightning's CSV log and HF's trainer_state.json are read by
the real frameworks' tests (tests/integrations)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

PRINTER = """
import json, os, sys
config = json.load(open(sys.argv[1]))
for epoch in range(3):
    accuracy = (1 - abs(config["x"] - 0.5)) * (epoch + 1) / 3
    print(f"step 10 loss=0.3 (no metric here)")
    print(f"epoch {epoch}: val_acc={accuracy:.4f} val_loss={1 - accuracy:.4f}", flush=True)
"""
OWN_LOG = """
import json, sys
config = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as log:
    for epoch in (1.0, 2.0, 3.0):  # Hugging Face's float epochs, in a log of the trainer's own
        log.write(json.dumps({"eval_accuracy": config["x"] * epoch / 3, "epoch": epoch}) + "\\n")
"""
PRUNE_AT_EPOCH_1 = ["--pruner", "threshold", "--pruner-kwargs", json.dumps({"lower": 2.0, "n_warmup_steps": 1})]


@pytest.fixture
def script_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tune_cli):
    """Run `tune` on a script written to tmp_path; the result and the study's only trial."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "script.jsonnet").write_text(
        "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    )
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))

    def run(text: str, *options: str, arguments: str = "{config}"):
        (tmp_path / "train.py").write_text(text)
        command = f"{sys.executable} {tmp_path / 'train.py'} {arguments}"
        result = tune_cli("script.jsonnet", "space.json", "--command", command, "--n-trials", "1", *options)
        trials = (
            optuna.load_study(study_name="script", storage="sqlite:///tune.db").trials
            if Path("tune.db").exists()
            else []
        )
        return result, trials

    return run


def epoch_lines() -> list[dict]:
    text = Path("results/script/trial_0/metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_metrics_from_a_regular_expression_over_the_output_give_one_line_per_epoch(script_study):
    pattern = (
        r"regex:epoch (?P<epoch>\d+): val_acc=(?P<validation_accuracy>[0-9.]+) val_loss=(?P<validation_loss>[0-9.]+)"
    )
    result, (trial,) = script_study(PRINTER, "--metrics-from", pattern, "--pruner", "none")

    assert result.exit_code == 0, result.output
    assert [line["epoch"] for line in epoch_lines()] == [0, 1, 2]
    assert set(epoch_lines()[0]) == {"epoch", "validation_accuracy", "validation_loss"}
    assert trial.state.name == "COMPLETE"
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert trial.value == epoch_lines()[-1]["validation_accuracy"]


def test_a_pattern_without_an_epoch_group_numbers_its_matches_and_pruning_works_from_them(script_study):
    pattern = "regex:val_acc=(?P<validation_accuracy>[0-9.]+)"  # the example
    result, (trial,) = script_study(PRINTER, "--metrics-from", pattern, *PRUNE_AT_EPOCH_1)

    assert result.exit_code == 0, result.output
    assert (trial.state.name, trial.user_attrs["pruned_epoch"]) == ("PRUNED", 1)
    assert sorted(trial.intermediate_values) == [0, 1]


def test_metrics_file_names_a_trainers_own_json_lines_log_with_whole_float_epochs(script_study):
    result, (trial,) = script_study(
        OWN_LOG,
        "--metrics-file",
        "{serialization_dir}/log.jsonl",
        "--metric",
        "best_eval_accuracy",
        "--direction",
        "maximize",
        arguments="{config} {serialization_dir}/log.jsonl",
    )

    assert result.exit_code == 0, result.output
    assert trial.state.name == "COMPLETE"
    assert sorted(trial.intermediate_values) == [1, 2, 3]
    assert trial.value == pytest.approx(trial.params["x"])
    assert [line["epoch"] for line in epoch_lines()] == [1.0, 2.0, 3.0]  # copied to metrics.jsonl for show-trials


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--metrics-from", "csv", "--metrics-file", "log.jsonl"],
            "--metrics-from and --metrics-file name two sources",
        ),
        (["--metrics-from", "regex:val_acc=([0-9.]+)"], "name each value with a group"),
        (["--metrics-from", "regex:val_acc=(?P<acc>[0-9.]+"], "not a regular expression"),
        (["--metrics-from", "cvs"], "--metrics-from 'cvs' is unknown (did you mean 'csv'?)"),
        (["--metrics-from", "tensorboard"], "--metrics-from tensorboard is not supported"),
        (["--metrics-file", "{serialization_dir}/{epoch}.jsonl"], "unknown placeholder {epoch}"),
    ],
)
def test_a_bad_metrics_option_is_one_line_and_exit_2_before_anything_is_stored(script_study, options, message):
    result, trials = script_study(PRINTER, *options)

    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert trials == [] and not Path("results").exists()
