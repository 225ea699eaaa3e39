"""The objective: which metric and direction, and how a trial's value is read from its files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from tuner.contract import (
    MAX_METRICS_BYTES,
    EpochMetricsReader,
    MalformedMetricsError,
    TrialResultError,
    read_final_metrics,
)
from tuner.errors import OptionError
from tuner.study.objective import Objective, objective_from_options

EPOCHS = [
    {"epoch": 0, "validation_accuracy": 0.5, "validation_loss": 0.9},
    {"epoch": 1, "validation_accuracy": 0.8, "validation_loss": 0.4},
    {"epoch": 2, "validation_accuracy": 0.7, "validation_loss": 0.6},
]


def from_options(metric: str | None = None, direction: str | None = None, hint: object = None) -> Objective:
    return objective_from_options(metric, direction, hint, config_name="config.jsonnet")


# --- metric and direction -----------------------------------------------------------------------


def test_plus_validation_metric_means_maximise_best_validation_accuracy() -> None:
    assert from_options(hint="+accuracy") == Objective("best_validation_accuracy", "maximize")


def test_minus_validation_metric_means_minimise_best_validation_loss() -> None:
    assert from_options(hint="-loss") == Objective("best_validation_loss", "minimize")


@pytest.mark.parametrize("metric", ["best_validation_accuracy", "validation_accuracy"])
def test_metric_matching_the_hint_takes_the_hinted_direction(metric: str) -> None:
    assert from_options(metric, hint="+accuracy") == Objective(metric, "maximize")


def test_direction_contradicting_the_hint_is_an_error() -> None:
    with pytest.raises(
        OptionError, match=r"--direction minimize contradicts config\.jsonnet's trainer\.validation_metric '\+accuracy'"
    ):
        from_options(direction="minimize", hint="+accuracy")


def test_other_metric_with_its_own_direction_is_not_a_contradiction_of_the_hint() -> None:
    assert from_options("best_validation_loss", "minimize", hint="+accuracy") == Objective(
        "best_validation_loss", "minimize"
    )


def test_no_metric_and_no_hint_is_an_error_saying_how_to_fix_it() -> None:
    with pytest.raises(
        OptionError, match=r"no objective: pass --metric .* or set trainer\.validation_metric .* in config\.jsonnet"
    ):
        from_options()


def test_metric_without_direction_and_no_hint_is_an_error() -> None:
    with pytest.raises(OptionError, match=r"--metric validation_f1 needs --direction maximize or --direction minimize"):
        from_options("validation_f1")


def test_invalid_direction_is_an_error() -> None:
    with pytest.raises(OptionError, match=r"--direction must be maximize or minimize, got 'up'"):
        from_options("validation_f1", "up")


# --- the trial's value --------------------------------------------------------------------------


def test_best_metric_is_the_highest_epoch_value_when_maximising() -> None:
    assert Objective("best_validation_accuracy", "maximize").final_value(EPOCHS, None) == 0.8


def test_best_metric_is_the_lowest_epoch_value_when_minimising() -> None:
    assert Objective("best_validation_loss", "minimize").final_value(EPOCHS, None) == 0.4


def test_plain_metric_is_the_last_epoch_value() -> None:
    assert Objective("validation_accuracy", "maximize").final_value(EPOCHS, None) == 0.7


def test_final_metrics_file_wins_over_epoch_lines() -> None:
    final = {"best_validation_accuracy": 0.75}

    assert Objective("best_validation_accuracy", "maximize").final_value(EPOCHS, final) == 0.75


def test_missing_metric_is_an_error_listing_the_metrics_seen() -> None:
    with pytest.raises(
        TrialResultError,
        match=r"metric 'validation_f1' was not reported "
        r"\(metrics seen: test_accuracy, validation_accuracy, validation_loss\)",
    ):
        Objective("validation_f1", "maximize").final_value(EPOCHS, {"test_accuracy": 0.6})


def test_metric_missing_with_nothing_reported_says_none_was_seen() -> None:
    with pytest.raises(TrialResultError, match=r"\(metrics seen: none\)"):
        Objective("validation_f1", "maximize").final_value([], None)


@pytest.mark.parametrize(
    ("metric", "epochs", "final"),
    [
        pytest.param("best_validation_accuracy", [], {"best_validation_accuracy": math.nan}, id="metrics-json"),
        pytest.param("validation_accuracy", [{"epoch": 0, "validation_accuracy": math.nan}], None, id="last-epoch"),
        pytest.param(
            "best_validation_accuracy",
            [*EPOCHS, {"epoch": 3, "validation_accuracy": math.nan}],
            None,
            id="derived-best",
        ),
    ],
)
def test_nan_objective_is_an_error(metric: str, epochs: list, final: dict | None) -> None:
    with pytest.raises(TrialResultError, match=rf"objective '{metric}' is nan"):
        Objective(metric, "maximize").final_value(epochs, final)


def test_epoch_value_for_pruning_uses_the_monitored_metric_of_a_best_metric() -> None:
    assert Objective("best_validation_loss", "minimize").epoch_value(EPOCHS[1]) == 0.4


# --- metrics files ------------------------------------------------------------------------------


def test_absent_final_metrics_file_reads_as_none(tmp_path: Path) -> None:
    assert read_final_metrics(tmp_path / "metrics.json") is None


def test_final_metrics_file_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"best_validation_accuracy": 0.9')

    with pytest.raises(MalformedMetricsError, match=r"metrics\.json is not JSON"):
        read_final_metrics(tmp_path / "metrics.json")


def test_epoch_reader_returns_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    reader = EpochMetricsReader(path)
    with open(path, "w") as handle:
        handle.write(json.dumps(EPOCHS[0]) + "\n" + '{"epoch": 1, "validation_acc')
        handle.flush()
        assert reader.read_new() == [EPOCHS[0]]
        assert reader.read_new() == []

        handle.write('uracy": 0.8}\n')
        handle.flush()
        assert reader.read_new() == [{"epoch": 1, "validation_accuracy": 0.8}]

    assert reader.epochs == [EPOCHS[0], {"epoch": 1, "validation_accuracy": 0.8}]


def test_epoch_reader_before_the_file_exists_returns_nothing(tmp_path: Path) -> None:
    assert EpochMetricsReader(tmp_path / "metrics.jsonl").read_new() == []


def test_malformed_epoch_line_is_an_error_naming_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(EPOCHS[0]) + "\n" + json.dumps(EPOCHS[1]) + "\nepoch 2 accuracy 0.7\n")

    with pytest.raises(MalformedMetricsError, match=r"metrics\.jsonl line 3 is not JSON: 'epoch 2 accuracy 0\.7'"):
        EpochMetricsReader(path).read_new()


def test_epoch_line_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("[0.5, 0.9]\n")

    with pytest.raises(MalformedMetricsError, match=r"metrics\.jsonl line 1 is not a JSON object"):
        EpochMetricsReader(path).read_new()


def test_epoch_line_past_the_size_limit_is_an_error_whether_or_not_it_ended(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(EPOCHS[0]) + "\n" + "x" * (MAX_METRICS_BYTES + 1))

    reader = EpochMetricsReader(path)
    with pytest.raises(MalformedMetricsError, match=r"^metrics\.jsonl line 2 is longer than 64 MiB$"):
        reader.read_new()
    assert reader.epochs == [EPOCHS[0]]


def test_named_pipe_in_place_of_metrics_json_is_an_error_not_a_wait(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "metrics.json")

    with pytest.raises(MalformedMetricsError, match=r"metrics\.json is not a regular file"):
        read_final_metrics(tmp_path / "metrics.json")


def test_display_reader_skips_malformed_lines_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(json.dumps(EPOCHS[0]).encode() + b"\n\xff\n[[1]]\n" + json.dumps(EPOCHS[1]).encode() + b"\n")

    assert EpochMetricsReader(path, skip_malformed=True).read_new() == EPOCHS[:2]
