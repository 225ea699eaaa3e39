"""The objective as data: the sign convention, the hint a rendered config gives, and the value read per epoch.

Complements test_objective.py (the main rules); pure data, nothing runs.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tuner.contract import TrialResultError
from tuner.errors import OptionError
from tuner.study.objective import Objective, objective_from_config, objective_from_options, parse_signed_metric


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("+accuracy", ("accuracy", "maximize")),
        ("-loss", ("loss", "minimize")),
        ("+f1_macro", ("f1_macro", "maximize")),
        ("accuracy", None),  # no sign: not a hint
        ("+", None),
        ("", None),
        (None, None),
        (1, None),
    ],
)
def test_the_sign_says_the_direction(value: Any, parsed: tuple[str, str] | None) -> None:
    assert parse_signed_metric(value) == parsed


# --- the hint in a rendered config --------------------------------------------------------------


def test_a_rendered_config_gives_the_objective_through_its_trainer_section() -> None:
    config = {"model": {}, "trainer": {"validation_metric": "-loss", "num_epochs": 3}}

    assert objective_from_config(None, None, config, config_name="c.jsonnet") == Objective(
        "best_validation_loss", "minimize"
    )


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"trainer": None},
        {"trainer": ["+accuracy"]},
        {"trainer": {"num_epochs": 3}},
        {"trainer": {"validation_metric": "acc"}},
    ],
)
def test_a_config_without_a_signed_trainer_metric_needs_the_options(config: dict[str, Any]) -> None:
    with pytest.raises(OptionError, match=r"^no objective: pass --metric .* in c\.jsonnet$"):
        objective_from_config(None, None, config, config_name="c.jsonnet")

    assert objective_from_config("validation_f1", "maximize", config, config_name="c.jsonnet") == Objective(
        "validation_f1", "maximize"
    )


def test_the_direction_agreeing_with_the_hint_is_accepted() -> None:
    assert objective_from_options(None, "maximize", "+accuracy", config_name="c.jsonnet") == Objective(
        "best_validation_accuracy", "maximize"
    )


def test_a_metric_the_hint_does_not_name_needs_its_own_direction() -> None:
    with pytest.raises(
        OptionError, match=r"^--metric test_accuracy needs --direction maximize or --direction minimize$"
    ):
        objective_from_options("test_accuracy", None, "+accuracy", config_name="c.jsonnet")


# --- the value reported per epoch ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ({"epoch": 0, "validation_accuracy": 0.5}, 0.5),
        ({"epoch": 0, "validation_accuracy": 1}, 1.0),
        ({"epoch": 0, "best_validation_accuracy": 0.9, "validation_accuracy": 0.5}, 0.9),  # the metric itself first
        ({"epoch": 0, "validation_accuracy": True}, None),  # a boolean is not a number
        ({"epoch": 0, "validation_accuracy": "0.5"}, None),
        ({"epoch": 0, "validation_loss": 0.3}, None),
    ],
)
def test_epoch_value_is_the_metric_or_the_one_it_is_the_best_of(line: dict[str, Any], value: float | None) -> None:
    assert Objective("best_validation_accuracy", "maximize").epoch_value(line) == value


def test_the_monitored_metric_drops_only_a_best_prefix() -> None:
    assert Objective("best_validation_accuracy", "maximize").monitored == "validation_accuracy"
    assert Objective("validation_best_f1", "maximize").monitored == "validation_best_f1"


# --- the trial's value --------------------------------------------------------------------------


def test_a_best_value_the_trainer_wrote_per_epoch_wins_over_deriving_it() -> None:
    epochs = [
        {"epoch": 0, "validation_loss": 0.2, "best_validation_loss": 0.2},
        {"epoch": 1, "validation_loss": 0.9, "best_validation_loss": 0.25},
    ]

    assert Objective("best_validation_loss", "minimize").final_value(epochs, None) == 0.25


def test_a_final_value_that_is_not_a_number_falls_back_to_the_epochs() -> None:
    epochs = [{"epoch": 0, "validation_accuracy": 0.4}, {"epoch": 1, "validation_accuracy": 0.6}]

    assert Objective("validation_accuracy", "maximize").final_value(epochs, {"validation_accuracy": "n/a"}) == 0.6
    assert Objective("validation_accuracy", "maximize").final_value(epochs, {"validation_accuracy": False}) == 0.6


def test_an_infinite_objective_is_an_error_naming_it() -> None:
    with pytest.raises(TrialResultError, match=r"^objective 'validation_loss' is inf$"):
        Objective("validation_loss", "minimize").final_value([{"epoch": 0, "validation_loss": math.inf}], None)


def test_the_metrics_seen_leave_out_the_epoch_counters() -> None:
    epochs = [{"epoch": 0, "validation_loss": 0.5}]

    with pytest.raises(TrialResultError) as raised:
        Objective("best_validation_accuracy", "maximize").final_value(epochs, {"training_duration": 3.0})

    assert (
        str(raised.value)
        == "metric 'best_validation_accuracy' was not reported (metrics seen: training_duration, validation_loss)"
    )
