"""Bad search spaces: each is refused with one line that names the file, the parameter and the fix.

The messages are compared whole: they are what a user reads, did-you-mean hints included.
Pure data: the spaces are parsed as loaded, no files are read.
"""

from __future__ import annotations

from typing import Any

import pytest

from tuner.errors import SearchSpaceError
from tuner.space.parse import parse_search_space

ENCODER = {"enc": {"type": "categorical", "choices": ["a", "b"]}}
KINDS = "use one of int, float, bool, categorical"

BAD_SPACES: list[tuple[str, Any, str]] = [
    (
        "misspelt-type-name",
        {"x": {"type": "categorcal", "choices": [1]}},
        f"parameter 'x': unknown type 'categorcal' (did you mean 'categorical'?); {KINDS}",
    ),
    (
        "misspelt-type-in-capitals",
        {"x": {"type": "FLAOT", "low": 0, "high": 1}},
        f"parameter 'x': unknown type 'FLAOT' (did you mean 'float'?); {KINDS}",
    ),
    ("unknown-type-far-from-any", {"x": {"type": "xyzzy"}}, f"parameter 'x': unknown type 'xyzzy'; {KINDS}"),
    (
        "misspelt-type-key",
        {"x": {"tpye": "int", "low": 1, "high": 2}},
        "parameter 'x': unknown key 'tpye' (did you mean 'type'?)",
    ),
    ("no-type", {"x": {"low": 1, "high": 2}}, f"parameter 'x': missing or invalid 'type' None; {KINDS}"),
    (
        "misspelt-scale",
        {"x": {"type": "int", "low": 0, "high": 3, "scale": "powr"}},
        "parameter 'x': unknown scale 'powr' (did you mean 'power'?); use one of linear, power, power_two",
    ),
    (
        "misspelt-parent",
        {**ENCODER, "h": {"type": "bool", "condition": {"encc": "a"}}},
        "parameter 'h': condition names unknown parameter 'encc' (did you mean 'enc'?)",
    ),
    (
        "unknown-parent-far-from-any",
        {**ENCODER, "h": {"type": "bool", "condition": {"zzz": "a"}}},
        "parameter 'h': condition names unknown parameter 'zzz'",
    ),
    ("empty", {}, "the search space has no parameters"),
    (
        "not-a-space",
        42,
        "a search space is a list of {type, attributes} entries or a mapping from parameter name to strategy, not int",
    ),
    ("list-entry-not-object", [5], "entry 0: expected an object with 'type' and 'attributes', got 5"),
    (
        "list-entry-without-name",
        [{"type": "int", "attributes": {"low": 1}}],
        "entry 0: 'attributes' must be an object with a 'name'",
    ),
    ("empty-name", {"": {"type": "bool"}}, "every parameter needs a non-empty string name, got ''"),
    ("strategy-not-object", {"x": 3}, "parameter 'x': the strategy must be an object with a 'type', got 3"),
    (
        "duplicate-choice",
        {"x": {"type": "categorical", "choices": ["a", "b", "a"]}},
        "parameter 'x': choice \"a\" is listed more than once",
    ),
    (
        "object-choice",
        {"x": {"type": "categorical", "choices": [{"a": 1}]}},
        "parameter 'x': choice {\"a\": 1} is not a string, number, boolean or null; "
        + "write it as a string and decode it in the config with std.parseJson",
    ),
    (
        "infinite-choice",
        {"x": {"type": "categorical", "choices": [1.0, float("inf")]}},
        "parameter 'x': choice inf is not a finite number; give numbers or strings",
    ),
    (
        "key-of-another-type",
        {"x": {"type": "bool", "low": 0}},
        "parameter 'x': unknown key(s) 'low' for type 'bool' (allowed: condition, default, review)",
    ),
    (
        "base-without-power",
        {"x": {"type": "int", "low": 1, "high": 3, "base": 3}},
        "parameter 'x': 'base' only applies with scale 'power'",
    ),
    (
        "negative-exponent",
        {"x": {"type": "int", "scale": "power", "low": -1, "high": 3}},
        "parameter 'x': with scale 'power', low and high are exponents and must be >= 0, got low -1",
    ),
    (
        "review-not-text",
        {"x": {"type": "bool", "review": 1}},
        "parameter 'x': 'review' is a note for people and must be a string",
    ),
    (
        "log-not-bool",
        {"x": {"type": "float", "low": 0.1, "high": 1, "log": "yes"}},
        "parameter 'x': 'log' must be true or false, got 'yes'",
    ),
    (
        "int-beyond-2**53",
        {"x": {"type": "int", "low": 0, "high": 2**60}},
        "parameter 'x': 'high' is 1152921504606846976, beyond ±2**53, which Jsonnet and Optuna cannot hold exactly",
    ),
]


@pytest.mark.parametrize(("space", "message"), [pytest.param(s, m, id=i) for i, s, m in BAD_SPACES])
def test_a_bad_space_is_refused_with_one_exact_line(space: Any, message: str) -> None:
    with pytest.raises(SearchSpaceError) as raised:
        parse_search_space(space, source="space.json")

    assert str(raised.value) == f"space.json: {message}"


def test_a_pykeen_hpo_config_is_refused_with_how_to_split_it() -> None:
    hpo = {"optuna": {"n_trials": 3}, "pipeline": {"model": "TransE", "model_kwargs_ranges": {"embedding_dim": {}}}}

    with pytest.raises(SearchSpaceError) as raised:
        parse_search_space(hpo, source="hpo.json")

    message = str(raised.value)
    assert message.startswith("hpo.json: this is a PyKEEN hpo_pipeline config, which tune reads in two files")
    assert "(model_kwargs_ranges.embedding_dim)" in message and "docs/pykeen.md" in message
    assert "\n" not in message
