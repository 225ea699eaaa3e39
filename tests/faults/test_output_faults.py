"""Bad trainer output fails only its trial, with a reason saying what is wrong; the run goes on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import TRAINERS, invoke_tune
from tests.faults.conftest import load_trials, write_faulty_study

BAD_OUTPUT_COMMAND = f"{sys.executable} {TRAINERS / 'bad_output.py'} {{config}} {{serialization_dir}}"

# an output of tests/trainers/bad_output.py -> the reason recorded on its trial.
BAD_OUTPUTS = {
    "line_not_utf8": "metrics.jsonl line 1 is not UTF-8 (byte 0xe9 at offset 53)",
    "final_not_utf8": "metrics.json is not UTF-8 (byte 0xe9 at offset 46)",
    "line_nested": "metrics.jsonl line 1 is not a metrics object: JSON nested too deeply",
    "final_nested": "metrics.json is not a metrics object: JSON nested too deeply",
    "line_int_400": "metrics.jsonl line 1 holds an integer of 400 digits, too large for a metric",
    "final_int_5000": "metrics.json holds an integer of 5000 digits, too large for a metric",
    "line_epoch_20_digits": "epoch must be an integer from 0 to 2147483647, got 11111111111111111111",
    "epochs_is_folder": "metrics.jsonl is a folder; the trainer must write a file there",
    "final_is_folder": "metrics.json is a folder; the trainer must write a file there",
}


def bad_output_study(faulty_study, **behaviour) -> list[str]:
    """tune arguments for the faulty trainer's config and space, run by tests/trainers/bad_output.py."""
    arguments = faulty_study(**behaviour)
    command = arguments.index("--command")
    return [*arguments[:command], "--command", BAD_OUTPUT_COMMAND, *arguments[command + 2 :]]


@pytest.fixture(scope="module")
def every_bad_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One study whose trial n writes the n-th of BAD_OUTPUTS, then a trial that behaves; its folder and result.

    One run for them all: each bad trial is followed by another, so it shows that the run goes on after it.
    """
    folder = tmp_path_factory.mktemp("bad_outputs")
    faults = {str(number): output for number, output in enumerate(BAD_OUTPUTS)}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        arguments = bad_output_study(write_faulty_study(folder), faults=faults)
        return folder, invoke_tune(*arguments, "--n-trials", str(len(faults) + 1))


@pytest.mark.parametrize("output", list(BAD_OUTPUTS))
def test_bad_trainer_output_fails_only_its_trial_with_the_reason(output, every_bad_output, tune_cli, monkeypatch):
    folder, result = every_bad_output
    monkeypatch.chdir(folder)
    number = list(BAD_OUTPUTS).index(output)

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    trials = load_trials()
    assert (trials[number].state.name, trials[number].user_attrs.get("reason")) == ("FAIL", BAD_OUTPUTS[output])
    assert [trial.user_attrs.get("reason") for trial in trials].count(BAD_OUTPUTS[output]) == 1  # only its trial
    assert trials[-1].state.name == "COMPLETE"  # the trial that behaves, after every bad one
    assert f"failed: {BAD_OUTPUTS[output]}" in result.output
    shown = tune_cli(
        "show-trials", "--trial", str(number), "--format", "json"
    )  # what the folder holds, as far as it reads
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["reason"] == BAD_OUTPUTS[output]


def test_bad_output_is_not_queued_again_so_a_rerun_makes_progress(faulty_study, tune_cli):
    arguments = bad_output_study(faulty_study, faults={"0": "line_nested", "1": "line_nested"})
    assert tune_cli(*arguments, "--n-trials", "1").exit_code == 1  # its only trial failed

    result = tune_cli(*arguments, "--n-trials", "3")

    assert result.exit_code == 0, result.output
    assert [(trial.state.name, trial.user_attrs.get("reason")) for trial in load_trials()] == [
        ("FAIL", BAD_OUTPUTS["line_nested"]),
        ("FAIL", BAD_OUTPUTS["line_nested"]),
        ("COMPLETE", None),
    ]


def test_a_valid_50_mb_metrics_line_ending_in_a_newline_is_read(faulty_study, tune_cli, tmp_path: Path):
    result = tune_cli(*bad_output_study(faulty_study, faults={"0": "big_line"}), "--n-trials", "1")

    assert result.exit_code == 0, result.output
    (trial,) = load_trials()
    assert trial.state.name == "COMPLETE", trial.user_attrs.get("reason")
    assert trial.intermediate_values == {0: trial.params["x"]}
