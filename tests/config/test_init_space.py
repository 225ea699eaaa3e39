"""`tune init-space`: a starting search space guessed from a config's ext vars, accepted by `tune` as written."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from tuner.config.init_space import Usage, guess_search_space, guess_strategy, usage_of
from tuner.config.preflight import prepare_config
from tuner.config.snapshot import capture_config, config_from_text
from tuner.config.sources import load_search_space
from tuner.space.parse import SearchSpaceWarning, parse_search_space

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["imdb_optuna", "digits_optuna", "nations_transe"])
def test_bundled_configs_get_a_space_that_passes_preflight(name):
    snapshot = capture_config(CONFIGS / f"{name}.jsonnet")
    guessed = guess_search_space(snapshot, environ={})

    assert list(guessed) == list(snapshot.ext_var_names())
    assert all(entry["review"].startswith("guessed by tune init-space: ") for entry in guessed.values())
    with pytest.warns(SearchSpaceWarning, match="still marked 'review'"):
        space = parse_search_space(json.loads(json.dumps(guessed)), source="hparams.json")
    prepare_config(snapshot, space, {}, environ={})


@pytest.mark.parametrize(
    ("name", "usage", "expected"),
    [
        ("lr", Usage("json", False), {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}),
        ("encoder_lr", Usage("json", False), {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}),
        ("dropout", Usage("json", False), {"type": "float", "low": 0.0, "high": 0.8}),
        ("hidden_dim", Usage("int", False), {"type": "int", "low": 32, "high": 512, "step": 32}),
        ("num_heads", Usage("int", False), {"type": "int", "low": 1, "high": 8}),
        ("num_negs", Usage("int", False), {"type": "int", "low": 1, "high": 16, "step": 1}),
        ("batch_size", Usage("int", False), {"type": "int", "scale": "power_two", "low": 4, "high": 8}),
        ("use_bias", Usage("json", False), {"type": "bool"}),
        ("anything", Usage("json", True), {"type": "bool"}),
        ("mystery", Usage("int", False), {"type": "int", "low": 1, "high": 10}),
        ("mystery", Usage("json", False), {"type": "float", "low": 0.0, "high": 1.0}),
        ("optimizer", Usage("raw", False), {"type": "categorical", "choices": ["adam", "sgd"]}),
        ("lr", Usage("int", False), {"type": "int", "low": 1, "high": 10}),
    ],
)
def test_strategy_is_guessed_from_name_and_cast(name, usage, expected):
    strategy, reason = guess_strategy(name, usage)
    assert strategy == expected
    assert reason


@pytest.mark.parametrize(
    ("name", "usage", "current", "expected"),
    [
        ("hidden_dim", Usage("int", False), "64", {"type": "int", "low": 16, "high": 256, "log": True}),
        ("lr", Usage("json", False), "0.05", {"type": "float", "low": 0.005, "high": 0.5, "log": True}),
        ("batch_size", Usage("int", False), "32", {"type": "int", "scale": "power_two", "low": 3, "high": 7}),
        ("num_layers", Usage("int", False), "3", {"type": "int", "low": 1, "high": 6}),
        ("dropout", Usage("json", False), "0.2", {"type": "float", "low": 0.0, "high": 0.8}),
        ("hidden_dim", Usage("int", False), "0", {"type": "int", "low": 32, "high": 512, "step": 32}),
    ],
)
def test_a_known_current_value_centres_the_range(name, usage, current, expected):
    strategy, reason = guess_strategy(name, usage, current)
    assert strategy == expected
    assert current in reason


def test_digits_space_from_the_baseline_stays_near_its_cost():
    """Sizes at most 4x the baseline's: 32..512 filters made a digits trial 60x slower."""
    baseline = capture_config(CONFIGS / "digits_baseline.jsonnet")
    guessed = guess_search_space(capture_config(CONFIGS / "digits_optuna.jsonnet"), environ={}, baseline=baseline)

    assert (guessed["num_filters"]["low"], guessed["num_filters"]["high"]) == (4, 64)
    assert (guessed["hidden_dim"]["low"], guessed["hidden_dim"]["high"]) == (16, 256)
    assert (guessed["lr"]["low"], guessed["lr"]["high"], guessed["lr"]["log"]) == (0.005, 0.5, True)


def test_the_environment_value_wins_over_the_baseline():
    baseline = capture_config(CONFIGS / "digits_baseline.jsonnet")
    guessed = guess_search_space(
        capture_config(CONFIGS / "digits_optuna.jsonnet"), environ={"hidden_dim": "32"}, baseline=baseline
    )
    assert (guessed["hidden_dim"]["low"], guessed["hidden_dim"]["high"]) == (8, 128)


def test_raw_string_of_unknown_name_uses_the_environment_value_or_a_placeholder():
    assert guess_strategy("dataset", Usage("raw", False), "mnist")[0] == {"type": "categorical", "choices": ["mnist"]}
    assert guess_strategy("dataset", Usage("raw", False))[0] == {"type": "categorical", "choices": ["CHANGE_ME"]}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{ a: std.parseInt(std.extVar('x')) }", Usage("int", False)),
        ("local x = std.extVar('x'); { a: std.parseJson(x) }", Usage("json", False)),
        ("{ a: std.extVar('x') }", Usage("raw", False)),
        ("{ a: std.extVar('x') == 'true' }", Usage("raw", True)),
        ("local x = std.parseJson(std.extVar('x')); { a: if x then 1 else 2 }", Usage("json", True)),
        ("{ a: if !std.parseJson(std.extVar('x')) then 1 else 2 }", Usage("json", True)),
    ],
)
def test_cast_and_boolean_use_are_read_from_the_source(source, expected):
    assert usage_of(source, "x") == expected


def test_commented_out_ext_vars_are_left_out():
    snapshot = config_from_text("// std.extVar('old')\n{ a: std.parseJson(std.extVar('dropout')) }")
    assert list(guess_search_space(snapshot, environ={})) == ["dropout"]


def test_cli_writes_the_file_and_tune_reads_it(tune_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "hparams.json"
    result = tune_cli("init-space", str(CONFIGS / "digits_optuna.jsonnet"), "-o", str(output))

    assert result.exit_code == 0, result.output
    assert "Wrote 6 guessed parameters" in result.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchSpaceWarning)
        assert load_search_space(output).names == [
            "lr",
            "dropout",
            "hidden_dim",
            "num_filters",
            "batch_size",
            "optimizer",
        ]

    again = tune_cli("init-space", str(CONFIGS / "digits_optuna.jsonnet"), "-o", str(output))
    assert again.exit_code == 2 and "exists; pass --force" in again.output


def test_cli_baseline_option_sets_ranges_around_its_values(tune_cli):
    result = tune_cli(
        "init-space", str(CONFIGS / "digits_optuna.jsonnet"), "--baseline", str(CONFIGS / "digits_baseline.jsonnet")
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["num_filters"]["high"] == 64


def test_tune_starts_a_study_from_the_written_file(tune_cli, quadratic_command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tune_cli("init-space", str(CONFIGS / "nations_transe.jsonnet"), "-o", "hparams.json").exit_code == 0

    # The quadratic trainer cannot train this config: the trial fails, but tune took the space as written.
    result = tune_cli(
        str(CONFIGS / "nations_transe.jsonnet"), "hparams.json", "--n-trials", "1", "--command", quadratic_command
    )

    assert result.exit_code == 1, result.output  # its only trial failed
    assert "6 parameter(s) still marked 'review'" in result.output
    assert "1 failed" in result.output


def test_cli_prints_the_space_without_output(tune_cli):
    result = tune_cli("init-space", str(CONFIGS / "imdb_optuna.jsonnet"))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["max_filter_size"]["low"] == 2


def test_cli_refuses_a_config_without_ext_vars(tune_cli, tmp_path):
    (tmp_path / "plain.jsonnet").write_text("{ a: 1 }")
    result = tune_cli("init-space", str(tmp_path / "plain.jsonnet"))
    assert result.exit_code == 2
    assert "reads no std.extVar" in result.output
