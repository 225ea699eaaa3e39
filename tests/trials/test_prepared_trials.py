"""With several slots and short trials, the next trial is asked and rendered while every slot is busy.

A freed slot then waits only for the launch. Optuna stamps a trial's start when it is asked,
so tune times trials from their launch; a prepared trial that never got a slot is handed back
and does not count.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna

from tuner.study.records import REASON_NOT_LAUNCHED, REASON_NOT_SAMPLED, launched_at, run_duration

STORAGE = "sqlite:///tune.db"

# Trial 0 is quick (so trials look short and the next one gets prepared); trials 1-3 sleep long.
NUMBERED_SLEEPER = """
import json, os, sys, time
number = int(os.environ["TUNER_TRIAL_NUMBER"])
time.sleep(30 if 1 <= number <= 3 else 0.1)
from tuner import report
report(0, validation_accuracy=json.load(open(sys.argv[1]))["x"])
"""


def process_times(trial: optuna.trial.FrozenTrial) -> tuple[float, float]:
    """When the trial's process started and ended, by its own clock (tests/trainers/quadratic.py)."""
    times = json.loads((Path(trial.user_attrs["launch"]["directory"]) / "times.json").read_text())
    return times["start"], times["end"]


def running_when_asked(
    trial: optuna.trial.FrozenTrial, trials: list[optuna.trial.FrozenTrial]
) -> list[optuna.trial.FrozenTrial]:
    """The other trials that tune had launched, and whose processes had not ended, when ``trial`` was asked."""
    asked = trial.datetime_start.timestamp()
    return [
        other
        for other in trials
        if other is not trial and launched_at(other).timestamp() <= asked < process_times(other)[1]
    ]


def test_short_trials_are_prepared_ahead_and_timed_from_their_launch(study_files, tune_cli, quadratic_command):
    args = study_files(epochs=1, sleep=1.0, extra={"dump_env": True})
    result = tune_cli(*args, "--n-trials", "6", "--n-jobs", "2", "--pruner", "none", "--command", quadratic_command)
    assert result.exit_code == 0, result.output

    trials = optuna.load_study(study_name="quad", storage=STORAGE).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 6  # nothing handed back, nothing extra
    # Asked while both slots were busy, launched once one of them freed.
    prepared = [trial for trial in trials if len(running_when_asked(trial, trials)) == 2]
    assert prepared
    for trial in prepared:
        freed = min(process_times(other)[1] for other in running_when_asked(trial, trials))
        assert launched_at(trial).timestamp() >= round(freed, 3) - 0.0005  # launch times are kept to the ms

    shown = {row["number"]: row for row in json.loads(tune_cli("show-trials", "--format", "json").stdout)}
    for trial in trials:
        # show-trials times from the launch to the end, a span that holds the process's whole life,
        # not Optuna's ask-to-tell span (which includes the wait for a slot).
        row = shown[trial.number]
        start, end = process_times(trial)
        assert row["duration_s"] == round(run_duration(trial).total_seconds(), 3)
        assert end - start <= row["duration_s"] + 0.001, (row, end - start)
    for trial in prepared:
        assert shown[trial.number]["duration_s"] < trial.duration.total_seconds()  # its wait for a slot, left out


def one_slot_study(tune_cli, args: list[str], study: str) -> list[optuna.trial.FrozenTrial]:
    result = tune_cli(*args, "--study-name", study, "--n-trials", "12", "--seed", "3", "--pruner", "median")
    assert result.exit_code == 0, result.output
    return optuna.load_study(study_name=study, storage=STORAGE).trials


def test_one_slot_asks_the_next_trial_ahead_and_samples_it_as_if_asked_after(
    study_files, tune_cli, quadratic_command, monkeypatch
):
    """With one slot the next trial is only asked while a trial runs; TPE samples it once the running trial's
    outcome is told, so every trial gets exactly the parameters of one asked only then."""
    args = [*study_files(epochs=2, sleep=0.05), "--command", quadratic_command]
    ahead = one_slot_study(tune_cli, args, "ahead")
    monkeypatch.setattr("tuner.trials.ahead.samples_only_when_suggested", lambda sampler: False)
    sequential = one_slot_study(tune_cli, args, "sequential")

    assert len(ahead) == 12 and "FAIL" not in [trial.state.name for trial in ahead]  # nothing handed back
    assert [trial.state for trial in ahead] == [trial.state for trial in sequential]
    assert [trial.params for trial in ahead] == [trial.params for trial in sequential]
    assert [trial.intermediate_values for trial in ahead] == [trial.intermediate_values for trial in sequential]
    # Asked while the one before ran (after the first, which tells how long trials take), never launched before
    # it was recorded.
    asked_ahead = [
        later for earlier, later in itertools.pairwise(ahead) if later.datetime_start < earlier.datetime_complete
    ]
    assert asked_ahead
    assert all(launched_at(later) >= earlier.datetime_complete for earlier, later in itertools.pairwise(ahead))
    assert all(later.datetime_start >= earlier.datetime_complete for earlier, later in itertools.pairwise(sequential))


def test_one_slot_asks_each_trial_when_it_starts_with_a_sampler_that_reads_the_study_as_it_asks(
    study_files, tune_cli, quadratic_command
):
    args = [*study_files(epochs=1, sleep=0.05), "--command", quadratic_command, "--sampler", "nsgaii"]
    result = tune_cli(*args, "--n-trials", "4", "--pruner", "none")
    assert result.exit_code == 0, result.output

    trials = optuna.load_study(study_name="quad", storage=STORAGE).trials
    assert all(later.datetime_start >= earlier.datetime_complete for earlier, later in itertools.pairwise(trials))


def test_ctrl_c_hands_a_prepared_trial_back_and_a_rerun_completes_the_study(tmp_path):
    (tmp_path / "numbered_sleeper.py").write_text(NUMBERED_SLEEPER)
    (tmp_path / "c.jsonnet").write_text(
        "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    )
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))
    tune = [
        sys.executable,
        "-m",
        "tuner",
        "c.jsonnet",
        "space.json",
        "--pruner",
        "none",
        "--n-trials",
        "5",
        "--n-jobs",
        "2",
        "--command",
        f"{sys.executable} numbered_sleeper.py {{config}} {{serialization_dir}}",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(tune, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Trial 0 ended, 1 and 2 sleep in the two slots, 3 is rendered and waits for a slot.
    prepared = tmp_path / "results" / "c" / "trial_3"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (prepared / "config.json").exists():
        time.sleep(0.05)
    assert (prepared / "config.json").exists() and not (prepared / "out.log").exists()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 130, output
    trials = optuna.load_study(study_name="c", storage=f"sqlite:///{tmp_path / 'tune.db'}").trials
    ran = [trial for trial in trials if trial.state.name != "WAITING"]  # interrupted points are queued again
    assert [trial.state.name for trial in ran] == ["COMPLETE", "FAIL", "FAIL", "FAIL"]
    assert [trial.user_attrs.get("reason") for trial in ran] == [
        None,
        "interrupted",
        "interrupted",
        REASON_NOT_LAUNCHED,
    ]
    assert len(trials) - len(ran) == 2
    assert not prepared.exists()  # no folder that looks like a trial that ran

    rerun = subprocess.run(tune, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    trials = optuna.load_study(study_name="c", storage=f"sqlite:///{tmp_path / 'tune.db'}").trials
    counted = [trial for trial in trials if trial.state.name == "COMPLETE"]
    assert len(counted) == 5  # trial 0, the two interrupted points again, and two new ones
    assert not [trial for trial in trials if trial.state.name in ("RUNNING", "WAITING")]


def test_ctrl_c_hands_back_a_trial_asked_ahead_and_queues_its_point_again(tmp_path):
    """One slot: the trial asked while trial 1 runs took the last --enqueue point; Ctrl-C gives it back unrun
    and queues the point again, so the rerun runs it."""
    (tmp_path / "numbered_sleeper.py").write_text(NUMBERED_SLEEPER)
    (tmp_path / "c.jsonnet").write_text(
        "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    )
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))
    (tmp_path / "points.json").write_text(json.dumps([{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]))
    tune = [
        sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--pruner", "none", "--n-trials", "4",
        "--command", f"{sys.executable} numbered_sleeper.py {{config}} {{serialization_dir}}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [*tune, "--enqueue", "points.json"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    storage = f"sqlite:///{tmp_path / 'tune.db'}"

    def asked_ahead() -> bool:
        try:
            trials = optuna.load_study(study_name="c", storage=storage).trials
        except (KeyError, ValueError):
            return False
        return len(trials) >= 3 and trials[2].state.name == "RUNNING" and trials[1].state.name == "RUNNING"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not asked_ahead():
        time.sleep(0.05)
    assert asked_ahead()  # trial 1 sleeps in the slot, trial 2 is asked
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 130, output
    trials = optuna.load_study(study_name="c", storage=storage).trials
    assert [(trial.state.name, trial.user_attrs.get("reason")) for trial in trials[:3]] == [
        ("COMPLETE", None),
        ("FAIL", "interrupted"),
        ("FAIL", REASON_NOT_SAMPLED),
    ]
    assert not trials[2].params and not (tmp_path / "results" / "c" / "trial_2").exists()  # never sampled, no folder
    queued = sorted(trial.system_attrs["fixed_params"]["x"] for trial in trials if trial.state.name == "WAITING")
    assert queued == [0.2, 0.3]  # the interrupted point and the one handed back

    rerun = subprocess.run(tune, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    trials = optuna.load_study(study_name="c", storage=storage).trials
    completed = [trial.params["x"] for trial in trials if trial.state.name == "COMPLETE"]
    assert len(completed) == 4 and {0.1, 0.2, 0.3} <= set(completed)  # every point ran, and one sampled point
    assert not [trial for trial in trials if trial.state.name in ("RUNNING", "WAITING")]


def test_ctrl_c_queues_again_the_enqueued_point_a_prepared_trial_had_taken(tmp_path):
    (tmp_path / "numbered_sleeper.py").write_text(NUMBERED_SLEEPER)
    (tmp_path / "c.jsonnet").write_text(
        "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    )
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))
    (tmp_path / "points.json").write_text(json.dumps([{"x": 0.1}, {"x": 0.2}, {"x": 0.3}, {"x": 0.4}]))
    tune = [
        sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--pruner", "none", "--n-trials", "5",
        "--n-jobs", "2", "--enqueue", "points.json",
        "--command", f"{sys.executable} numbered_sleeper.py {{config}} {{serialization_dir}}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(tune, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    prepared = tmp_path / "results" / "c" / "trial_3"  # trial 0 ended, 1 and 2 sleep, 3 waits for a slot
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (prepared / "config.json").exists():
        time.sleep(0.05)
    assert (prepared / "config.json").exists()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 130, output
    trials = optuna.load_study(study_name="c", storage=f"sqlite:///{tmp_path / 'tune.db'}").trials
    assert trials[3].user_attrs.get("reason") == REASON_NOT_LAUNCHED
    queued = sorted(trial.system_attrs["fixed_params"]["x"] for trial in trials if trial.state.name == "WAITING")
    assert queued == [0.2, 0.3, 0.4]  # the two interrupted points, and the one handed back
