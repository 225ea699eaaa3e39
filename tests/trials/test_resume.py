"""Interrupted trials resume in their own folder: `tune` killed, Ctrl-C, SIGTERM; bounded by --max-retries.

The trainer (tests/trainers/resumable.py) checkpoints its epoch and, told TUNER_RESUME=1 (and ``--resume``
through the ``{resume}`` placeholder), continues after it; it hangs where a test wants to interrupt it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.conftest import TRAINERS, wait_for
from tests.faults.conftest import pid_alive, run_tune, tune_process
from tuner.analysis.results import trial_rows

STORAGE = "sqlite:///tune.db"
CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  epochs: 5,
  trainer: { validation_metric: '+accuracy' },
} + std.parseJson(std.extVar('behaviour'))
"""
COMMAND = f"{sys.executable} {TRAINERS / 'resumable.py'} {{config}} {{serialization_dir}} {{resume}}"


@pytest.fixture
def resumable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., list[str]]]:
    """tune arguments for the resumable trainer in tmp_path (the working directory); its processes die after."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resumable.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.5, "high": 1.0}}))

    def make(*extra: str, study: str = "resumable", **behaviour: Any) -> list[str]:
        return [
            "resumable.jsonnet",
            "space.json",
            "--study-name",
            study,
            "--pruner",
            "none",
            "--seed",
            "0",
            "--command",
            COMMAND,
            "--ext-var",
            f"behaviour={json.dumps(behaviour)}",
            *extra,
        ]

    yield make
    for pid in trainer_pids(tmp_path / "results"):
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def trainer_pids(results: Path) -> list[int]:
    return [int(path.name) for path in results.glob("**/pids/*") if path.name.isdigit()]


def events(results: Path, study: str = "resumable") -> list[str]:
    """Every line the trainers of ``study`` wrote to their events.log files, folder by folder."""
    lines = []
    for path in sorted((results / study).glob("trial_*/events.log")):
        lines += path.read_text().splitlines()
    return lines


def wait_for_event(results: Path, text: str, count: int, tune: subprocess.Popen[str]) -> None:
    wait_for(lambda: sum(text in line for line in events(results)) >= count, f"{count} x {text!r}", process=tune)


def study_trials(study: str = "resumable") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=STORAGE).trials


def metric_epochs(directory: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (directory / "metrics.jsonl").read_text().splitlines()]


def kill_tune_in_its_trial_and_run_again(resumable, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """One trial that hangs after epoch 2 once; tune killed there, then the same command again."""
    args = resumable("--n-trials", "1", hang_times=1, hang_after=2)
    tune = tune_process(args, tmp_path)
    wait_for_event(tmp_path / "results", "hanging after 2", 1, tune)
    tune.kill()
    tune.communicate(timeout=30)
    return run_tune(args, tmp_path)


def test_trial_of_a_killed_tune_resumes_in_its_folder_and_ends_as_an_uninterrupted_run(resumable, tmp_path):
    results = tmp_path / "results"
    rerun = kill_tune_in_its_trial_and_run_again(resumable, tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "Trial 0 was left running by a tune process that died" in rerun.stdout
    first, resumed = study_trials()
    assert (first.state.name, first.user_attrs["reason"]) == ("FAIL", "tune process died")
    assert resumed.state.name == "COMPLETE" and resumed.params == first.params
    assert resumed.user_attrs["retry"]["of"] == 0 and resumed.user_attrs["retry"]["attempt"] == 2
    folder = results / "resumable" / "trial_0"
    assert resumed.user_attrs["launch"]["directory"] == str(folder.resolve())
    assert not (results / "resumable" / "trial_1").exists()
    assert "start resume=1 argv_resume=True from=3" in events(results)
    assert metric_epochs(folder) == [0, 1, 2, 3, 4]  # each epoch once

    uninterrupted = run_tune(resumable("--n-trials", "1", study="uninterrupted"), tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stdout
    (reference,) = study_trials("uninterrupted")
    assert reference.params == resumed.params  # the same seed samples the same point
    assert resumed.intermediate_values == reference.intermediate_values
    assert resumed.value == reference.value
    assert [row["attempts"] for row in trial_rows(optuna.load_study(study_name="resumable", storage=STORAGE))] == [1, 2]
    assert all(not pid_alive(pid) for pid in trainer_pids(results))


def test_each_attempts_log_artifact_ends_where_that_attempt_ended(resumable, tmp_path):
    """The log is in the artifact store from the launch on (a hard link); the attempt that resumes in the folder
    writes a log of its own, so the killed attempt's artifact keeps what that attempt wrote."""
    results = tmp_path / "results"
    assert kill_tune_in_its_trial_and_run_again(resumable, tmp_path).returncode == 0

    storage = optuna.storages.RDBStorage(STORAGE)
    store = optuna.artifacts.FileSystemArtifactStore(results / "resumable" / "artifacts")
    logs = []
    for trial in study_trials():
        (meta,) = [m for m in optuna.artifacts.get_all_artifact_meta(trial, storage=storage) if m.filename == "out.log"]
        with store.open_reader(meta.artifact_id) as reader:
            logs.append(reader.read().decode())
    killed, resumed = logs
    assert "hanging after 2" in killed and "from=3" not in killed
    assert resumed == (results / "resumable" / "trial_0" / "out.log").read_text()
    assert resumed.startswith(killed) and "start resume=1 argv_resume=True from=3" in resumed and "done" in resumed


def test_trial_interrupted_more_than_max_retries_fails_counted_and_the_study_goes_on(resumable, tmp_path):
    results = tmp_path / "results"
    args = resumable("--n-trials", "2", "--max-retries", "2", hang_times=3)
    for attempt, signum in enumerate([signal.SIGINT, signal.SIGKILL, signal.SIGTERM], start=1):
        tune = tune_process(args, tmp_path)
        wait_for_event(results, "hanging after", attempt, tune)
        tune.send_signal(signum)
        output, _ = tune.communicate(timeout=120)
        assert tune.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 130), output

    trials = study_trials()
    assert [(t.state.name, t.user_attrs.get("reason")) for t in trials] == [
        ("FAIL", "interrupted"),
        ("FAIL", "tune process died"),
        ("FAIL", "interrupted 3 times"),
    ]
    assert [t.user_attrs.get("retry", {}).get("attempt", 1) for t in trials] == [1, 2, 3]
    assert [line for line in events(results) if line.startswith("start")] == [
        "start resume=- argv_resume=False from=0",
        "start resume=1 argv_resume=True from=1",
        "start resume=1 argv_resume=True from=2",
    ]

    rerun = run_tune(resumable("--n-trials", "2", "--max-retries", "2", hang_times=0), tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    trials = study_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "FAIL", "COMPLETE"]  # the failed trial counts once
    assert "retry" not in trials[3].user_attrs  # a new trial, in a folder of its own
    assert (results / "resumable" / "trial_3" / "events.log").exists()
    assert all(not pid_alive(pid) for pid in trainer_pids(results))


def test_trainer_that_ignores_tuner_resume_starts_over_and_completes(resumable, tmp_path):
    results = tmp_path / "results"
    behaviour = {"hang_times": 1, "hang_after": 2, "ignore_resume": True}
    args = resumable("--n-trials", "1", "--metric", "best_validation_accuracy", **behaviour)
    tune = tune_process(args, tmp_path)
    wait_for_event(results, "hanging after 2", 1, tune)
    tune.send_signal(signal.SIGINT)
    output, _ = tune.communicate(timeout=120)
    assert tune.returncode == 130, output

    rerun = run_tune(args, tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    first, resumed = study_trials()
    assert first.user_attrs["reason"] == "interrupted" and resumed.state.name == "COMPLETE"
    assert [line for line in events(results) if line.startswith("start")][-1].endswith("from=0")  # started over
    assert metric_epochs(results / "resumable" / "trial_0") == [0, 1, 2, 0, 1, 2, 3, 4]
    x = resumed.params["x"]
    assert resumed.intermediate_values == pytest.approx({epoch: x * (epoch + 1) / 5 for epoch in range(5)})
    assert resumed.value == pytest.approx(x)


def test_trial_whose_heartbeat_went_stale_on_another_host_resumes_in_its_quiet_folder(resumable, tmp_path):
    from tests.faults.test_recovery_faults import age_heartbeats

    results = tmp_path / "results"
    args = resumable("--n-trials", "1", hang_times=1, hang_after=2)
    tune = tune_process(args, tmp_path)
    wait_for_event(results, "hanging after 2", 1, tune)
    tune.kill()
    tune.communicate(timeout=30)
    study = optuna.load_study(study_name="resumable", storage=STORAGE)
    (trial,) = study.trials
    # As a node lost with its tune leaves it: launched elsewhere, silent, its folder untouched since.
    study._storage.set_trial_user_attr(trial._trial_id, "launch", {**trial.user_attrs["launch"], "host": "elsewhere"})
    age_heartbeats()
    folder = results / "resumable" / "trial_0"
    for path in [folder, *folder.iterdir()]:
        os.utime(path, (path.stat().st_atime - 600, path.stat().st_mtime - 600))

    rerun = run_tune(args, tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    first, resumed = study_trials()
    assert first.user_attrs["reason"] == "tune process stopped (no heartbeat)"
    assert resumed.state.name == "COMPLETE" and resumed.user_attrs["retry"]["directory"] == str(folder.resolve())
    assert "start resume=1 argv_resume=True from=3" in events(results)
    assert metric_epochs(folder) == [0, 1, 2, 3, 4]
