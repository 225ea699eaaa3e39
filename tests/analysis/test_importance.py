"""`tune importance`: Optuna's evaluators by name, over the completed trials, as a terminal table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.analysis_studies import make_study
from tuner.analysis.importance import param_importances
from tuner.cli import main
from tuner.errors import OptionError, StudyError


@pytest.mark.parametrize("evaluator", ["fanova", "mdi", "ped-anova"])
def test_the_dominant_parameter_ranks_first(tmp_path, evaluator):
    study = make_study(None, tmp_path, n_complete=30)
    result = param_importances(study, evaluator=evaluator)

    assert result.top(1) == ["x"]
    assert set(result.values) == {"x", "y", "units", "act"}
    assert sum(result.values.values()) == pytest.approx(1.0)
    assert (result.n_trials, result.n_completed) == (30, 30)


def test_fewer_than_two_completed_trials_is_refused(tmp_path):
    study = make_study(None, tmp_path, n_complete=1)
    with pytest.raises(StudyError, match="at least two completed trials; study 'demo' has 1"):
        param_importances(study)


def test_unknown_evaluator_suggests_the_closest(tmp_path):
    study = make_study(None, tmp_path)
    with pytest.raises(OptionError, match="unknown importance evaluator 'fanva' \\(did you mean 'fanova'\\?\\)"):
        param_importances(study, evaluator="fanva")


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    make_study("sqlite:///tune.db", tmp_path / "results", n_complete=20)
    return tmp_path


def test_importance_command_prints_a_ranked_table_with_its_basis(stored):
    result = CliRunner().invoke(main, ["importance", "--evaluator", "mdi"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "mdi importances from 20 completed trials" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert rows[0].split("│")[2].strip() == "x"


def test_importance_command_as_json(stored):
    result = CliRunner().invoke(main, ["importance", "--format", "json"], catch_exceptions=False)
    data = json.loads(result.stdout)
    assert data["evaluator"] == "fanova" and data["n_trials"] == 20
    assert next(iter(data["importances"])) == "x"


def test_importance_command_refuses_politely_without_enough_trials(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_study("sqlite:///tune.db", tmp_path, n_complete=0)
    result = CliRunner().invoke(main, ["importance"])
    assert result.exit_code == 2
    assert result.output == "Error: importances need at least two completed trials; study 'demo' has 0\n"
