"""Results folders belong to one study: studies in different storages never share or delete trial folders."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.faults.conftest import run_tune, tune_process
from tuner.study.folders import MARKER_FILE_NAME

# Writes its pid, then waits for the file named by `gate` (if any) before reporting x as the accuracy.
GATED_TRAINER = """
import json, os, sys, time
sys.path.insert(0, os.environ["REPO"])
from tuner.contract import report, write_json_atomically
config = json.load(open(sys.argv[1]))
gate = config["gate"]
deadline = time.monotonic() + 120
while gate and not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.05)
report(0, validation_accuracy=config["x"])
write_json_atomically(os.path.join(sys.argv[2], "metrics.json"), {"best_validation_accuracy": config["x"]})
"""
CONFIG = "{ x: std.parseJson(std.extVar('x')), gate: std.extVar('gate'), trainer: { validation_metric: '+accuracy' } }"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPO", str(Path(__file__).resolve().parents[2]))
    (tmp_path / "gated.py").write_text(GATED_TRAINER)
    (tmp_path / "study.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0}}))
    return tmp_path


def tune_args(*extra: str, gate: str = "") -> list[str]:
    return [
        "study.jsonnet",
        "space.json",
        "--command",
        f"{sys.executable} gated.py {{config}} {{serialization_dir}}",
        "--pruner",
        "none",
        "--n-trials",
        "1",
        "--ext-var",
        f"gate={gate}",
        *extra,
    ]


def wait_for(path: Path, process: object) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, process.communicate()[0]  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_study_in_another_storage_leaves_a_running_trial_folder_alone(project: Path) -> None:
    study_a = tune_process(tune_args("--seed", "1", gate="release_a"), project)
    wait_for(project / "results" / "study" / "trial_0" / "config.json", study_a)
    config_a = (project / "results" / "study" / "trial_0" / "config.json").read_text()

    study_b = run_tune(tune_args("--seed", "2", "--storage", "sqlite:///other.db"), project)
    (project / "release_a").touch()
    output_a, _ = study_a.communicate(timeout=120)

    assert study_b.returncode == 0, study_b.stdout
    assert study_a.returncode == 0, output_a
    trial_a = optuna.load_study(study_name="study", storage="sqlite:///tune.db").trials[0]
    trial_b = optuna.load_study(study_name="study", storage="sqlite:///other.db").trials[0]
    assert trial_a.state.name == "COMPLETE" and trial_a.value == trial_a.params["x"]
    assert (project / "results" / "study" / "trial_0" / "config.json").read_text() == config_a
    folders_b = [path.parent for path in (project / "results").glob("study-*/trial_0")]
    assert len(folders_b) == 1, sorted((project / "results").iterdir())
    assert json.loads((folders_b[0] / "trial_0" / "config.json").read_text())["x"] == trial_b.params["x"]


def test_a_results_folder_claimed_by_another_storage_is_refused(project: Path) -> None:
    assert run_tune(tune_args("-s", "shared"), project).returncode == 0
    before = sorted(path.relative_to(project) for path in (project / "shared").rglob("*"))

    result = run_tune(tune_args("-s", "shared", "--storage", "sqlite:///other.db"), project)

    assert result.returncode == 2, result.stdout
    assert result.stdout.strip().splitlines() == [
        (
            "Error: shared holds the trials of study 'study' in sqlite:///../tune.db (as its .tuner-study.json says; "
            "storage paths are relative to the folder), not of 'study' in sqlite:///../other.db; pass another "
            "--serialization-dir"
        )
    ]
    assert sorted(path.relative_to(project) for path in (project / "shared").rglob("*")) == before


def test_a_results_folder_claimed_by_another_study_name_is_refused(project: Path) -> None:
    assert run_tune(tune_args("-s", "shared"), project).returncode == 0

    result = run_tune(tune_args("-s", "shared", "--study-name", "other"), project)

    assert result.returncode == 2, result.stdout
    assert "holds the trials of study 'study'" in result.stdout and "not of 'other'" in result.stdout


def test_the_default_storage_keeps_results_named_after_the_study_and_claims_them(project: Path) -> None:
    assert run_tune(tune_args(), project).returncode == 0

    marker = json.loads((project / "results" / "study" / MARKER_FILE_NAME).read_text())
    assert marker == {"storage": "sqlite:///../../tune.db", "study": "study"}


def test_a_project_folder_moved_as_a_whole_resumes_into_its_results(project: Path, tmp_path_factory) -> None:
    assert run_tune(tune_args("--storage", "sqlite:///other.db"), project).returncode == 0
    moved = tmp_path_factory.mktemp("moved") / "project"
    project.rename(moved)

    result = run_tune(tune_args("--storage", "sqlite:///other.db", "--n-trials", "2"), moved)

    assert result.returncode == 0, result.stdout
    assert len(list((moved / "results").glob("study-*/trial_*"))) == 2


def test_a_trial_folder_left_by_a_deleted_study_of_the_same_name_is_moved_aside(project: Path) -> None:
    assert run_tune(tune_args(), project).returncode == 0
    old_config = (project / "results" / "study" / "trial_0" / "config.json").read_text()
    optuna.delete_study(study_name="study", storage="sqlite:///tune.db")

    assert run_tune(tune_args("--seed", "5"), project).returncode == 0

    assert (project / "results" / "study" / "trial_0.old-1" / "config.json").read_text() == old_config
    assert (project / "results" / "study" / "trial_0" / "metrics.json").exists()
