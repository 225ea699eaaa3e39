"""Optuna's gRPC storage proxy in front of PostgreSQL (`tune storage-proxy`), with `tune` workers through it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import uuid

import optuna
import pytest

from tests.cluster.test_status import start_tune, tune_command
from tests.conftest import invoke_tune, wait_for
from tests.trials.test_multiprocess import assert_study_finished_exactly, run_cooperating_processes
from tuner.study.grpc_client import GRPC_LIMITS

POSTGRES_URL = os.environ.get("TUNER_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(
    POSTGRES_URL is None, reason="set TUNER_TEST_POSTGRES_URL (.ci/start-postgres prints one)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def proxy_url(tmp_path):
    """A `tune storage-proxy` in front of the test PostgreSQL; its grpc:// URL, as it printed it."""
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tuner", "storage-proxy", "--storage", POSTGRES_URL]
        + ["--host", "127.0.0.1", "--port", str(free_port())],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proxy.stdout.readline()
    match = re.search(r"run workers with --storage (grpc://\S+)", line)
    assert match, line + proxy.stdout.read() if proxy.poll() is not None else line
    assert accepts_connections(match.group(1)), "the proxy said it serves before it listened"
    yield match.group(1)
    proxy.send_signal(signal.SIGTERM)  # stops it as Ctrl-C does
    assert proxy.wait(timeout=60) == 0
    assert "Storage proxy stopped." in proxy.stdout.read()


def accepts_connections(url: str) -> bool:
    """Whether something listens at ``url``."""
    host, port = url.removeprefix("grpc://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError:
        return False
    return True


def study_trials(name: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials read from PostgreSQL itself, not through the proxy."""
    return optuna.load_study(study_name=name, storage=POSTGRES_URL).trials


@needs_postgres
def test_four_tune_processes_through_the_proxy_finish_exactly_the_study(tmp_path, proxy_url):
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    results = run_cooperating_processes(tmp_path, proxy_url, name, processes=4, n_trials=16)
    assert_study_finished_exactly(POSTGRES_URL, name, 16, results)
    for result in results:  # what does not work through the proxy is said once, at the start
        assert result.stdout.count(GRPC_LIMITS) == 1, result.stdout
    status = status_json(proxy_url, name)
    assert len(status["workers"]) == 4 and {worker["state"] for worker in status["workers"]} == {"ended"}
    launched = [trial for trial in study_trials(name) if "launch" in trial.user_attrs]
    assert sum(worker["finished_trials"] for worker in status["workers"]) == len(launched)
    assert status["trials"]["complete"] == 16


@needs_postgres
def test_a_killed_workers_trial_is_recovered_through_the_proxy(tmp_path, proxy_url):
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    command = tune_command(proxy_url, n_trials=2, epochs=2, sleep=2.0, name=name)
    first = start_tune(tmp_path, command)
    worker = wait_for(lambda: running_worker(proxy_url, name), "a trial through the proxy with an epoch", process=first)
    [left] = worker["running"]
    first.kill()  # its trial's process dies with it (PR_SET_PDEATHSIG)
    first.wait(timeout=60)
    status = status_json(proxy_url, name)
    assert status["workers"][0]["state"] == "dead" and status["trials"]["running"] == 1
    second = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Trial {left['number']} was left running by a tune process that died" in second.stderr
    trials = study_trials(name)
    states = [trial.state.name for trial in trials]
    assert "RUNNING" not in states and "WAITING" not in states and states.count("COMPLETE") == 2
    [failed] = [trial for trial in trials if trial.state.name == "FAIL"]
    assert failed.number == left["number"] and failed.user_attrs["reason"] == "tune process died"
    retried = [trial for trial in trials if trial.user_attrs.get("retry", {}).get("of") == left["number"]]
    assert [trial.state.name for trial in retried] == ["COMPLETE"]


def test_the_proxy_refuses_what_it_cannot_serve_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for storage, says in (
        ("sqlite:///:memory:", "in-memory SQLite"),
        (f"journal:{tmp_path / 'j.log'}", "does not serve journal storages"),
        ("grpc://127.0.0.1:13000", "not another proxy"),
    ):
        result = invoke_tune("storage-proxy", "--storage", storage)
        assert result.exit_code == 2, result.output
        assert says in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_a_proxy_that_does_not_answer_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke_tune("show-trials", "--storage", f"grpc://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    assert "no storage proxy answers" in result.output and len(result.output.strip().splitlines()) == 1


@needs_postgres
def test_a_second_proxy_on_a_taken_port_is_refused(tmp_path, monkeypatch, proxy_url):
    monkeypatch.chdir(tmp_path)
    port = proxy_url.rsplit(":", 1)[1]
    result = invoke_tune("storage-proxy", "--storage", POSTGRES_URL, "--host", "127.0.0.1", "--port", port)
    assert result.exit_code == 2 and "cannot listen there" in result.output, result.output


def status_json(storage: str, name: str) -> dict:
    result = invoke_tune("status", "--storage", storage, "--study-name", name, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def running_worker(storage: str, name: str) -> dict | None:
    """The one worker once its trial runs and has reported an epoch (None before the study exists)."""
    result = invoke_tune("status", "--storage", storage, "--study-name", name, "--format", "json")
    workers = json.loads(result.stdout)["workers"] if result.exit_code == 0 else []
    running = workers[0]["running"] if workers else []
    return workers[0] if running and running[0]["epoch"] is not None else None
