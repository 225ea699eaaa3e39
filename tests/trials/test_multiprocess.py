"""Several `tune` processes on one study: SQLite on one machine, PostgreSQL across machines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest

from tests.conftest import QUADRATIC_CONFIG, TRAINERS

POSTGRES_URL = os.environ.get("TUNER_TEST_POSTGRES_URL")


def run_cooperating_processes(
    tmp_path: Path, storage: str, study_name: str, *, processes: int, n_trials: int
) -> list[subprocess.CompletedProcess]:
    (tmp_path / "quad.jsonnet").write_text(QUADRATIC_CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 6}}))
    command = [
        sys.executable,
        "-m",
        "tuner",
        "quad.jsonnet",
        "space.json",
        "--storage",
        storage,
        "--study-name",
        study_name,
        "--n-trials",
        str(n_trials),
        "--pruner",
        "none",
        "--ext-var",
        "epochs=2",
        "--ext-var",
        "sleep=0.05",
        "--ext-var",
        "extra={}",
        "--command",
        f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}",
    ]
    started = []
    for index in range(processes):
        started.append(
            subprocess.Popen(
                [*command, "-s", f"results/worker{index}"],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), p.stdout.read(), "") for p in started]


def assert_study_finished_exactly(storage: str, study_name: str, n_trials: int, results: list) -> None:
    for result in results:
        assert result.returncode == 0, result.stdout
        assert "Traceback" not in result.stdout
    trials = optuna.load_study(study_name=study_name, storage=storage).trials
    states = [trial.state.name for trial in trials]
    assert states.count("COMPLETE") == n_trials, states
    assert "RUNNING" not in states and "WAITING" not in states
    # Any extra trial is one given back at once, never run.
    extra = [trial for trial in trials if trial.state.name == "FAIL"]
    assert all(trial.user_attrs["reason"].startswith("not run:") for trial in extra)
    assert len({trial.user_attrs["launch"]["tuner_pid"] for trial in trials if "launch" in trial.user_attrs}) > 1


def test_four_processes_share_a_fresh_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    results = run_cooperating_processes(tmp_path, storage, "shared", processes=4, n_trials=16)
    assert_study_finished_exactly(storage, "shared", 16, results)


@pytest.mark.skipif(POSTGRES_URL is None, reason="set TUNER_TEST_POSTGRES_URL (.ci/start-postgres prints one)")
def test_four_processes_share_a_postgresql_study(tmp_path):
    study_name = f"pg-{uuid.uuid4().hex[:8]}"
    results = run_cooperating_processes(tmp_path, POSTGRES_URL, study_name, processes=4, n_trials=16)
    assert_study_finished_exactly(POSTGRES_URL, study_name, 16, results)


@pytest.mark.skipif(POSTGRES_URL is None, reason="set TUNER_TEST_POSTGRES_URL (.ci/start-postgres prints one)")
def test_postgresql_password_is_never_printed(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tuner.cli import main

    monkeypatch.chdir(tmp_path)
    wrong = POSTGRES_URL.replace("tuner:tuner@", "tuner:s3cret-pass@").rsplit("/", 1)[0] + "/no_such_database"
    result = CliRunner().invoke(main, ["show-trials", "--storage", wrong])
    assert result.exit_code == 2
    assert "s3cret-pass" not in result.output and "***" in result.output
