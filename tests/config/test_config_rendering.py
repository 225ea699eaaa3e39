"""Sampled values as Jsonnet ext vars, and config snapshots that outlive the files on disk."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tuner.config.snapshot import ConfigSnapshot, capture_config, ext_var_string
from tuner.errors import ConfigError

CASTS_CONFIG = """{
  units: std.parseInt(std.extVar('units')),
  lr: std.parseJson(std.extVar('lr')),
  use_bias: std.parseJson(std.extVar('use_bias')),
  encoder: std.extVar('encoder'),
  batch_size: std.parseJson(std.extVar('batch_size')),
}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def render(tmp_path: Path, text: str, params: dict[str, Any]) -> dict[str, Any]:
    return capture_config(write(tmp_path / "config.jsonnet", text)).render(params)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A config importing a library from a sub-folder, which imports a sibling of its own."""
    write(tmp_path / "lib" / "sizes.libsonnet", "{ width: std.parseInt(std.extVar('width')) }\n")
    write(
        tmp_path / "lib" / "model.libsonnet",
        "local sizes = import 'sizes.libsonnet';\n{\n  encoder: std.extVar('encoder'),\n} + sizes\n",
    )
    write(tmp_path / "config.jsonnet", "local model = import 'lib/model.libsonnet';\n{ model: model, seed: 1 }\n")
    return tmp_path / "config.jsonnet"


# --- values as ext var strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(128, "128", id="int"),
        pytest.param(0.1, "0.1", id="float-shortest"),
        pytest.param(1e-05, "1e-05", id="float-small"),
        pytest.param(5e-3, "0.005", id="float-seed-lr"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param("cnn", "cnn", id="string-raw"),
        pytest.param(None, "null", id="null-as-json"),
        pytest.param([2, 3], "[2, 3]", id="list-as-json"),
    ],
)
def test_values_become_the_ext_var_text_jsonnet_casts_expect(value: Any, text: str) -> None:
    assert ext_var_string(value) == text


@pytest.mark.parametrize("value", [0.1 + 0.2, 1 / 3, 2.5e-7, 123456.789])
def test_floats_round_trip_exactly(value: float) -> None:
    assert float(ext_var_string(value)) == value


def test_int_renders_as_a_number_through_std_parse_int(tmp_path: Path) -> None:
    config = render(tmp_path, "{ units: std.parseInt(std.extVar('units')) }", {"units": 128})

    assert config == {"units": 128}


def test_float_renders_as_the_same_number_through_std_parse_json(tmp_path: Path) -> None:
    config = render(tmp_path, "{ lr: std.parseJson(std.extVar('lr')) }", {"lr": 1e-05})

    assert config == {"lr": 1e-05}


@pytest.mark.parametrize("flag", [True, False])
def test_bool_choices_render_as_json_booleans(tmp_path: Path, flag: bool) -> None:
    config = render(
        tmp_path,
        "local bias = "
        "std.parseJson(std.extVar('use_bias'));\n{ use_bias: bias, kind: if bias then 'biased' else 'plain' }",
        {"use_bias": flag},
    )

    assert config == {"use_bias": flag, "kind": "biased" if flag else "plain"}


def test_categorical_string_is_passed_raw(tmp_path: Path) -> None:
    config = render(tmp_path, "{ encoder: std.extVar('encoder') }", {"encoder": "cnn"})

    assert config == {"encoder": "cnn"}


def test_categorical_number_and_null_choices_are_json_encoded(tmp_path: Path) -> None:
    config = render(
        tmp_path,
        "{ batch_size: std.parseJson(std.extVar('batch_size')), clip: std.parseJson(std.extVar('clip')) }",
        {"batch_size": 64, "clip": None},
    )

    assert config == {"batch_size": 64, "clip": None}


def test_every_kind_of_value_renders_through_real_jsonnet_casts(tmp_path: Path) -> None:
    params = {"units": 256, "lr": 0.1, "use_bias": False, "encoder": "lstm", "batch_size": 32}

    assert render(tmp_path, CASTS_CONFIG, params) == params


# --- snapshots ----------------------------------------------------------------------------------


def test_capture_includes_imports_from_subfolders_and_their_own_imports(project: Path) -> None:
    snapshot = capture_config(project)

    assert sorted(Path(path).relative_to(project.parent).as_posix() for path in snapshot.files) == [
        "config.jsonnet",
        "lib/model.libsonnet",
        "lib/sizes.libsonnet",
    ]


def test_snapshot_renders_after_the_files_on_disk_are_deleted(project: Path) -> None:
    snapshot = capture_config(project)
    shutil.rmtree(project.parent / "lib")
    project.unlink()

    assert snapshot.render({"width": 64, "encoder": "cnn"}) == {"model": {"encoder": "cnn", "width": 64}, "seed": 1}


def test_snapshot_renders_the_same_after_being_stored_and_read_back(project: Path) -> None:
    stored = capture_config(project).with_fixed_ext_vars({"encoder": "boe"}).to_dict()
    shutil.rmtree(project.parent / "lib")

    assert ConfigSnapshot.from_dict(stored).render({"width": 8}) == {"model": {"encoder": "boe", "width": 8}, "seed": 1}


def test_snapshot_is_unaffected_by_later_edits_to_the_files(project: Path) -> None:
    snapshot = capture_config(project)
    write(project.parent / "lib" / "sizes.libsonnet", "{ width: 'edited' }\n")

    assert snapshot.render({"width": 64, "encoder": "cnn"})["model"]["width"] == 64


def test_ext_var_names_are_found_in_imported_files_with_their_location(project: Path) -> None:
    lib = project.parent / "lib"

    assert capture_config(project).ext_var_names() == {
        "encoder": f"{lib / 'model.libsonnet'}:3",
        "width": f"{lib / 'sizes.libsonnet'}:1",
    }


def test_ext_vars_in_comments_are_not_counted_but_those_after_urls_are(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.jsonnet",
        "// local lr = std.extVar('old_lr');\n"
        "# std.extVar('hashed')\n"
        "/* std.extVar('blocked')\n */\n"
        "{ data: 'https://example.org/train.jsonl', lr: std.parseJson(std.extVar('lr')) }\n",
    )

    assert capture_config(path).ext_var_names() == {"lr": f"{path}:5"}


def test_runtime_error_names_the_file_line_and_message_without_the_std_stack(project: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        capture_config(project).render({"width": 0.5, "encoder": "cnn"})

    message = str(raised.value)
    assert message.startswith(
        f"{project.parent / 'lib' / 'sizes.libsonnet'}:1: RUNTIME ERROR: 0.5 is not a base 10 integer"
    )
    assert "width='0.5'" in message
    assert "std.jsonnet" not in message and "\n" not in message


def test_error_raised_by_the_config_names_its_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "config.jsonnet", "{\n  a: 1,\n  b: error 'no dataset given',\n}\n")

    with pytest.raises(ConfigError, match=rf"^{path}:3: RUNTIME ERROR: no dataset given$"):
        capture_config(path).render({})


def test_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "config.jsonnet", "{\n  a: 1\n  b: 2,\n}\n")

    with pytest.raises(ConfigError, match=rf"{path}:3:3: expected a comma"):
        capture_config(path).render({})


def test_missing_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.jsonnet: config file not found"):
        capture_config(tmp_path / "absent.jsonnet")
