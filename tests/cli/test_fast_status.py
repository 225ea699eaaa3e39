"""`tune status` on a SQLite study reads it without Optuna (tuner.study.sqlite_reader) and says what
Optuna's way says: here on a study whose worker was killed while its trial ran (nothing changes after)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.cluster.test_status import start_tune, tune_command, worker_running_trials
from tests.conftest import wait_for
from tuner.study.sqlite_reader import ENV_READ_WITH_OPTUNA


def status(storage: str, *extra: str, optuna: bool) -> str:
    env = {**os.environ, ENV_READ_WITH_OPTUNA: "1" if optuna else "0"}
    command = [sys.executable, "-m", "tuner", "status", "--storage", storage, "--study-name", "s", *extra]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def without_clock(status_json: str) -> dict:
    """The status without the seconds since each worker's last beat (they grow between the two reads)."""
    status = json.loads(status_json)
    for worker in status["workers"]:
        worker.pop("seconds_since_beat")
    return status


def test_status_read_without_optuna_says_what_optuna_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    tune = start_tune(tmp_path, tune_command(storage, n_trials=3, epochs=200, sleep=0.1, slots=2))
    wait_for(lambda: worker_running_trials(storage, 2), "two trials running with an epoch", process=tune)
    tune.kill()
    tune.wait(timeout=60)
    fast = without_clock(status(storage, "--format", "json", optuna=False))
    assert fast == without_clock(status(storage, "--format", "json", optuna=True))
    [worker] = fast["workers"]
    assert worker["state"] == "dead" and len(worker["running"]) == 2
    fast_table, optuna_table = (status(storage, "--all", optuna=way).splitlines() for way in (False, True))
    assert fast_table[0] == optuna_table[0] and "2 running" in fast_table[0]  # the summary line
    assert len(fast_table) == len(optuna_table)
