"""Sampled values on the command line and in the environment (tuner.trials.params_env)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuner.errors import OptionError
from tuner.trials.launch import CommandTemplate
from tuner.trials.params_env import check_env_names, env_name, params_env, substitute


def render(command: str, params: dict, names: tuple[str, ...] | None = None) -> list[str]:
    template = CommandTemplate.parse(command, tuple(params) if names is None else names)
    return template.render(config=Path("c.json"), serialization_dir=Path("out"), trial_number=7, params=params)


def test_names_that_are_not_identifiers_map_to_underscored_upper_case_variables():
    assert env_name("model.lr") == "TUNER_PARAM_MODEL_LR"
    assert env_name("warmup-steps") == "TUNER_PARAM_WARMUP_STEPS"
    assert env_name("Dropout2") == "TUNER_PARAM_DROPOUT2"


def test_floats_are_written_exactly_as_sampled_and_booleans_as_json():
    params = {"lr": 0.1 + 0.2, "tiny": 1e-05, "big": 12345678901234567890, "flag": True, "act": "relu"}
    argv = render("{python} t.py {lr} {tiny} {big} {flag} {act} --n={trial_number}", params)

    assert argv[2:] == ["0.30000000000000004", "1e-05", "12345678901234567890", "true", "relu", "--n=7"]
    assert float(argv[2]) == params["lr"]


def test_a_value_is_never_read_for_placeholders():
    assert render("{python} t.py {a} {b}", {"a": "{b}", "b": "x"})[2:] == ["{b}", "x"]


def test_a_null_value_drops_its_argument_and_the_option_before_it():
    argv = substitute(["t", "--m", "{m}", "--n={m}", "-0.5", "{m}", "--k", "{k}"], {"m": None, "k": "1"})

    assert argv == ["t", "-0.5", "--k", "1"]  # -0.5 is a value, not an option: it stays


def test_environment_has_each_value_and_all_as_json_and_drops_stale_ones():
    env = params_env({"model.lr": 0.5, "off": None}, inherited={"TUNER_PARAM_OLD": "1", "HOME": "/"})

    assert env == {
        "TUNER_PARAM_OLD": None,
        "TUNER_PARAM_MODEL_LR": "0.5",
        "TUNER_PARAM_OFF": None,
        "TUNER_PARAMS": json.dumps({"model.lr": 0.5, "off": None}),
    }


def test_two_parameters_sharing_a_variable_are_refused():
    with pytest.raises(OptionError, match="'model-lr' and 'model_lr' would both be \\$TUNER_PARAM_MODEL_LR"):
        check_env_names(["model-lr", "model_lr"])


def test_a_placeholder_that_is_neither_built_in_nor_a_parameter_is_refused_naming_the_parameters():
    with pytest.raises(OptionError, match=r"unknown placeholder \{depth\}.*a parameter of the search space \(\{lr\}\)"):
        CommandTemplate.parse("{python} t.py {depth}", ("lr",))


def test_without_parameters_a_json_argument_is_not_a_placeholder():
    assert render("""{python} t.py '{"a": 1}'""", {}, names=())[2:] == ['{"a": 1}']
