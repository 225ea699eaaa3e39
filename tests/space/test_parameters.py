"""Parameters as data: what each one asks Optuna for, how big its grid is, how it is stored and read back.

Pure data: no files, no processes; Optuna's FixedTrial stands in for a trial with chosen values.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import optuna
import pytest

from tuner.errors import SearchSpaceError
from tuner.space.parameters import Parameter, SearchSpace, is_active, same_value
from tuner.space.parse import SearchSpaceWarning, parse_search_space, parse_stored_space

# Every kind of parameter, conditional ones included; 'units' has a step that trims its top to 64.
SPACE = {
    "units": {"type": "int", "low": 8, "high": 70, "step": 8},
    "layers": {"type": "int", "low": 1, "high": 64, "log": True},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
    "width": {"type": "int", "scale": "power_two", "low": 2, "high": 5},
    "use_bias": {"type": "bool"},
    "encoder": {"type": "categorical", "choices": ["cnn", "lstm", None, 3]},
    "hidden": {"type": "int", "low": 16, "high": 64, "condition": {"encoder": "lstm"}, "default": 0},
    "kernel": {"type": "int", "low": 2, "high": 5, "condition": {"encoder": ["cnn", 3], "use_bias": True}},
}


def parse(data: Any) -> SearchSpace:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", SearchSpaceWarning
        )  # the trimmed 'units' is noted; not what these tests are about
        return parse_search_space(data, source="space.json")


def stored(space: SearchSpace) -> dict[str, Any]:
    """The space as the study holds it: through JSON, as Optuna stores user attributes."""
    return json.loads(json.dumps(space.to_dict()))


# --- what a parameter asks Optuna for -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("units", 64),
        ("layers", 7),
        ("lr", 0.003),
        ("dropout", 0.25),
        ("width", 16),
        ("use_bias", False),
        ("encoder", None),
    ],
)
def test_each_parameter_returns_the_value_the_trial_holds(name: str, value: Any) -> None:
    parameter = next(p for p in parse(SPACE) if p.name == name)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FixedTrial warns when a value lies outside the distribution asked for
        assert parameter.suggest(optuna.trial.FixedTrial({name: value})) == value


@pytest.mark.parametrize(
    ("name", "distribution"),
    [
        ("units", optuna.distributions.IntDistribution(8, 64, step=8)),
        ("layers", optuna.distributions.IntDistribution(1, 64, log=True)),
        ("dropout", optuna.distributions.FloatDistribution(0.0, 0.5, step=0.25)),
        ("width", optuna.distributions.CategoricalDistribution([4, 8, 16, 32])),
        ("use_bias", optuna.distributions.CategoricalDistribution([True, False])),
    ],
)
def test_each_parameter_asks_optuna_for_its_distribution(name: str, distribution: Any) -> None:
    trial = optuna.create_study().ask()

    next(p for p in parse(SPACE) if p.name == name).suggest(trial)

    assert trial.distributions[name] == distribution


def test_a_space_asks_only_for_active_parameters_and_fills_the_rest_with_defaults() -> None:
    # FixedTrial raises for a name it does not hold: 'hidden' and 'kernel' must not be asked for.
    trial = optuna.trial.FixedTrial(
        {"units": 8, "layers": 1, "lr": 0.01, "dropout": 0.0, "width": 4, "use_bias": False, "encoder": "cnn"}
    )

    values = parse(SPACE).suggest(trial)

    assert values["hidden"] == 0 and values["kernel"] == 2
    assert values["encoder"] == "cnn"


# --- grid sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "size"),
    [
        ({"type": "int", "low": 8, "high": 70, "step": 8}, 8),  # 8..64, the top trimmed
        ({"type": "int", "low": -3, "high": 3}, 7),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.1}, 11),
        ({"type": "int", "scale": "power", "base": 10, "low": 0, "high": 3}, 4),
        ({"type": "bool"}, 2),
        ({"type": "categorical", "choices": ["a"]}, 1),
    ],
)
def test_grid_size_counts_every_value_grid_search_tries(strategy: dict[str, Any], size: int) -> None:
    (parameter,) = parse({"x": strategy})

    assert parameter.grid_size() == size
    assert len(parameter.grid_values()) == size


def test_a_huge_integer_range_is_counted_without_being_listed() -> None:
    (parameter,) = parse({"x": {"type": "int", "low": 0, "high": 10**15}})

    assert parameter.grid_size() == 10**15 + 1
    with pytest.raises(SearchSpaceError) as raised:
        parameter.grid_values()
    assert str(raised.value) == (
        "parameter 'x': grid search over 1,000,000,000,000,001 values is more than the 1,000,000 a grid may hold; "
        "give it a larger 'step', or use another sampler"
    )


def test_float_grid_points_carry_no_binary_noise() -> None:
    (parameter,) = parse({"x": {"type": "float", "low": 0.1, "high": 0.7, "step": 0.2}})

    assert parameter.grid_values() == [0.1, 0.3, 0.5, 0.7]


# --- stored form --------------------------------------------------------------------------------


def test_the_stored_form_parses_back_to_the_same_parameters() -> None:
    space = parse(SPACE)

    again = parse_search_space(stored(space))

    assert again.names == space.names
    assert again.to_dict() == space.to_dict()
    # A power-scale int is stored as its choices: the values it can take are the same.
    assert [p.choices for p in again] == [p.choices for p in space]


def test_the_stored_form_reads_back_quickly_without_the_notes_the_file_gave() -> None:
    with pytest.warns(SearchSpaceWarning) as noted:
        space = parse_search_space({**SPACE, "units": {**SPACE["units"], "review": "guessed"}}, source="space.json")
    assert len(noted) == 2  # the trimmed range and the 'review' reminder

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = parse_stored_space(stored(space), source="study 'demo'")

    assert read.parameters == parse_search_space(stored(space)).parameters
    assert read.source == "study 'demo'"
    assert read.complete({"encoder": "lstm", "hidden": 32}) == {"encoder": "lstm", "hidden": 32, "kernel": 2}


def test_a_stored_space_of_another_shape_is_still_read_and_checked() -> None:
    listed = [{"type": "int", "attributes": {"name": "x", "low": 1, "high": 3}}]

    assert parse_stored_space(listed).to_dict() == {"x": {"type": "int", "low": 1, "high": 3}}
    with pytest.raises(SearchSpaceError, match="study 'demo': parameter 'x': missing 'high' for type 'int'"):
        parse_stored_space({"x": {"type": "int", "low": 1}}, source="study 'demo'")


def test_a_parameter_reads_back_from_its_own_dict() -> None:
    for parameter in parse(SPACE):
        assert (
            Parameter.from_dict(parameter.name, json.loads(json.dumps(parameter.to_dict()))).to_dict()
            == parameter.to_dict()
        )


# --- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [(1, 1.0, True), (True, 1, False), (False, 0, False), ("1", 1, False), (None, None, True), ("lstm", "lstm", True)],
)
def test_values_are_the_same_as_json_values_are(left: Any, right: Any, same: bool) -> None:
    assert same_value(left, right) is same


@pytest.mark.parametrize(
    ("active", "holds"),
    [
        ({"encoder": "cnn", "use_bias": True}, True),
        ({"encoder": 3, "use_bias": True}, True),
        ({"encoder": "cnn", "use_bias": False}, False),  # every parent must match
        ({"encoder": "cnn"}, False),  # an inactive parent holds no value
        ({"encoder": 3.0, "use_bias": 1}, False),  # 1 is not True
    ],
)
def test_a_condition_holds_only_when_every_parent_is_active_with_an_allowed_value(active: dict, holds: bool) -> None:
    kernel = next(p for p in parse(SPACE) if p.name == "kernel")

    assert is_active(kernel.condition, active) is holds
