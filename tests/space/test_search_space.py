"""Search spaces: both file formats, PyKEEN's strategy options, validation, and real sampling."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

from tuner.config.sources import load_search_space
from tuner.errors import SearchSpaceError
from tuner.space.parameters import SearchSpace
from tuner.space.parse import SearchSpaceWarning, parse_search_space

# The search space of the AllenNLP + Optuna tutorial (seed document), byte for byte.
SEED_HPARAMS_JSON = """[
  {
    "type": "int",
    "attributes": {
      "name": "embedding_dim",
      "low": 32,
      "high": 256
    }
  },
  {
    "type": "int",
    "attributes": {
      "name": "max_filter_size",
      "low": 2,
      "high": 6
    }
  },
  {
    "type": "int",
    "attributes": {
      "name": "num_filters",
      "low": 32,
      "high": 256
    }
  },
  {
    "type": "int",
    "attributes": {
      "name": "output_dim",
      "low": 32,
      "high": 256
    }
  },
  {
    "type": "float",
    "attributes": {
      "name": "dropout",
      "low": 0.0,
      "high": 0.8
    }
  },
  {
    "type": "float",
    "attributes": {
      "name": "lr",
      "low": 5e-3,
      "high": 5e-1,
      "log": true
    }
  }
]
"""

optuna.logging.set_verbosity(optuna.logging.WARNING)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def parse(space: Any) -> SearchSpace:
    """Parse a mapping- or list-format space, failing the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return parse_search_space(space, source="space.json")


def sample(space: SearchSpace, sampler: optuna.samplers.BaseSampler, n_trials: int) -> list[dict[str, Any]]:
    """Run a real in-memory Optuna study for up to ``n_trials`` trials; the values each one got."""
    samples: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        samples.append(space.suggest(trial))
        return 0.0

    optuna.create_study(sampler=sampler).optimize(objective, n_trials=n_trials)
    return samples


# --- formats and files --------------------------------------------------------------------------


def test_seed_hparams_json_parses_verbatim(tmp_path: Path) -> None:
    space = load_search_space(write(tmp_path / "hparams.json", SEED_HPARAMS_JSON))

    assert space.to_dict() == {
        "embedding_dim": {"type": "int", "low": 32, "high": 256},
        "max_filter_size": {"type": "int", "low": 2, "high": 6},
        "num_filters": {"type": "int", "low": 32, "high": 256},
        "output_dim": {"type": "int", "low": 32, "high": 256},
        "dropout": {"type": "float", "low": 0.0, "high": 0.8},
        "lr": {"type": "float", "low": 5e-3, "high": 5e-1, "log": True},
    }


def test_list_format_loads_from_a_jsonnet_file(tmp_path: Path) -> None:
    jsonnet = """
    local dim(name) = { type: 'int', attributes: { name: name, low: 32, high: 256 } };
    [dim('embedding_dim'), dim('output_dim')]
    """
    space = load_search_space(write(tmp_path / "hparams.jsonnet", jsonnet))

    assert space.to_dict() == {
        "embedding_dim": {"type": "int", "low": 32, "high": 256},
        "output_dim": {"type": "int", "low": 32, "high": 256},
    }


def test_mapping_format_loads_from_a_json_file(tmp_path: Path) -> None:
    mapping = {"embedding_dim": {"type": "int", "low": 16, "high": 256, "step": 16}, "use_bias": {"type": "bool"}}
    space = load_search_space(write(tmp_path / "space.json", json.dumps(mapping)))

    assert space.to_dict() == {
        "embedding_dim": {"type": "int", "low": 16, "high": 256, "step": 16},
        "use_bias": {"type": "bool"},
    }


def test_mapping_format_loads_from_a_jsonnet_file_with_an_import_from_a_subfolder(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "common.libsonnet", "{ lr: { type: 'float', low: 1e-4, high: 1e-1, log: true } }")
    path = write(
        tmp_path / "space.jsonnet", "(import 'lib/common.libsonnet') + { layers: { type: 'int', low: 1, high: 3 } }"
    )

    assert load_search_space(path).to_dict() == {
        "layers": {"type": "int", "low": 1, "high": 3},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    }


def test_stored_mapping_reads_back_to_the_same_space() -> None:
    stored = parse(
        {
            "units": {"type": "int", "low": 8, "high": 64, "step": 8},
            "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "width": {"type": "int", "scale": "power_two", "low": 2, "high": 5},
            "use_bias": {"type": "bool"},
            "encoder": {"type": "categorical", "choices": ["cnn", "lstm"]},
        }
    ).to_dict()

    assert parse(stored).to_dict() == stored
    assert stored["width"] == {"type": "categorical", "choices": [4, 8, 16, 32]}


# --- PyKEEN strategy options --------------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["int", "Int", "INT", "integer"])
def test_type_names_are_case_insensitive(type_name: str) -> None:
    space = parse({"layers": {"type": type_name, "low": 1, "high": 4}})

    assert space.to_dict() == {"layers": {"type": "int", "low": 1, "high": 4}}


@pytest.mark.parametrize(("python_type", "kind"), [(int, "int"), (float, "float"), (bool, "bool")])
def test_python_types_name_the_kind_as_in_pykeen(python_type: type, kind: str) -> None:
    strategy: dict[str, Any] = {"type": python_type}
    if kind != "bool":
        strategy.update(low=1, high=4)

    assert parse({"x": strategy}).to_dict()["x"]["type"] == kind


@pytest.mark.parametrize("step_key", ["step", "q"])
def test_step_and_its_legacy_name_q_discretise_the_range(step_key: str) -> None:
    space = parse({"embedding_dim": {"type": "int", "low": 100, "high": 500, step_key: 100}})

    assert space.grid() == {"embedding_dim": [100, 200, 300, 400, 500]}


def test_float_step_that_divides_the_range_keeps_the_upper_bound() -> None:
    space = parse({"dropout": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.1}})

    assert space.to_dict()["dropout"]["high"] == 1.0


@pytest.mark.parametrize(
    ("strategy", "trimmed_high"),
    [
        ({"type": "int", "low": 10, "high": 105, "step": 10}, 100),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.3}, 0.9),
    ],
)
def test_step_not_dividing_the_range_drops_the_upper_bound_with_a_warning(strategy: dict, trimmed_high: float) -> None:
    with pytest.warns(SearchSpaceWarning, match=r"parameter 'x'.*does not divide the range") as caught:
        space = parse_search_space({"x": strategy}, source="space.json")

    assert space.to_dict()["x"]["high"] == trimmed_high
    assert str(trimmed_high) in str(caught[0].message)


def test_power_scale_chooses_among_powers_of_the_base() -> None:
    space = parse({"num_negs_per_pos": {"type": "int", "scale": "power", "base": 10, "low": 0, "high": 2}})

    assert space.grid() == {"num_negs_per_pos": [1, 10, 100]}


def test_power_two_scale_chooses_among_powers_of_two() -> None:
    space = parse({"output_channels": {"type": "int", "scale": "power_two", "low": 4, "high": 7}})

    assert space.grid() == {"output_channels": [16, 32, 64, 128]}


def test_bool_chooses_between_true_and_false() -> None:
    space = parse({"use_bias": {"type": "bool"}})

    assert space.grid() == {"use_bias": [True, False]}


def test_log_range_is_sampled_on_a_log_scale() -> None:
    space = parse(json.loads(SEED_HPARAMS_JSON))
    study = optuna.create_study()
    trial = study.ask()
    space.suggest(trial)

    assert trial.distributions["lr"] == optuna.distributions.FloatDistribution(5e-3, 5e-1, log=True)


# --- sampling stays inside the space ------------------------------------------------------------

MIXED_SPACE = {
    "units": {"type": "int", "low": 16, "high": 100, "step": 16},  # trimmed to 96
    "layers": {"type": "int", "low": 1, "high": 64, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "q": 0.1},
    "lr": {"type": "float", "low": 5e-3, "high": 5e-1, "log": True},
    "negatives": {"type": "int", "scale": "power", "base": 3, "low": 1, "high": 4},
    "use_bias": {"type": "bool"},
    "encoder": {"type": "categorical", "choices": ["cnn", "lstm", "boe"]},
}


def test_random_sampling_stays_within_bounds_steps_and_choices() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchSpaceWarning)
        space = parse_search_space(MIXED_SPACE)

    samples = sample(space, optuna.samplers.RandomSampler(seed=0), n_trials=300)

    for values in samples:
        assert values["units"] in range(16, 97, 16)
        assert isinstance(values["layers"], int) and 1 <= values["layers"] <= 64
        assert any(math.isclose(values["dropout"], point, abs_tol=1e-9) for point in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5))
        assert 5e-3 <= values["lr"] <= 5e-1
        assert values["negatives"] in (3, 9, 27, 81)
        assert values["use_bias"] in (True, False) and isinstance(values["use_bias"], bool)
        assert values["encoder"] in ("cnn", "lstm", "boe")
    assert {values["units"] for values in samples} == set(range(16, 97, 16))  # the trimmed top is reachable


def test_grid_lists_every_value_of_each_discrete_parameter() -> None:
    space = parse(
        {
            "units": {"type": "int", "low": 16, "high": 64, "step": 16},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
            "encoder": {"type": "categorical", "choices": ["cnn", "lstm"]},
        }
    )

    assert space.grid() == {"units": [16, 32, 48, 64], "dropout": [0.0, 0.25, 0.5], "encoder": ["cnn", "lstm"]}


def test_grid_sampler_visits_every_combination_exactly_once() -> None:
    space = parse(
        {
            "units": {"type": "int", "low": 1, "high": 3},
            "use_bias": {"type": "bool"},
            "encoder": {"type": "categorical", "choices": ["cnn", "lstm"]},
        }
    )

    samples = sample(space, optuna.samplers.GridSampler(space.grid(), seed=0), n_trials=50)

    seen = [tuple(values.values()) for values in samples]
    assert sorted(seen, key=repr) == sorted(itertools.product([1, 2, 3], [True, False], ["cnn", "lstm"]), key=repr)


def test_grid_of_a_continuous_float_is_an_error_naming_the_parameter() -> None:
    space = parse({"dropout": {"type": "float", "low": 0.0, "high": 0.5}})

    with pytest.raises(SearchSpaceError, match=r"parameter 'dropout'.*grid search needs a finite set"):
        space.grid()


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "problem"),
    [
        pytest.param(
            {"type": "flaot", "low": 0, "high": 1}, "unknown type 'flaot' (did you mean 'float'?)", id="unknown-type"
        ),
        pytest.param({"type": "int", "low": 1, "hihg": 4}, "unknown key(s) 'hihg'", id="unknown-key"),
        pytest.param({"type": "float", "low": 0.1}, "missing 'high'", id="missing-bound"),
        pytest.param({"type": "int", "low": 5, "high": 1}, "low (5) is greater than high (1)", id="low-above-high"),
        pytest.param(
            {"type": "float", "low": 0.0, "high": 1.0, "log": True},
            "must be greater than 0 when log is true",
            id="log-from-zero",
        ),
        pytest.param({"type": "categorical", "choices": []}, "'choices' must be a non-empty list", id="empty-choices"),
        pytest.param(
            {"type": "int", "low": 1, "high": 64, "step": 2, "log": True},
            "'step' cannot be combined with 'log' (Optuna samples",
            id="step-with-log",
        ),
        pytest.param(
            {"type": "int", "low": 0, "high": 8, "step": 2, "q": 2},
            "give 'step' or its legacy name 'q', not both",
            id="step-and-q",
        ),
        pytest.param(
            {"type": "float", "scale": "power", "low": 0, "high": 3},
            "scale 'power' only applies to type 'int'",
            id="power-on-float",
        ),
        pytest.param(
            {"type": "int", "low": 1.5, "high": 4},
            "'low' must be an integer for type 'int', got 1.5",
            id="fractional-int-bound",
        ),
        pytest.param(
            {"type": "int", "low": True, "high": 4},
            "'low' must be an integer for type 'int', got True",
            id="bool-bound",
        ),
        pytest.param(
            {"type": "float", "low": 0.0, "high": False},
            "'high' must be a finite number for type 'float', got False",
            id="bool-float-bound",
        ),
        pytest.param({"type": "int", "low": 0, "high": 8, "step": 0}, "'step' must be greater than 0", id="zero-step"),
    ],
)
def test_invalid_strategy_is_an_error_naming_file_parameter_and_problem(
    tmp_path: Path, strategy: dict, problem: str
) -> None:
    path = write(tmp_path / "space.json", json.dumps({"x": strategy}))

    with pytest.raises(SearchSpaceError) as raised:
        load_search_space(path)

    assert f"{path}: parameter 'x'" in str(raised.value)
    assert problem in str(raised.value)


DUPLICATED_ENTRY = {"type": "int", "attributes": {"name": "num_filters", "low": 32, "high": 256}}


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        pytest.param(
            "hparams.json",
            json.dumps([DUPLICATED_ENTRY, DUPLICATED_ENTRY]),
            ": parameter 'num_filters' is defined twice",
            id="duplicate-list-names",
        ),
        pytest.param(
            "space.json",
            '{"lr": {"type": "bool"},\n "lr": {"type": "float", "low": 0.001, "high": 0.01}}',
            ": key 'lr' appears twice",
            id="duplicate-mapping-names",
        ),
        pytest.param(
            "hparams.json",
            json.dumps([{"type": "int", "attrs": {"name": "x"}}]),
            ": entry 0: unknown key(s) 'attrs'",
            id="unknown-list-key",
        ),
        pytest.param(
            "space.json",
            '{\n  "x": {"type": "int", "low": 1, "high": 2},\n}\n',
            ":3:1: invalid JSON",
            id="invalid-json",
        ),
        pytest.param(
            "space.jsonnet", "{\n  x: { type: 'bool' }\n  y: { type: 'bool' },\n}\n", ":3:3", id="jsonnet-syntax-error"
        ),
    ],
)
def test_malformed_space_file_is_an_error_naming_the_file_and_problem(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = write(tmp_path / name, text)

    with pytest.raises(SearchSpaceError) as raised:
        load_search_space(path)

    assert f"{path}{problem}" in str(raised.value)


def test_missing_space_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match=r"nowhere\.json: search-space file not found"):
        load_search_space(tmp_path / "nowhere.json")
