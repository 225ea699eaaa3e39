"""Study-config files: one JSON/Jsonnet file with 'tune' and 'optuna' sections.

They serve the API and `tune --study-config`.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tuner.config.study_file import TUNE_KEYS, load_study_config, study_config_kwargs
from tuner.errors import OptionError


def test_sections_become_tune_arguments():
    kwargs = study_config_kwargs(
        {
            "tune": {
                "config": "c.jsonnet",
                "n_trials": 5,
                "ext_vars": {"epochs": 3, "flag": True, "name": "x"},
                "gpus": 1,
            },
            "optuna": {"sampler": "tpe", "sampler_kwargs": {"n_startup_trials": 2}, "seed": 0},
        }
    )
    assert kwargs == {
        "config": "c.jsonnet",
        "n_trials": 5,
        "ext_vars": {"epochs": "3", "flag": "true", "name": "x"},
        "gpus": "1",
        "sampler": "tpe",
        "sampler_kwargs": {"n_startup_trials": 2},
        "seed": 0,
    }


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "study.jsonnet").write_text(
        "local space = 'hp.json';\n"
        "{ tune: { config: 'configs/c.jsonnet', search_space: space, serialization_dir: 'out', "
        "storage: 'sqlite:///t.db' } }"
    )
    kwargs = load_study_config(tmp_path / "study.jsonnet")
    assert kwargs == {
        "config": str(tmp_path / "configs/c.jsonnet"),
        "search_space": str(tmp_path / "hp.json"),
        "serialization_dir": str(tmp_path / "out"),
        "storage": f"sqlite:///{tmp_path / 't.db'}",
    }


def test_inline_search_space_and_config_text_stay_as_they_are(tmp_path):
    (tmp_path / "study.json").write_text(
        json.dumps({"tune": {"config": "{ a: 1 }", "search_space": {"x": {"type": "bool"}}}})
    )
    assert load_study_config(tmp_path / "study.json") == {"config": "{ a: 1 }", "search_space": {"x": {"type": "bool"}}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tune": {"n_trial": 3}}, "unknown key in 'tune' 'n_trial' \\(did you mean 'n_trials'\\?\\)"),
        ({"optuna": {"samplr": "tpe"}}, "did you mean 'sampler'"),
        ({"optima": {}}, "unknown section 'optima' \\(did you mean 'optuna'\\?\\); known: tune, optuna"),
        ({"tune": {"n_trials": "3"}}, 's.json: tune.n_trials must be an integer, got "3"'),
        ({"tune": {"warm_launch": 1}}, "tune.warm_launch must be true or false"),
        ({"optuna": []}, "section 'optuna' must be an object"),
        ([], "a study config is an object"),
    ],
)
def test_mistakes_name_the_key(data, message):
    with pytest.raises(OptionError, match=message):
        study_config_kwargs(data, source="s.json")


def test_cli_runs_from_the_file_and_flags_override_it(study_files, tune_cli, quadratic_command, tmp_path):
    args = study_files()
    (tmp_path / "study.json").write_text(
        json.dumps(
            {
                "tune": {
                    "config": "quad.jsonnet",
                    "search_space": "space.json",
                    "n_trials": 3,
                    "study_name": "from-file",
                    "command": quadratic_command,
                    "ext_vars": {"epochs": 1, "sleep": 0, "extra": "{}"},
                },
                "optuna": {"sampler": "random", "pruner": "none", "seed": 1},
            }
        )
    )
    result = tune_cli("--study-config", "study.json", "--n-trials", "1", "--ext-var", "epochs=2")

    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="from-file", storage="sqlite:///tune.db")
    assert len(study.trials) == 1
    assert study.user_attrs["sampler"]["name"] == "RandomSampler"
    assert len(study.trials[0].intermediate_values) == 2  # --ext-var epochs=2 over the file's 1

    result = tune_cli(args[0], args[1], "--study-config", "study.json", "--study-name", "other", "--n-trials", "1")
    assert result.exit_code == 0, result.output
    assert (
        optuna.load_study(study_name="other", storage="sqlite:///tune.db").user_attrs["config_path"] == "quad.jsonnet"
    )


def test_cli_without_config_or_study_config_says_what_is_missing(tune_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = tune_cli("run", "--n-trials", "1")
    assert result.exit_code == 2
    assert "Missing argument 'CONFIG'" in result.output and "--study-config" in result.output


def test_cli_reports_a_bad_study_config_in_one_line(tune_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("study.json").write_text('{"tune": {"trials": 3}}')
    result = tune_cli("--study-config", "study.json")
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == "Error: study.json: unknown key in 'tune' 'trials' (did you mean 'n_trials'?); known: "
        + ", ".join(TUNE_KEYS)
    )
