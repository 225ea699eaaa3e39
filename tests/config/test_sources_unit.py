"""A config or search space given as a path, as text or as data: which one a value is, and what it becomes.

Complements tests/e2e/test_api.py; nothing is rendered (JSON text only) and nothing is run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuner.config.snapshot import TEXT_ENTRY
from tuner.config.sources import is_path, load_space, search_space_from_text, snapshot_and_study_name
from tuner.errors import ConfigError, SearchSpaceError
from tuner.space.parse import parse_search_space

SPACE = {"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("configs/imdb.jsonnet", True),  # looks like a file name: a missing file is reported as such
        ("  space.json  ", True),
        ("lib/common.libsonnet", True),
        (Path("no-suffix"), True),  # a Path is always a path
        ("{ a: 1 }", False),
        ('{"a": "b.json"}', False),  # braces make it text, whatever it ends with
        ("[1, 2]", False),
        ("{ a: 1 }\n// see x.jsonnet", False),
        ("x.jsonnet\n", False),  # more than one line is text
        ("imdb", False),  # neither an existing file nor a config's name
        (42, False),
        ({"a": 1}, False),
    ],
)
def test_what_counts_as_a_path(value: Any, path: bool) -> None:
    assert is_path(value) is path


def test_an_existing_file_is_a_path_whatever_its_name(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("{}")

    assert is_path(str(tmp_path / "config"))
    assert not is_path(str(tmp_path / "other"))


# --- configs ------------------------------------------------------------------------------------


def test_a_config_file_is_named_by_its_stem(tmp_path: Path) -> None:
    (tmp_path / "imdb.jsonnet").write_text("{ epochs: 1 }")

    snapshot, name = snapshot_and_study_name(str(tmp_path / "imdb.jsonnet"))

    assert name == "imdb"
    assert snapshot.entry == str(tmp_path / "imdb.jsonnet")


def test_config_text_is_named_by_its_content() -> None:
    snapshot, name = snapshot_and_study_name("{ epochs: 1 }")

    assert snapshot.entry == TEXT_ENTRY
    assert name.startswith("config-") and len(name) == len("config-") + 8
    assert snapshot_and_study_name("{ epochs: 1 }")[1] == name  # the same config resumes the same study
    assert snapshot_and_study_name("{ epochs: 2 }")[1] != name  # an edited one starts a new one


def test_a_config_dict_is_stored_as_json_text() -> None:
    snapshot, name = snapshot_and_study_name({"epochs": 1, "trainer": {"validation_metric": "+accuracy"}})

    assert json.loads(snapshot.files[TEXT_ENTRY]) == {"epochs": 1, "trainer": {"validation_metric": "+accuracy"}}
    assert name == snapshot_and_study_name({"epochs": 1, "trainer": {"validation_metric": "+accuracy"}})[1]


def test_a_config_of_another_type_is_an_error_naming_the_type() -> None:
    with pytest.raises(ConfigError, match=r"^config must be a path, Jsonnet text or a dict, got int$"):
        snapshot_and_study_name(3)


# --- search spaces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        json.dumps(SPACE),
        SPACE,
        [{"type": "float", "attributes": {"name": "lr", "low": 0.001, "high": 0.1, "log": True}}],
    ],
    ids=["json-text", "mapping", "list"],
)
def test_a_space_given_as_text_or_data_is_the_same_space(given: Any) -> None:
    space = load_space(given)

    assert space.to_dict() == SPACE
    assert space.source == "<search_space argument>"


def test_a_parsed_space_is_used_as_given() -> None:
    space = parse_search_space(SPACE)

    assert load_space(space) is space


def test_a_space_of_another_type_is_an_error_naming_the_type() -> None:
    with pytest.raises(
        SearchSpaceError, match=r"^search_space must be a path, JSON/Jsonnet text, a dict or a list, got float$"
    ):
        load_space(1.5)


def test_a_missing_space_file_is_reported_as_missing() -> None:
    with pytest.raises(SearchSpaceError, match=r"^nowhere/space\.json: search-space file not found$"):
        load_space("nowhere/space.json")


def test_a_number_json_cannot_hold_is_an_error_in_one_line() -> None:
    text = '{"lr": {"type": "int", "low": 1, "high": 1' + "0" * 5000 + "}}"

    with pytest.raises(SearchSpaceError) as raised:
        search_space_from_text(text, source="s.json", jsonnet=False)

    assert str(raised.value).startswith("s.json: invalid number in search space: Exceeds the limit (4300 digits)")
    assert "\n" not in str(raised.value) and "0" * 100 not in str(raised.value)
