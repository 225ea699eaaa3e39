"""`tune status`: a study's workers as the storage sees them, their running trials and epochs, counts and best."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import QUADRATIC_CONFIG, TRAINERS, invoke_tune, wait_for

SLURM_ENV = {"SLURM_JOB_ID": "4242", "SLURM_ARRAY_JOB_ID": "4240", "SLURM_ARRAY_TASK_ID": "2"}


def tune_command(
    storage: str, *, n_trials: int, epochs: int, sleep: float, slots: int = 1, name: str = "s"
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tuner",
        "quad.jsonnet",
        "space.json",
        "--storage",
        storage,
        "--study-name",
        name,
        "--n-trials",
        str(n_trials),
        "--n-jobs",
        str(slots),
        "--pruner",
        "none",
        "--ext-var",
        f"epochs={epochs}",
        "--ext-var",
        f"sleep={sleep}",
        "--ext-var",
        "extra={}",
        "--command",
        f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}",
    ]


def start_tune(directory: Path, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    (directory / "quad.jsonnet").write_text(QUADRATIC_CONFIG)
    (directory / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 6}}))
    return subprocess.Popen(
        command,
        cwd=directory,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def status_json(storage: str) -> dict | None:
    """``tune status --format json``, or None before the study exists."""
    result = invoke_tune("status", "--storage", storage, "--study-name", "s", "--format", "json")
    return json.loads(result.stdout) if result.exit_code == 0 else None


def worker_running_trials(storage: str, count: int) -> dict | None:
    """The one worker, once ``count`` of its trials run and each has reported an epoch."""
    status = status_json(storage)
    if not status or not status["workers"]:
        return None
    [worker] = status["workers"]
    running = worker["running"]
    return worker if len(running) == count and all(trial["epoch"] is not None for trial in running) else None


def test_status_shows_a_running_worker_its_slots_trials_epochs_and_slurm_ids_then_its_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    tune = start_tune(tmp_path, tune_command(storage, n_trials=2, epochs=200, sleep=0.1, slots=2), SLURM_ENV)
    try:
        worker = wait_for(lambda: worker_running_trials(storage, 2), "two trials running with an epoch", process=tune)
        assert (worker["host"], worker["pid"], worker["slots"], worker["state"]) == (
            socket.gethostname(),
            tune.pid,
            2,
            "running",
        )
        assert worker["slurm"] == {"job_id": "4242", "array_job_id": "4240", "array_task_id": "2"}
        assert sorted(trial["number"] for trial in worker["running"]) == [0, 1]
        assert {trial["slot"] for trial in worker["running"]} == {"job0", "job1"}
        table = invoke_tune("status", "--storage", storage)
        assert table.exit_code == 0, table.output
        assert f"{socket.gethostname()}:{tune.pid}" in table.output and "4240_2" in table.output
        assert "2 trials: 2 running" in table.output and "1 worker running (2 slots)" in table.output
    finally:
        tune.send_signal(signal.SIGINT)
        tune.wait(timeout=120)
    status = status_json(storage)
    [ended] = status["workers"]
    assert ended["state"] == "ended" and ended["running"] == [] and ended["finished_trials"] == 2
    assert "running" not in status["trials"]
    table = invoke_tune("status", "--storage", storage)
    assert "1 ended worker not shown" in table.output and str(tune.pid) not in table.output
    assert str(tune.pid) in invoke_tune("status", "--storage", storage, "--all").output


def test_a_killed_worker_shows_dead_on_its_host_with_the_trial_it_left(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    tune = start_tune(tmp_path, tune_command(storage, n_trials=1, epochs=200, sleep=0.1))
    wait_for(lambda: worker_running_trials(storage, 1), "a trial running with an epoch", process=tune)
    tune.kill()
    tune.wait(timeout=60)
    [worker] = status_json(storage)["workers"]
    assert worker["state"] == "dead"
    assert [trial["number"] for trial in worker["running"]] == [0]  # the storage still has it RUNNING


def test_status_of_a_finished_study_counts_states_and_names_the_best(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    tune = start_tune(tmp_path, tune_command(storage, n_trials=3, epochs=2, sleep=0.0))
    assert tune.wait(timeout=300) == 0, tune.stdout.read()
    status = status_json(storage)
    assert status["trials"] == {"complete": 3}
    assert status["best"]["number"] in (0, 1, 2) and 0 < status["best"]["value"] <= 1
    assert status["workers"][0]["finished_trials"] == 3


def test_a_malformed_proxy_address_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke_tune("status", "--storage", "grpc://somewhere")
    assert result.exit_code == 2
    assert "grpc://HOST:PORT" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
