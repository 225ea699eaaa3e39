"""Configs: JSON as is, Jsonnet with ext vars from arguments, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.train import TrainConfigError
from tuner.train.render import render_config_file

JSONNET = "{ lr: std.parseJson(std.extVar('lr')), name: std.extVar('name') }"


def test_ext_vars_come_from_arguments_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonnet"
    path.write_text(JSONNET)
    config = render_config_file(path, {"lr": "0.5"}, environ={"name": "env", "lr": "9"})
    assert config == {"lr": 0.5, "name": "env"}


def test_unset_ext_var_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonnet"
    path.write_text(JSONNET)
    with pytest.raises(TrainConfigError, match="external variable 'name' is not set; pass --ext-var name=VALUE"):
        render_config_file(path, {"lr": "1"}, environ={})


def test_json_configs_are_read_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"a": 1}')
    assert render_config_file(path) == {"a": 1}


def test_jsonnet_syntax_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonnet"
    path.write_text("{ a: }")
    with pytest.raises(TrainConfigError, match="Jsonnet error") as caught:
        render_config_file(path, environ={})
    assert "\n" not in str(caught.value)
