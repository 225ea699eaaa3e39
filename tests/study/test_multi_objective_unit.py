"""Several objectives and constraints as data: pairing --metric with --direction, --prune-on, constraint text.

Pure data, nothing runs; the end-to-end behaviour is in tests/e2e/test_multi_objective.py.
"""

from __future__ import annotations

import pytest

from tuner.contract import TrialResultError
from tuner.errors import OptionError
from tuner.study.constraints import Constraint, parse_constraint, parse_constraints
from tuner.study.objective import Objective, objectives_from_options


def objective(metric, direction, hint=None, **options):  # type: ignore[no-untyped-def]
    return objectives_from_options(metric, direction, hint, config_name="c.jsonnet", **options)


def test_repeated_metrics_pair_with_directions_in_order() -> None:
    found = objective(["best_validation_accuracy", "param_count"], ["maximize", "minimize"])

    assert found.is_multi
    assert found.metrics == ("best_validation_accuracy", "param_count")
    assert found.directions == ("maximize", "minimize")
    assert (found.metric, found.direction) == ("best_validation_accuracy", "maximize")  # the first pair


def test_one_metric_is_the_single_objective_of_before() -> None:
    assert objective("validation_loss", "minimize") == Objective("validation_loss", "minimize")
    assert objective(None, None, "+accuracy") == Objective("best_validation_accuracy", "maximize")
    assert not objective(["validation_loss"], ["minimize"]).is_multi


@pytest.mark.parametrize(
    ("metrics", "directions", "message"),
    [
        (["a", "b"], ["maximize"], r"^--metric and --direction go in pairs: got 2 --metric \(a, b\) and 1 --direction"),
        (["a", "b"], [], r"got 2 --metric \(a, b\) and 0 --direction"),
        (["a", "b", "c"], ["maximize", "minimize"], r"got 3 --metric \(a, b, c\) and 2 --direction"),
        (["a", "a"], ["maximize", "minimize"], r"^--metric a is given twice$"),
        (["a", "b"], ["maximize", "sideways"], r"^--direction must be maximize or minimize, got 'sideways'$"),
    ],
)
def test_unpaired_or_repeated_objectives_are_refused(metrics: list, directions: list, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        objective(metrics, directions)


def test_a_direction_contradicting_the_config_is_refused_for_any_objective() -> None:
    with pytest.raises(OptionError, match=r"--direction minimize contradicts c\.jsonnet's trainer\.validation_metric"):
        objective(["param_count", "best_validation_accuracy"], ["minimize", "minimize"], "+accuracy")


def test_prune_on_names_an_objective_with_or_without_its_best_prefix() -> None:
    metrics, directions = ["best_validation_accuracy", "best_validation_loss"], ["maximize", "minimize"]

    assert objective(metrics, directions).prune_index == 0
    chosen = objective(metrics, directions, prune_on="validation_loss")
    assert (chosen.prune_index, chosen.prune_metric, chosen.monitored) == (1, "best_validation_loss", "validation_loss")
    assert chosen.epoch_value({"epoch": 0, "validation_loss": 0.3, "validation_accuracy": 0.9}) == 0.3


def test_prune_on_an_unknown_objective_lists_them() -> None:
    with pytest.raises(OptionError, match=r"^--prune-on param_cnt is not an objective \(did you mean 'param_count'"):
        objective(["best_validation_accuracy", "param_count"], ["maximize", "minimize"], prune_on="param_cnt")


def test_final_values_read_every_objective_and_name_a_missing_one() -> None:
    both = objective(["best_validation_accuracy", "param_count"], ["maximize", "minimize"])
    epochs = [{"epoch": 0, "validation_accuracy": 0.5}, {"epoch": 1, "validation_accuracy": 0.7}]

    assert both.final_values(epochs, {"param_count": 1234}) == [0.7, 1234.0]
    with pytest.raises(TrialResultError, match=r"^metric 'param_count' was not reported \(metrics seen: validation_"):
        both.final_values(epochs, None)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("param_count<=1e6", Constraint("param_count", "<=", 1e6)),
        (" peak_gpu_memory_mb <= 20000 ", Constraint("peak_gpu_memory_mb", "<=", 20000.0)),
        ("best_validation_accuracy>=0.9", Constraint("best_validation_accuracy", ">=", 0.9)),
        ("loss<=-1.5", Constraint("loss", "<=", -1.5)),
    ],
)
def test_constraint_text_parses(text: str, parsed: Constraint) -> None:
    assert parse_constraint(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("param_count<1e6", r"^--constraint 'param_count<1e6': expected NAME<=VALUE or NAME>=VALUE"),
        ("param_count", r"expected NAME<=VALUE or NAME>=VALUE"),
        ("<=5", r"expected NAME<=VALUE or NAME>=VALUE"),
        ("param_count<=1e6<=2", r"'1e6<=2' is not a number"),
        ("param_count<=many", r"^--constraint 'param_count<=many': 'many' is not a number$"),
        ("param_count<=inf", r"the bound must be a finite number, got 'inf'"),
        ("param_count<=nan", r"the bound must be a finite number, got 'nan'"),
    ],
)
def test_malformed_constraints_are_refused_naming_the_value(text: str, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        parse_constraint(text)


def test_the_same_constraint_twice_is_refused() -> None:
    with pytest.raises(OptionError, match=r"^--constraint 'x<=1' is given twice$"):
        parse_constraints(["x<=1", "x <= 1.0"])


def test_a_violation_is_how_far_outside_the_bound() -> None:
    assert parse_constraint("param_count<=1000").violation(1200) == 200
    assert parse_constraint("param_count<=1000").violation(800) == -200
    assert parse_constraint("accuracy>=0.9").violation(0.8) == pytest.approx(0.1)


def test_a_constraint_on_a_metric_the_trial_did_not_report_names_it() -> None:
    constrained = objective("validation_accuracy", "maximize", constraints=["param_count<=1e6"])

    with pytest.raises(TrialResultError, match=r"^--constraint 'param_count<=1e\+06': metric 'param_count' was not"):
        constrained.violations([{"epoch": 0, "validation_accuracy": 0.5}], None)
    met = constrained.violations([], {"param_count": 10, "validation_accuracy": 0.5})
    assert met == {"param_count<=1e+06": -999990}
