"""Conditional parameters: sampled only when their parents match; otherwise rendered as their default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

import tuner
from tests.conftest import TRAINERS
from tuner.config.preflight import prepare_config
from tuner.config.snapshot import config_from_text
from tuner.errors import ConfigError, SearchSpaceError
from tuner.space.parse import parse_search_space
from tuner.study.records import trial_config

SPACE = {
    "encoder": {"type": "categorical", "choices": ["lstm", "cnn"]},
    "hidden_size": {"type": "int", "low": 32, "high": 256, "step": 32, "condition": {"encoder": "lstm"}, "default": 0},
    "num_filters": {"type": "int", "low": 8, "high": 64, "condition": {"encoder": ["cnn"]}},
}
CONFIG = """
{
  encoder: std.extVar('encoder'),
  hidden_size: std.parseInt(std.extVar('hidden_size')),
  num_filters: std.parseInt(std.extVar('num_filters')),
  x: 3,
  epochs: 1,
  trainer: { validation_metric: '+accuracy' },
}
"""


def sample(space, n: int, seed: int = 0) -> list[tuple[dict, dict]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    samples = []
    for _ in range(n):
        trial = study.ask()
        rendered = space.suggest(trial)
        study.tell(trial, 0.0)
        samples.append((dict(trial.params), rendered))
    return samples


def test_inactive_parameters_are_not_suggested_to_optuna():
    for params, rendered in sample(parse_search_space(SPACE), 20):
        if params["encoder"] == "lstm":
            assert set(params) == {"encoder", "hidden_size"}
            assert rendered == {**params, "num_filters": 8}
        else:
            assert set(params) == {"encoder", "num_filters"}
            assert rendered == {**params, "hidden_size": 0}


def test_default_is_the_low_end_or_first_choice_unless_given():
    space = parse_search_space(SPACE)
    assert [parameter.default for parameter in space] == [None, 0, 8]
    choice = parse_search_space(
        {"a": {"type": "bool"}, "b": {"type": "categorical", "choices": ["x", "y"], "condition": {"a": True}}}
    )
    assert choice.parameters[1].default == "x"


def test_list_format_takes_condition_and_default_in_attributes():
    space = parse_search_space(
        [
            {"type": "categorical", "attributes": {"name": "encoder", "choices": ["lstm", "cnn"]}},
            {
                "type": "int",
                "attributes": {
                    "name": "hidden_size",
                    "low": 32,
                    "high": 256,
                    "condition": {"encoder": "lstm"},
                    "default": 128,
                },
            },
        ]
    )
    assert space.parameters[1].condition == (("encoder", ("lstm",)),)
    assert space.complete({"encoder": "cnn"}) == {"encoder": "cnn", "hidden_size": 128}


def test_stored_form_round_trips_conditions_and_defaults():
    space = parse_search_space(SPACE)
    stored = json.loads(json.dumps(space.to_dict()))
    assert stored["hidden_size"]["condition"] == {"encoder": "lstm"} and stored["hidden_size"]["default"] == 0
    assert parse_search_space(stored) == parse_search_space(stored)
    assert parse_search_space(stored).to_dict() == space.to_dict()


def test_parents_may_come_after_children_in_the_file():
    space = parse_search_space(
        {"child": {"type": "bool", "condition": {"parent": 1}}, "parent": {"type": "int", "low": 0, "high": 2}}
    )
    assert space.names == ["parent", "child"]


def test_a_grandchild_is_inactive_when_its_parent_is():
    space = parse_search_space(
        {
            "use_rnn": {"type": "bool"},
            "cell": {"type": "categorical", "choices": ["lstm", "gru"], "condition": {"use_rnn": True}},
            "peepholes": {"type": "bool", "condition": {"cell": "lstm"}, "default": False},
        }
    )
    assert space.resolve({"use_rnn": False, "cell": "lstm", "peepholes": True}) == {
        "use_rnn": False,
        "cell": "lstm",
        "peepholes": False,
    }
    assert space.resolve({"use_rnn": True, "cell": "lstm", "peepholes": True})["peepholes"] is True


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"condition": {"encodr": "lstm"}}, "unknown parameter 'encodr' \\(did you mean 'encoder'\\?\\)"),
        (
            {"condition": {"encoder": "gru"}},
            'condition encoder = "gru" can never hold: \'encoder\' takes one of "lstm", "cnn"',
        ),
        ({"condition": {"size": 3}}, "condition size = 3 can never hold"),
        ({"condition": {"child": True}}, "a parameter cannot be conditional on itself"),
        ({"default": 4}, "'default' is the value while a condition is not met"),
        ({"condition": "encoder"}, "'condition' must be an object"),
        ({"condition": {"encoder": "lstm"}, "default": [1]}, "'default' must be a string, number, boolean or null"),
    ],
)
def test_invalid_conditions_name_the_problem(strategy, message):
    space = {
        "encoder": {"type": "categorical", "choices": ["lstm", "cnn"]},
        "size": {"type": "int", "low": 0, "high": 8, "step": 2},
        "child": {"type": "bool", **strategy},
    }
    with pytest.raises(SearchSpaceError, match=message):
        parse_search_space(space, source="hp.json")


def test_a_cycle_of_conditions_is_refused():
    space = {"a": {"type": "bool", "condition": {"b": True}}, "b": {"type": "bool", "condition": {"a": True}}}
    with pytest.raises(SearchSpaceError, match=r"cycle \(a -> b -> a\)"):
        parse_search_space(space)


def test_grid_search_refuses_conditional_spaces():
    with pytest.raises(
        SearchSpaceError, match="grid search cannot follow conditions \\(on hidden_size, num_filters\\)"
    ):
        parse_search_space(SPACE).grid()


def test_preflight_renders_children_active_and_inactive():
    config = config_from_text(
        "{ h: if std.extVar('encoder') == 'lstm' then std.parseInt(std.extVar('hidden_size')) else 0,"
        "  f: std.parseInt(std.extVar('num_filters')) }"
    )
    prepared = prepare_config(config, parse_search_space(SPACE), {}, environ={})
    assert prepared.rendered_low == {"h": 32, "f": 8}

    bad_default = {**SPACE, "num_filters": {**SPACE["num_filters"], "default": "none"}}
    with pytest.raises(ConfigError, match="num_filters=none"):
        prepare_config(config, parse_search_space(bad_default), {}, environ={})


def test_preflight_activates_a_child_that_neither_end_of_its_parent_activates():
    config = config_from_text(
        "{ w: if std.parseInt(std.extVar('layers')) == 2 then std.parseInt(std.extVar('width')) else 0 }"
    )
    space = {
        "layers": {"type": "int", "low": 0, "high": 3},
        "width": {"type": "float", "low": 0.5, "high": 1.0, "condition": {"layers": 2}},
    }
    with pytest.raises(ConfigError, match="pre-flight render at width active at its low end: layers=2, width=0.5"):
        prepare_config(config, parse_search_space(space), {}, environ={})


def test_study_stores_only_active_params_and_best_config_fills_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"
    result = tuner.tune(
        config=CONFIG,
        search_space=SPACE,
        n_trials=4,
        sampler="random",
        seed=2,
        pruner="none",
        command=command,
        warm_launch=False,
    )
    for trial in result.study.trials:
        assert ("hidden_size" in trial.params) == (trial.params["encoder"] == "lstm")
        assert ("num_filters" in trial.params) == (trial.params["encoder"] == "cnn")
        rendered = trial_config(result.study, trial)
        assert rendered["hidden_size"] == trial.params.get("hidden_size", 0)
        assert rendered["num_filters"] == trial.params.get("num_filters", 8)
        trial_dir = Path(trial.user_attrs["launch"]["directory"])
        assert json.loads((trial_dir / "config.json").read_text()) == rendered
