"""Recovery of what a dead, stopped or failing `tune` left.

Nothing stays stuck RUNNING, nothing is counted twice, no process is left.

Heartbeats are made stale by moving them back in the database (as 70 s of silence would), so no test waits out
the 60 s grace period.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import wait_for
from tests.faults.conftest import (
    STORAGE,
    STUDY,
    live_pids,
    load_trials,
    recorded_pids,
    run_tune,
    states,
    tune_process,
    wait_for_pid_files,
)
from tests.faults.test_tune_interrupted import behaving
from tuner.study.records import (
    REASON_INTERRUPTED,
    REASON_NEVER_LAUNCHED,
    REASON_NO_HEARTBEAT,
    REASON_SETUP_FAILED,
    REASON_TUNE_DIED,
)
from tuner.trials.reaper import ENV_RUN_TOKEN


def age_heartbeats(seconds: int = 70) -> None:
    """Make every heartbeat ``seconds`` older, as if the trials' `tune` had been silent that long."""
    with sqlite3.connect("tune.db") as db:
        db.execute("UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, ?)", (f"-{seconds} seconds",))


def set_launch_host(number: int, host: str) -> None:
    """Pretend that trial ``number`` runs on another host."""
    study = optuna.load_study(study_name=STUDY, storage=STORAGE)
    trial = study.trials[number]
    study._storage.set_trial_user_attr(trial._trial_id, "launch", {**trial.user_attrs["launch"], "host": host})


def reasons(trials: list[optuna.trial.FrozenTrial]) -> dict[int, str]:
    return {trial.number: trial.user_attrs.get("reason") for trial in trials if trial.state.name == "FAIL"}


def test_sigkilled_tune_recovered_after_the_heartbeat_grace_requeues_its_trial_and_kills_its_grandchildren(
    faulty_study, tmp_path
):
    args = [*faulty_study(fault="hang", spawn=True, ignore_sigterm=True), "--n-trials", "2"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 2)  # the trainer and its grandchild
    tune.kill()
    tune.communicate(timeout=30)
    stale_x = load_trials()[0].params["x"]
    age_heartbeats()

    rerun = run_tune(behaving(args), tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "Traceback" not in rerun.stdout
    assert "Trial 0 was left running by a tune process that died" in rerun.stdout
    trials = load_trials()
    assert reasons(trials) == {0: REASON_TUNE_DIED}  # this host's launch record, not "no heartbeat"
    assert states(trials).count("COMPLETE") == 2  # the recovered trial does not count towards --n-trials
    assert stale_x in [t.params["x"] for t in trials if t.state.name == "COMPLETE"]  # re-queued and run
    assert live_pids(tmp_path / "results") == set()


def second_tune_while_the_first_is_stopped(args, tmp_path, *, first_launched_elsewhere=False):
    """Start `tune`, stop it (SIGSTOP) once its trial runs, age its heartbeats and run a second
    `tune` to the end; the first is continued and returned still running, with the second's result."""
    first = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 1)
    first.send_signal(signal.SIGSTOP)
    try:
        if first_launched_elsewhere:
            set_launch_host(0, "another-host")
        age_heartbeats()
        second = run_tune(args, tmp_path)
    finally:
        first.send_signal(signal.SIGCONT)
    return first, second


def test_second_tune_leaves_alone_the_trial_of_a_stopped_tune_on_this_host(faulty_study, tmp_path):
    args = [*faulty_study(faults={"0": "hang"}), "--n-trials", "2"]
    first, second = second_tune_while_the_first_is_stopped(args, tmp_path)
    assert second.returncode == 0, second.stdout
    assert "Traceback" not in second.stdout and "left running" not in second.stdout
    assert states(load_trials()) == ["RUNNING", "COMPLETE"]  # the stopped run's trial counts: one more was run

    first.send_signal(signal.SIGINT)
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 130, output
    assert "Traceback" not in output
    assert reasons(load_trials()) == {0: REASON_INTERRUPTED}
    assert live_pids(tmp_path / "results") == set()


def test_stopped_tune_whose_trial_was_recovered_elsewhere_ends_it_without_recording_it_again(faulty_study, tmp_path):
    args = [*faulty_study(faults={"0": "hang"}), "--n-trials", "2"]
    first, second = second_tune_while_the_first_is_stopped(args, tmp_path, first_launched_elsewhere=True)
    assert second.returncode == 0, second.stdout
    assert "Traceback" not in second.stdout
    trials = load_trials()
    assert reasons(trials) == {0: REASON_NO_HEARTBEAT}
    assert states(trials) == ["FAIL", "COMPLETE", "COMPLETE"]  # re-queued, and not counted
    assert trials[1].params == trials[0].params

    first.send_signal(signal.SIGINT)
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 130, output
    assert "Traceback" not in output
    assert "trial 0 ended: another tune process recovered it as stale" in output
    assert reasons(load_trials()) == {0: REASON_NO_HEARTBEAT}  # the recovering process's record stands
    assert live_pids(tmp_path / "results") == set()


def test_trial_asked_but_never_launched_is_failed_uncounted_once_older_than_the_grace(faulty_study, tmp_path):
    args = [*faulty_study(fault="ok"), "--n-trials", "2"]
    assert run_tune([*args[:-1], "1"], tmp_path).returncode == 0
    study = optuna.load_study(study_name=STUDY, storage=STORAGE)
    study.ask()  # as a tune process that died (or failed) between asking and launching leaves it
    with sqlite3.connect("tune.db") as db:
        db.execute("UPDATE trials SET datetime_start = datetime(datetime_start, '-70 seconds') WHERE number = 1")

    rerun = run_tune(args, tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "Trial 1 was left running" in rerun.stdout
    trials = load_trials()
    assert reasons(trials) == {1: REASON_NEVER_LAUNCHED}
    assert states(trials) == ["COMPLETE", "FAIL", "COMPLETE"]


def test_trial_asked_a_moment_ago_without_a_launch_record_is_left_to_its_tune(faulty_study, tmp_path):
    args = [*faulty_study(fault="ok"), "--n-trials", "1"]
    assert run_tune(args, tmp_path).returncode == 0
    optuna.load_study(study_name=STUDY, storage=STORAGE).ask()  # another tune is launching it right now

    rerun = run_tune([*args[:-1], "3"], tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "left running" not in rerun.stdout
    assert states(load_trials()) == ["COMPLETE", "RUNNING", "COMPLETE"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"type": "int", "low": 0, "high": 5}, {"type": "categorical", "choices": [0, 1, 2]}),
        ({"type": "float", "low": 0.0, "high": 1.0}, {"type": "int", "low": 0, "high": 5}),
    ],
    ids=["int-to-categorical", "float-to-int"],
)
def test_resuming_with_a_parameter_of_another_type_is_refused_before_any_trial(before, after, faulty_study, tmp_path):
    args = [*faulty_study(fault="ok"), "--n-trials", "2"]
    (tmp_path / "space.json").write_text(json.dumps({"x": before}))
    assert run_tune([*args[:-1], "1"], tmp_path).returncode == 0
    (tmp_path / "space.json").write_text(json.dumps({"x": after}))

    result = run_tune(args, tmp_path)

    assert result.returncode == 2, result.stdout
    error = [line for line in result.stdout.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "parameter 'x'" in error[0], result.stdout
    assert "Traceback" not in result.stdout
    assert states(load_trials()) == ["COMPLETE"]


def test_sampler_that_fails_on_a_trial_ends_it_uncounted_with_one_line(faulty_study, tmp_path):
    args = [*faulty_study(fault="ok"), "--n-trials", "1"]

    result = run_tune([*args, "--sampler-kwargs", '{"n_startup_trials": "3"}'], tmp_path)

    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stdout
    assert "Error: the sampler TPESampler failed on trial 0: TypeError" in result.stdout
    (trial,) = load_trials()
    assert (trial.state.name, trial.user_attrs["reason"]) == ("FAIL", REASON_SETUP_FAILED)
    assert "TypeError" in trial.user_attrs["log_tail"]
    rerun = run_tune(args, tmp_path)
    assert rerun.returncode == 0, rerun.stdout
    assert states(load_trials()) == ["FAIL", "COMPLETE"]  # the failed one did not count


@pytest.mark.skipif(__import__("importlib").util.find_spec("cmaes") is not None, reason="cmaes is installed")
def test_sampler_whose_package_is_missing_is_refused_before_any_trial(faulty_study, tmp_path):
    result = run_tune([*faulty_study(fault="ok"), "--n-trials", "3", "--sampler", "cmaes"], tmp_path)

    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stdout
    assert "Error: sampler CmaEsSampler needs cmaes, which is not installed: pip install cmaes" in result.stdout
    assert not (tmp_path / "tune.db").exists() or load_trials() == []


ESCAPING = {"escape": True, "ignore_sigterm": True}


@pytest.mark.parametrize("warm", [False, True], ids=["plain", "warm"])
def test_processes_that_left_the_trial_group_end_with_a_trial_that_ends_normally(warm, faulty_study, tmp_path):
    result = run_tune([*faulty_study(warm=warm, fault="ok", **ESCAPING), "--n-trials", "2"], tmp_path)

    assert result.returncode == 0, result.stdout
    assert states(load_trials()) == ["COMPLETE", "COMPLETE"]
    assert len(recorded_pids(tmp_path / "results")) >= 6  # per trial: the trainer and two escapees
    assert live_pids(tmp_path / "results") == set()


def test_processes_that_left_the_trial_group_end_with_a_trial_that_times_out(faulty_study, tmp_path):
    args = [*faulty_study(fault="hang", **ESCAPING), "--n-trials", "1", "--trial-timeout", "1"]
    result = run_tune(args, tmp_path)

    assert result.returncode == 1, result.stdout  # the run's only trial failed
    assert reasons(load_trials()) == {0: "timed out after 1 s"}
    assert live_pids(tmp_path / "results") == set()


@pytest.mark.parametrize("interrupts", [1, 2], ids=["ctrl-c", "double-ctrl-c"])
def test_processes_that_left_the_trial_group_end_with_an_interrupted_trial(interrupts, faulty_study, tmp_path):
    tune = tune_process([*faulty_study(fault="hang", **ESCAPING), "--n-trials", "1"], tmp_path)
    wait_for_pid_files(tmp_path / "results", 3)
    for _ in range(interrupts):
        tune.send_signal(signal.SIGINT)
    output, _ = tune.communicate(timeout=60)

    assert tune.returncode == 130, output
    assert reasons(load_trials()) == {0: REASON_INTERRUPTED}
    assert live_pids(tmp_path / "results") == set()


def test_processes_that_left_the_trial_group_end_with_a_killed_tune(faulty_study, tmp_path):
    """tune's reaper ends what left the trial's process group (torchrun's ranks do) as soon as tune dies."""
    args = [*faulty_study(fault="hang", **ESCAPING), "--n-trials", "1"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 3)
    assert reaper_pids(tune.pid)
    tune.kill()
    tune.communicate(timeout=30)

    wait_for(lambda: not live_pids(tmp_path / "results"), "the escapees ended by the reaper", timeout=60)


def test_processes_that_left_the_trial_group_end_when_the_next_run_recovers_a_killed_tune(faulty_study, tmp_path):
    """Where the reaper died too (the whole host was lost, say), the next run's recovery ends them."""
    args = [*faulty_study(fault="hang", **ESCAPING), "--n-trials", "1"]
    tune = tune_process(args, tmp_path)
    wait_for_pid_files(tmp_path / "results", 3)
    (reaper,) = reaper_pids(tune.pid)
    os.kill(reaper, signal.SIGKILL)
    tune.kill()
    tune.communicate(timeout=30)
    assert live_pids(tmp_path / "results")  # the escapees outlived the kill (the trainer died with tune)

    rerun = run_tune(behaving(args), tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert reasons(load_trials()) == {0: REASON_TUNE_DIED}
    assert live_pids(tmp_path / "results") == set()


def reaper_pids(tune_pid: int) -> list[int]:
    """The children of ``tune_pid`` that are its run's reaper (tuner.trials.reaper)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == tune_pid and ENV_RUN_TOKEN.encode() + b"=" in command:
            found.append(int(entry.name))
    return found


REPORT_THEN_HANG = """
import os, sys, time
from tuner.contract import report
report(0, validation_accuracy=0.5)
os.makedirs(os.path.join(sys.argv[2], "pids"), exist_ok=True)
open(os.path.join(sys.argv[2], "pids", str(os.getpid())), "w").write(str(os.getppid()))
time.sleep(3600)
"""


def wait_for_first_metrics(count: int, timeout: float = 90) -> None:
    """Wait until ``count`` trials have their first metric in the study (tune read and reported it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if sum(bool(t.intermediate_values) for t in load_trials()) >= count:
                return
        except KeyError:
            pass  # the study is not created yet
        assert time.monotonic() < deadline, "the trials' first metrics never reached the study"
        time.sleep(0.05)


def test_double_interrupt_after_the_first_metric_records_the_trials_as_interrupted(faulty_study, tmp_path):
    (tmp_path / "report_then_hang.py").write_text(REPORT_THEN_HANG)
    args = [*faulty_study(), "--n-trials", "2", "--n-jobs", "2"]
    args[args.index("--command") + 1] = f"{sys.executable} report_then_hang.py {{config}} {{serialization_dir}}"
    tune = tune_process(args, tmp_path)
    wait_for_first_metrics(2)
    # Both interrupts are handled at the same moment, wherever tune's loop is: delivered together on SIGCONT
    # (SIGINT and SIGTERM, which tune treats alike, since a second pending SIGINT would merge into the first).
    # The trainers are dead by then, as the second interrupt's SIGKILL makes them, so tune's loop sees them
    # dead whether or not it got to the interrupts first.
    tune.send_signal(signal.SIGSTOP)
    tune.send_signal(signal.SIGINT)
    tune.send_signal(signal.SIGTERM)
    for trainer in (tmp_path / "results").glob("**/trial_*/pids/*"):
        os.kill(int(trainer.name), signal.SIGKILL)
    tune.send_signal(signal.SIGCONT)
    output, _ = tune.communicate(timeout=60)

    assert tune.returncode == 130, output
    assert "Ctrl-C again to kill running trials at once" in output
    assert reasons(load_trials()) == {0: REASON_INTERRUPTED, 1: REASON_INTERRUPTED}, output
    assert live_pids(tmp_path / "results") == set()
