"""Small things a new user meets in the first hour: mistyped commands, wording, columns, files, messages."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.analysis.analysis_studies import DISTRIBUTIONS, make_study
from tuner.analysis.export import export_study
from tuner.analysis.results import trial_rows
from tuner.analysis.retrain import rendered_config
from tuner.config.study_file import study_config_kwargs
from tuner.errors import ConfigError, OptionError, SearchSpaceError
from tuner.space.parse import parse_search_space

DOCS = Path(__file__).resolve().parents[2] / "docs"
PYKEEN_HPO_CONFIG = {
    "optuna": {"n_trials": 30},
    "pipeline": {
        "dataset": "nations",
        "model": "TransE",
        "model_kwargs_ranges": {"embedding_dim": {"type": "int", "low": 16, "high": 256, "q": 16}},
        "optimizer_kwargs_ranges": {"lr": {"type": "float", "low": 0.001, "high": 0.1, "scale": "log"}},
    },
}


MISTYPED = [("show-trial", "show-trials"), ("dumpbest", "dump-best"), ("retrian", "retrain")]


@pytest.mark.parametrize(("typed", "meant"), MISTYPED)
def test_mistyped_command_is_named_with_a_did_you_mean(tune_cli, tmp_path, monkeypatch, typed, meant):
    monkeypatch.chdir(tmp_path)
    result = tune_cli(typed)
    assert result.exit_code == 2
    assert f"no such command '{typed}'; did you mean '{meant}'?" in result.output
    assert "SEARCH_SPACE" not in result.output


def test_unknown_word_without_a_close_command_lists_the_commands(tune_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = tune_cli("frobnicate", "--n-trials", "3")
    assert result.exit_code == 2
    assert "no such command 'frobnicate'; no file of that name either; commands: compare, dump-best," in result.output


def test_an_existing_file_without_a_dot_is_still_a_config(tune_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myconfig").write_text("{}")
    result = tune_cli("myconfig")
    assert result.exit_code == 2
    assert "no such command" not in result.output and "SEARCH_SPACE" in result.output


def test_a_study_of_one_trial_says_trial_in_the_singular(tune_cli, study_files, quadratic_command):
    result = tune_cli(*study_files(epochs=1), "--command", quadratic_command, "--n-trials", "1")
    assert result.exit_code == 0, result.output
    assert "the study has its 1 trial;" in result.output


def test_a_waiting_trial_shows_the_params_it_was_queued_with(tmp_path):
    study = make_study(None, tmp_path / "results", n_complete=2, n_pruned=0, n_failed=0)
    queued = {"x": 0.25, "y": 0.001, "units": 12, "act": "tanh"}
    study.enqueue_trial(queued)
    waiting = [row for row in trial_rows(study) if row["state"] == "WAITING"]
    assert [row["params"] for row in waiting] == [queued]


def test_trials_tsv_gives_durations_in_seconds(tmp_path):
    study = make_study(None, tmp_path / "results", n_complete=3, n_pruned=1, n_failed=0)
    export_study(study, directory=tmp_path / "out", plots=False)
    with open(tmp_path / "out" / "trials.tsv", newline="") as handle:
        durations = sorted(float(row["duration_s"]) for row in csv.DictReader(handle, delimiter="\t"))
    assert durations == [3.0, 9.5, 9.5, 9.5]


def add_trial(study: optuna.Study, steps: list[int]) -> None:
    curve = {step: 0.1 * step for step in steps}
    params = {"x": 0.5, "y": 0.01, "units": 16, "act": "relu"}
    study.add_trial(
        optuna.trial.create_trial(
            params=params, distributions=DISTRIBUTIONS, value=0.5, intermediate_values=curve, state=TrialState.COMPLETE
        )
    )


def test_epochs_column_counts_epochs_run_not_reports_for_a_trainer_counting_from_one():
    study = optuna.create_study(direction="maximize")
    add_trial(study, list(range(2, 21, 2)))  # PyKEEN, 20 epochs, eval_every 2 (and the last)
    add_trial(study, [2, 4, 5])  # 5 epochs
    assert [row["epochs_reported"] for row in trial_rows(study)] == [20, 5]


def test_epochs_column_counts_epochs_run_not_reports_for_a_trainer_counting_from_zero():
    study = optuna.create_study(direction="maximize")
    add_trial(study, list(range(15)))
    add_trial(study, [1, 3, 5])  # evaluated every second epoch, 6 epochs
    assert [row["epochs_reported"] for row in trial_rows(study)] == [15, 6]


def test_pykeen_hpo_config_as_search_space_says_how_to_translate_it():
    with pytest.raises(SearchSpaceError) as error:
        parse_search_space(PYKEEN_HPO_CONFIG, source="hpo.json")
    message = str(error.value)
    assert message.startswith("hpo.json: this is a PyKEEN hpo_pipeline config")
    assert "model_kwargs_ranges.embedding_dim, optimizer_kwargs_ranges.lr" in message
    assert "std.extVar" in message and "docs/pykeen.md" in message and "\n" not in message


def test_pykeen_hpo_config_as_study_config_says_how_to_translate_it():
    with pytest.raises(OptionError, match=r"hpo.json: this is a PyKEEN hpo_pipeline config.*search space"):
        study_config_kwargs(PYKEEN_HPO_CONFIG, source="hpo.json")


def test_misspelt_type_key_gets_a_did_you_mean():
    expected = "space.json: parameter 'lr': unknown key 'tpye' (did you mean 'type'?)"
    with pytest.raises(SearchSpaceError, match=re.escape(expected)):
        parse_search_space({"lr": {"tpye": "float", "low": 0.001, "high": 0.1}}, source="space.json")


def test_retrain_of_a_config_with_an_unset_ext_var_says_how_to_give_it(tmp_path, monkeypatch):
    monkeypatch.delenv("lr", raising=False)
    config = tmp_path / "tuned.jsonnet"
    config.write_text("{trainer: {lr: std.parseJson(std.extVar('lr'))}}")
    with pytest.raises(ConfigError) as error:
        rendered_config(config, {})
    message = str(error.value)
    assert f"{config}: the config reads ext var 'lr' ({config}:1) with no value; pass --ext-var lr=VALUE" in message
    assert "search space" not in message


def test_trainer_doc_gives_the_digits_baseline_over_seeds():
    text = " ".join((DOCS / "trainer.md").read_text().split())
    assert "0.91 ± 0.03 validation accuracy over seeds 0-4" in text
    assert "reaches about 0.80" not in text
