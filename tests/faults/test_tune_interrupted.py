"""`tune` itself stopped: Ctrl-C, SIGTERM, a second Ctrl-C, SIGKILL.

No orphans, nothing left RUNNING, re-runs finish."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import optuna
import pytest

from tests.faults.conftest import (
    STORAGE,
    STUDY,
    live_pids,
    load_trials,
    pid_alive,
    run_tune,
    states,
    tune_process,
    wait_for_pid_files,
)
from tuner.study.records import launched_at
from tuner.trials.launch import TERMINATE_GRACE_SECONDS


def read_until(process: subprocess.Popen[str], text: str) -> str:
    """``process``'s output up to the line holding ``text`` (all of it, should it end first)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if text in line:
            break
    return "".join(lines)


def wait_until_dead(pids: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "the trial processes outlived the second Ctrl-C"
        time.sleep(0.01)


def behaving(args: list[str]) -> list[str]:
    """The same command with a trainer that now behaves."""
    return [f"behaviour={json.dumps({'fault': 'ok'})}" if arg.startswith("behaviour=") else arg for arg in args]


@pytest.mark.parametrize(
    ("signum", "warm"), [(signal.SIGINT, False), (signal.SIGTERM, True)], ids=["sigint-plain", "sigterm-warm"]
)
def test_interrupt_ends_running_trials_and_a_rerun_finishes_the_study(signum, warm, faulty_study, tmp_path):
    args = [*faulty_study(warm=warm, fault="hang", spawn=True), "--n-trials", "4", "--n-jobs", "2"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 4)  # two trainers, two grandchildren
    tune.send_signal(signum)
    output, _ = tune.communicate(timeout=60)

    assert tune.returncode == 130, output
    assert "Traceback" not in output
    assert "Stopped: interrupted; this run: 0 complete, 0 pruned, 2 failed." in output
    trials = load_trials()
    assert [(t.state.name, t.user_attrs["reason"]) for t in trials if t.state.name == "FAIL"] == [
        ("FAIL", "interrupted")
    ] * 2
    assert states(trials).count("RUNNING") == 0
    assert live_pids(tmp_path / "results") == set()

    rerun = run_tune(behaving(args), tmp_path)
    assert rerun.returncode == 0, rerun.stdout
    assert sorted(states(load_trials())) == ["COMPLETE"] * 4 + ["FAIL"] * 2  # interrupted ones do not count
    assert live_pids(tmp_path / "results") == set()


def test_second_ctrl_c_ends_trials_that_ignore_sigterm_at_once(faulty_study, tmp_path):
    args = [*faulty_study(fault="hang", spawn=True, ignore_sigterm=True), "--n-trials", "4", "--n-jobs", "2"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 4)
    trial_processes = [int(path.name) for path in (tmp_path / "results").glob("**/trial_*/pids/*")]
    first_interrupt = time.monotonic()
    tune.send_signal(signal.SIGINT)
    seen = read_until(tune, "ending 2 running trial(s)")  # SIGTERM sent: tune waits out the grace for them
    tune.send_signal(signal.SIGINT)
    wait_until_dead(trial_processes)
    killed_after = time.monotonic() - first_interrupt
    output, _ = tune.communicate(timeout=60)

    # The grace began after the first Ctrl-C: had tune waited it out, they would have lived at least this long.
    assert killed_after < TERMINATE_GRACE_SECONDS, seen + output
    output = seen + output
    assert tune.returncode == 130, output
    assert "Traceback" not in output
    assert [t.user_attrs.get("reason") for t in load_trials() if t.state.name == "FAIL"] == ["interrupted"] * 2
    assert live_pids(tmp_path / "results") == set()


@pytest.mark.parametrize("warm", [False, True], ids=["plain", "warm"])
def test_sigkilled_tune_leaves_nothing_running_after_the_next_start(warm, faulty_study, tmp_path):
    args = [*faulty_study(warm=warm, fault="hang", spawn=True), "--n-trials", "3", "--n-jobs", "2"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 4)
    tune.kill()
    tune.communicate(timeout=30)
    stale = {t.number: t.params["x"] for t in load_trials() if t.state.name == "RUNNING"}
    assert len(stale) == 2

    rerun = run_tune(behaving(args), tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "left running by a tune process that died: marked failed, parameters queued again" in rerun.stdout
    assert live_pids(tmp_path / "results") == set()  # the grandchildren of the killed run included
    trials = load_trials()
    assert {t.number: t.user_attrs["reason"] for t in trials if t.state.name == "FAIL"} == dict.fromkeys(
        stale, "tune process died"
    )
    assert states(trials).count("COMPLETE") == 3 and "RUNNING" not in states(trials) and "WAITING" not in states(trials)
    assert set(stale.values()) <= {t.params["x"] for t in trials if t.state.name == "COMPLETE"}  # re-queued and run
    for path in [*tmp_path.glob("results/**/metrics.json"), tmp_path / "results" / STUDY / "best_config.json"]:
        json.loads(path.read_text())  # written atomically: complete or absent
    assert run_tune(["dump-best", "-o", "dumped.json"], tmp_path).returncode == 0


def test_timeout_counts_the_time_of_interrupted_runs(faulty_study, tmp_path):
    args = [*faulty_study(fault="ok", sleep=0.3), "--timeout", "4"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 1)
    tune.send_signal(signal.SIGINT)
    assert tune.wait(timeout=60) == 130
    first_run = len(load_trials())
    spent_first = optuna.load_study(study_name=STUDY, storage=STORAGE).user_attrs["spent_seconds"]

    rerun = run_tune(args, tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "--timeout of 4 s reached (earlier runs of this study included)" in rerun.stdout
    spent = optuna.load_study(study_name=STUDY, storage=STORAGE).user_attrs["spent_seconds"]
    assert 0 < spent_first < 4 <= spent
    # The re-run only used what was left: its last trial started while the study's total was below 4 s.
    rerun_trials = [trial for trial in load_trials() if trial.number >= first_run and trial.state.name != "WAITING"]
    since_its_start = (launched_at(rerun_trials[-1]) - rerun_trials[0].datetime_start).total_seconds()
    assert spent_first + since_its_start < 4, (spent_first, since_its_start)
