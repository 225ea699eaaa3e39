"""The fast Jsonnet engine is used only where pre-flight saw it render exactly like jsonnet."""

from __future__ import annotations

import pytest

from tuner import config as config_module
from tuner.config import capture_config
from tuner.preflight import prepare_config
from tuner.search_space import parse_search_space

pytest.importorskip("rjsonnet", reason="the fast engine is the optional extra tuner[fast]")

CONFIG = """
local lr = std.parseJson(std.extVar('lr'));
{ lr: lr, layers: std.parseInt(std.extVar('layers')), name: 'm-' + std.extVar('act'), sizes: std.range(1, 3) }
"""
SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "act": {"type": "categorical", "choices": ["relu", "tanh"]},
}


def test_single_file_config_renders_with_the_fast_engine_and_the_same_result(tmp_path):
    (tmp_path / "c.jsonnet").write_text(CONFIG)
    prepared = prepare_config(capture_config(tmp_path / "c.jsonnet"), parse_search_space(SPACE), {})

    assert prepared.snapshot.fast
    params = {"lr": 1e-05, "layers": 3, "act": "tanh"}
    reference = prepared.snapshot.__class__(prepared.snapshot.entry, prepared.snapshot.files)
    assert prepared.snapshot.render(params) == reference.render(params)
    assert prepared.snapshot.render(params) == {"lr": 1e-05, "layers": 3, "name": "m-tanh", "sizes": [1, 2, 3]}


def test_config_with_imports_keeps_the_reference_engine(tmp_path):
    (tmp_path / "lib.libsonnet").write_text("{ base: 1 }")
    (tmp_path / "c.jsonnet").write_text(
        "(import 'lib.libsonnet') + { lr: std.parseJson(std.extVar('lr')), layers: std.parseInt(std.extVar('layers')), act: std.extVar('act') }"
    )
    prepared = prepare_config(capture_config(tmp_path / "c.jsonnet"), parse_search_space(SPACE), {})
    assert not prepared.snapshot.fast
    assert prepared.snapshot.render({"lr": 0.1, "layers": 1, "act": "relu"})["base"] == 1


def test_engines_that_disagree_keep_the_reference_engine(tmp_path, monkeypatch):
    (tmp_path / "c.jsonnet").write_text(CONFIG)
    real = config_module._fast_evaluate
    monkeypatch.setattr(config_module, "_fast_evaluate", lambda *args: real(*args).replace("m-", "x-"))
    prepared = prepare_config(capture_config(tmp_path / "c.jsonnet"), parse_search_space(SPACE), {})
    assert not prepared.snapshot.fast
    assert prepared.snapshot.render({"lr": 0.1, "layers": 1, "act": "relu"})["name"] == "m-relu"


def test_render_errors_come_from_the_reference_engine(tmp_path):
    (tmp_path / "c.jsonnet").write_text(CONFIG)
    prepared = prepare_config(capture_config(tmp_path / "c.jsonnet"), parse_search_space(SPACE), {})
    with pytest.raises(config_module.ConfigError, match=r"c.jsonnet:3: RUNTIME ERROR: .*not a base 10 integer"):
        prepared.snapshot.render({"lr": 0.1, "layers": 1.5, "act": "relu"})
