"""`tune export`: a real study as files that parse back: trials.tsv, study.json, best_config.json, plots."""

from __future__ import annotations

import csv
import json

import optuna
import pytest

from tests.analysis.analysis_studies import make_study


@pytest.fixture
def tuned(study_files, tune_cli, quadratic_command, tmp_path):
    """A real `tune` run of three trials of the quadratic trainer, in tmp_path."""
    args = study_files(
        {"x": {"type": "float", "low": 0.0, "high": 6.0}, "sleep": {"type": "categorical", "choices": [0]}}
    )
    result = tune_cli(
        *args[:-4],
        "--ext-var",
        "epochs=2",
        "--ext-var",
        "extra={}",
        "--n-trials",
        "3",
        "--seed",
        "0",
        "--command",
        quadratic_command,
    )
    assert result.exit_code == 0, result.output
    return optuna.load_study(study_name="quad", storage="sqlite:///tune.db")


def test_export_writes_files_that_parse_back(tuned, tune_cli, tmp_path):
    result = tune_cli("export", "-o", "shared", "--no-plots")
    assert result.exit_code == 0, result.output

    with open(tmp_path / "shared" / "trials.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [int(row["number"]) for row in rows] == [0, 1, 2]
    assert [float(row["params_x"]) for row in rows] == [trial.params["x"] for trial in tuned.trials]
    assert [row["slot"] for row in rows] == ["job0"] * 3
    assert [float(row["value"]) for row in rows] == [trial.value for trial in tuned.trials]

    summary = json.loads((tmp_path / "shared" / "study.json").read_text())
    assert summary["name"] == "quad" and summary["direction"] == "maximize"
    assert summary["metric"] == "best_validation_accuracy"
    assert summary["search_space"]["x"]["high"] == 6.0
    assert summary["fixed_ext_vars"] == {"epochs": "2", "extra": "{}"}
    assert summary["counts_by_state"] == {"complete": 3} and summary["n_trials"] == 3
    assert summary["best_trial"]["number"] == tuned.best_trial.number
    assert summary["best_trial"]["value"] == tuned.best_value

    best_config = json.loads((tmp_path / "shared" / "best_config.json").read_text())
    assert best_config == json.loads((tmp_path / "results" / "quad" / "best_config.json").read_text())


def test_export_includes_the_plots(tuned, tune_cli, tmp_path):
    assert tune_cli("export", "-o", "shared", "--csv").exit_code == 0
    assert (tmp_path / "shared" / "trials.csv").is_file()
    plots = sorted(path.name for path in (tmp_path / "shared" / "plots").iterdir())
    assert "optimization_history.png" in plots and "slice.png" in plots


def test_log_tails_stay_out_of_the_tsv_but_reasons_are_in(tmp_path):
    from tuner.analysis.export import export_study

    study = make_study(None, tmp_path / "results", n_complete=3, n_failed=1, n_pruned=0)
    export_study(study, directory=tmp_path / "out", plots=False)
    with open(tmp_path / "out" / "trials.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert not any("CUDA error" in cell for row in rows for cell in row.values())  # the failed trial's log tail
    assert [row["reason"] for row in rows if row["state"] == "FAIL"] == ["out of memory"]
    assert json.loads((tmp_path / "out" / "best_config.json").read_text())["fixed"] == "yes"
