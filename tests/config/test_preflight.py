"""Pre-flight: every ext var is provided and the config renders across the space, before any trial."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from tuner.config.preflight import MIDDLE_CHOICES_RENDERED, PreparedConfig, UnusedParameterWarning, prepare_config
from tuner.config.snapshot import ConfigSnapshot, capture_config
from tuner.errors import ConfigError
from tuner.space.parse import parse_search_space

LR_SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}


def prepare(
    tmp_path: Path,
    config: str,
    space: dict[str, Any] = LR_SPACE,
    *,
    ext_vars: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
) -> PreparedConfig:
    """Write ``config`` to tmp_path/config.jsonnet and run the pre-flight checks on it."""
    path = tmp_path / "config.jsonnet"
    path.write_text(config)
    return prepare_config(
        capture_config(path),
        parse_search_space(space, source="space.json"),
        ext_vars or {},
        environ=environ or {},
    )


def preflight_error(tmp_path: Path, config: str) -> str:
    """The message of the ConfigError that pre-flight raises for ``config``."""
    with pytest.raises(ConfigError) as raised:
        prepare(tmp_path, config)
    return str(raised.value)


def test_missing_ext_var_is_an_error_naming_it_and_where_it_is_read(tmp_path: Path) -> None:
    message = preflight_error(
        tmp_path, "{\n  lr: std.parseJson(std.extVar('lr')),\n  data: std.extVar('data_path'),\n}\n"
    )

    assert message.startswith(f"{tmp_path / 'config.jsonnet'}:3:")
    assert "ext var 'data_path'" in message
    assert "--ext-var data_path=VALUE" in message


def test_missing_ext_var_in_an_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "data.libsonnet").write_text("{\n  path: std.extVar('data_path'),\n}\n")
    config = "{ lr: std.parseJson(std.extVar('lr')), data: import 'lib/data.libsonnet' }"

    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'lib' / 'data.libsonnet'}:2: .*'data_path'"):
        prepare(tmp_path, config)


def test_commented_out_ext_var_is_not_required(tmp_path: Path) -> None:
    config = "{\n  lr: std.parseJson(std.extVar('lr')),\n  // data: std.extVar('data_path'),\n}\n"

    assert prepare(tmp_path, config).rendered_low == {"lr": 1e-4}


def test_ext_var_option_provides_a_fixed_value(tmp_path: Path) -> None:
    config = "{ lr: std.parseJson(std.extVar('lr')), data: std.extVar('data_path') }"

    prepared = prepare(tmp_path, config, ext_vars={"data_path": "train.jsonl"})

    assert prepared.rendered_low == {"lr": 1e-4, "data": "train.jsonl"}


def test_environment_provides_an_ext_var_not_given_as_an_option(tmp_path: Path) -> None:
    config = "{ lr: std.parseJson(std.extVar('lr')), data: std.extVar('data_path') }"

    prepared = prepare(tmp_path, config, environ={"data_path": "from-env.jsonl"})

    assert prepared.rendered_low["data"] == "from-env.jsonl"
    assert prepared.snapshot.fixed_ext_vars == {"data_path": "from-env.jsonl"}


def test_ext_var_option_wins_over_the_environment(tmp_path: Path) -> None:
    config = "{ lr: std.parseJson(std.extVar('lr')), data: std.extVar('data_path') }"

    prepared = prepare(tmp_path, config, ext_vars={"data_path": "option"}, environ={"data_path": "env"})

    assert prepared.rendered_low["data"] == "option"


def test_searched_parameter_the_config_never_reads_is_warned_about(tmp_path: Path) -> None:
    space = {**LR_SPACE, "dropuot": {"type": "float", "low": 0.0, "high": 0.5}}

    with pytest.warns(
        UnusedParameterWarning, match=r"parameter 'dropuot' is searched but .*config\.jsonnet never reads"
    ):
        prepared = prepare(tmp_path, "{ lr: std.parseJson(std.extVar('lr')) }", space)

    assert prepared.unused_parameters == ("dropuot",)


def test_config_reading_every_searched_parameter_gives_no_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepared = prepare(tmp_path, "{ lr: std.parseJson(std.extVar('lr')) }")

    assert prepared.unused_parameters == ()


def test_cast_error_at_the_bounds_names_file_line_and_ext_var_value(tmp_path: Path) -> None:
    message = preflight_error(tmp_path, "{\n  seed: 1,\n  lr: std.parseInt(std.extVar('lr')),\n}\n")

    assert message.startswith(f"{tmp_path / 'config.jsonnet'}:3: RUNTIME ERROR: 0.0001 is not a base 10 integer")
    assert "lr='0.0001'" in message
    assert "pre-flight render at the low end" in message


def test_failure_only_at_the_high_end_is_caught(tmp_path: Path) -> None:
    config = (
        "local layers = std.parseInt(std.extVar('layers'));\n"
        "{ sizes: [64, 32, 16][0:layers], last: [64, 32, 16][layers - 1] }\n"
    )
    space = {"layers": {"type": "int", "low": 1, "high": 4}}

    with pytest.raises(
        ConfigError, match=r"config\.jsonnet:2: .*\[pre-flight render at the high end of every parameter: layers=4\]"
    ):
        prepare(tmp_path, config, space)


def test_failure_only_at_a_middle_choice_is_caught(tmp_path: Path) -> None:
    config = "{\n  encoder: { cnn: 1, boe: 3 }[std.extVar('encoder')],\n}\n"
    space = {"encoder": {"type": "categorical", "choices": ["cnn", "lstm", "boe"]}}

    with pytest.raises(
        ConfigError,
        match=r"config\.jsonnet:2: .*lstm.*\[pre-flight render at choice 'lstm' of encoder.*: encoder=lstm\]",
    ):
        prepare(tmp_path, config, space)


def test_jsonnet_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    config = "{\n  lr: std.parseJson(std.extVar('lr'))\n  seed: 1,\n}\n"

    with pytest.raises(ConfigError, match=rf"{tmp_path / 'config.jsonnet'}:3:3.*expected a comma"):
        prepare(tmp_path, config)


def test_rendered_low_end_config_is_returned_for_reading_the_metric_hint(tmp_path: Path) -> None:
    config = "{ lr: std.parseJson(std.extVar('lr')), trainer: { validation_metric: '+accuracy' } }"

    prepared = prepare(tmp_path, config)

    assert prepared.rendered_low == {"lr": 1e-4, "trainer": {"validation_metric": "+accuracy"}}


def test_config_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"config\.jsonnet: a config must evaluate to an object \{\.\.\.\}, not a list"
    ):
        prepare(tmp_path, "[std.parseJson(std.extVar('lr'))]")


def test_derived_config_overriding_the_field_that_reads_an_ext_var_needs_no_value(tmp_path: Path) -> None:
    (tmp_path / "base.jsonnet").write_text(
        "{model: {embedding_dim: std.parseInt(std.extVar('embedding_dim'))}, lr: std.parseJson(std.extVar('lr'))}"
    )
    prepared = prepare(tmp_path, "(import 'base.jsonnet') + {model: {embedding_dim: 64}}")

    assert prepared.rendered_low == {"model": {"embedding_dim": 64}, "lr": 0.0001}


def test_ext_var_a_derived_config_still_needs_is_named_with_where_it_is_read(tmp_path: Path) -> None:
    base = "{dim: std.parseInt(std.extVar('dim')), lr: std.parseJson(std.extVar('lr'))}"
    (tmp_path / "base.jsonnet").write_text(base)
    message = preflight_error(tmp_path, "(import 'base.jsonnet') + {extra: 1}")

    assert message.startswith(f"{tmp_path / 'base.jsonnet'}:1: the config reads ext var 'dim', which is neither")


def test_a_categorical_with_many_choices_renders_a_bounded_spread_of_them(tmp_path: Path) -> None:
    renders = []

    class CountingSnapshot(ConfigSnapshot):
        def render(self, params):
            renders.append(params["act"])
            return super().render(params)

    choices = [f"c{index}" for index in range(10_000)]
    space = parse_search_space({"act": {"type": "categorical", "choices": choices}}, source="space.json")
    text = "{act: std.extVar('act'), check: if std.extVar('act') == 'c9998' then error 'the last middle' else 1}"
    snapshot = CountingSnapshot(entry="config.jsonnet", files={"config.jsonnet": text})

    with pytest.raises(ConfigError, match="the last middle"):
        prepare_config(snapshot, space, {}, environ={})
    assert len(renders) <= 2 + MIDDLE_CHOICES_RENDERED
    assert renders[:3] == ["c0", "c9999", "c1"]


def test_many_unused_parameters_are_summarised_in_one_warning(tmp_path: Path) -> None:
    space = {**LR_SPACE, **{f"unused_{index}": {"type": "int", "low": 0, "high": 3} for index in range(10_000)}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepare(tmp_path, "{lr: std.parseJson(std.extVar('lr'))}", space)

    unused = [warning for warning in caught if issubclass(warning.category, UnusedParameterWarning)]
    assert len(unused) == 1
    assert "10000 parameters ('unused_0', 'unused_1', 'unused_2', 'unused_3', 'unused_4' and 9995 more)" in str(
        unused[0].message
    )
