"""`tune` end to end: real Optuna studies on SQLite, real subprocess trainers, real Jsonnet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import wait_for

STORAGE = "sqlite:///tune.db"


def load_trials(name: str = "quad") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=STORAGE).trials


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for every practical purpose. (The name, in brackets, may hold spaces.)
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_study_runs_trials_and_writes_best_config(study_files, tune_cli, quadratic_command, tmp_path):
    result = tune_cli(
        *study_files(), "--n-trials", "6", "--seed", "1", "--pruner", "none", "--command", quadratic_command
    )

    assert result.exit_code == 0, result.output
    trials = load_trials()
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 6
    best = max(trials, key=lambda trial: trial.value)
    written = json.loads((tmp_path / "results" / "quad" / "best_config.json").read_text())
    assert written == {"x": best.params["x"], "epochs": 3, "sleep": 0.0, "trainer": {"validation_metric": "+accuracy"}}
    assert f"Best trial {best.number}" in result.output


def test_trial_gets_contract_environment_and_folder(study_files, tune_cli, quadratic_command, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1,2,3")
    args = study_files(extra={"dump_env": True})
    assert tune_cli(*args, "--n-trials", "1", "--gpus", "3", "--command", quadratic_command).exit_code == 0

    trial_dir = tmp_path / "results" / "quad" / "trial_0"
    env = json.loads((trial_dir / "env.json").read_text())
    assert env["TUNER_CONFIG"] == str(trial_dir / "config.json")
    assert env["TUNER_SERIALIZATION_DIR"] == str(trial_dir)
    assert env["TUNER_METRICS_FILE"] == str(trial_dir / "metrics.jsonl")
    assert env["TUNER_TRIAL_NUMBER"] == "0"
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    assert json.loads((trial_dir / "config.json").read_text())["dump_env"] is True
    assert len((trial_dir / "metrics.jsonl").read_text().splitlines()) == 3
    assert "epoch 2 accuracy" in (trial_dir / "out.log").read_text()


def test_objective_is_derived_from_epoch_lines_without_metrics_json(study_files, tune_cli, quadratic_command):
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}}, epochs=4, extra={"no_final": True})
    assert tune_cli(*args, "--n-trials", "1", "--command", quadratic_command).exit_code == 0
    assert load_trials()[0].value == pytest.approx(1.0)  # best epoch of validation_accuracy: the last


def test_plain_metric_is_the_last_epoch_value(study_files, tune_cli, quadratic_command):
    # At x = 3 the loss falls 0.75, 0.5, 0.25, 0.0: the best (highest) would be 0.75, the last is 0.0.
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}}, epochs=4, extra={"no_final": True})
    result = tune_cli(
        *args,
        "--n-trials",
        "1",
        "--metric",
        "validation_loss",
        "--direction",
        "maximize",
        "--pruner",
        "none",
        "--study-name",
        "last",
        "--command",
        quadratic_command,
    )
    assert result.exit_code == 0, result.output
    assert load_trials("last")[0].value == pytest.approx(0.0)


def test_direction_contradicting_the_config_is_refused(study_files, tune_cli, quadratic_command, tmp_path):
    result = tune_cli(*study_files(), "--n-trials", "1", "--direction", "minimize", "--command", quadratic_command)
    assert result.exit_code == 2
    assert "contradicts" in result.output and "'+accuracy'" in result.output
    assert not (tmp_path / "tune.db").exists()


def test_pruner_ends_a_bad_trial_mid_run(study_files, tune_cli, quadratic_command, tmp_path):
    epochs = 60  # 0.3 s each: the trainer, left alone, would write 60 epoch lines and metrics.json
    args = study_files({"x": {"type": "categorical", "choices": [0.0]}}, epochs=epochs, sleep=0.3)
    result = tune_cli(
        *args,
        "--n-trials",
        "1",
        "--pruner",
        "threshold",
        "--pruner-kwargs",
        '{"lower": 0.5}',
        "--command",
        quadratic_command,
    )

    assert result.exit_code == 0, result.output
    (trial,) = load_trials()
    assert trial.state.name == "PRUNED"
    assert trial.user_attrs["pruned_epoch"] == 0
    assert not pid_alive(trial.user_attrs["launch"]["pid"])
    trial_dir = tmp_path / "results" / "quad" / "trial_0"
    assert not (trial_dir / "metrics.json").exists()
    assert 1 <= len((trial_dir / "metrics.jsonl").read_text().splitlines()) < epochs  # stopped mid-run
    assert "pruned at epoch 0" in result.output


def test_failing_trial_is_recorded_and_the_study_goes_on(study_files, tune_cli, quadratic_command):
    args = study_files(
        {"x": {"type": "categorical", "choices": [1.0, 2.0]}}, extra={"fail_at_epoch": 1, "exit_code": 3}
    )
    result = tune_cli(*args, "--n-trials", "2", "--sampler", "grid", "--command", quadratic_command)

    assert result.exit_code == 1, result.output  # every trial of the run failed
    trials = load_trials()
    assert [trial.state.name for trial in trials] == ["FAIL", "FAIL"]
    assert trials[0].user_attrs["reason"] == "crashed (exit code 3): something went wrong in epoch 1"
    assert "something went wrong in epoch 1" in trials[0].user_attrs["log_tail"]
    assert "failed: crashed (exit code 3)" in result.output
    assert "No trial has completed yet" in result.output


def test_nan_objective_fails_the_trial(study_files, tune_cli, quadratic_command):
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}}, extra={"nan_at_epoch": 2, "no_final": True})
    assert tune_cli(*args, "--n-trials", "1", "--pruner", "none", "--command", quadratic_command).exit_code == 1
    (trial,) = load_trials()
    assert trial.state.name == "FAIL"
    assert "nan" in trial.user_attrs["reason"]


def test_missing_metric_names_the_metrics_seen(study_files, tune_cli, quadratic_command):
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}}, extra={"no_final": True})
    result = tune_cli(
        *args,
        "--n-trials",
        "1",
        "--metric",
        "best_f1",
        "--direction",
        "maximize",
        "--study-name",
        "f1",
        "--command",
        quadratic_command,
    )
    assert result.exit_code == 1, result.output  # its only trial failed
    (trial,) = load_trials("f1")
    assert trial.state.name == "FAIL"
    assert (
        trial.user_attrs["reason"]
        == "metric 'best_f1' was not reported (metrics seen: validation_accuracy, validation_loss)"
    )


def test_rerunning_the_command_resumes_up_to_n_trials(study_files, tune_cli, quadratic_command):
    args = study_files()
    assert tune_cli(*args, "--n-trials", "2", "--command", quadratic_command).exit_code == 0
    result = tune_cli(*args, "--n-trials", "5", "--command", quadratic_command)

    assert result.exit_code == 0, result.output
    assert "Resuming study 'quad'" in result.output and "2 trials so far" in result.output
    assert len(load_trials()) == 5
    again = tune_cli(*args, "--n-trials", "5", "--command", quadratic_command)
    assert again.exit_code == 0, again.output
    assert len(load_trials()) == 5
    assert "the study has its 5 trials" in again.output


def test_restart_starts_the_study_over(study_files, tune_cli, quadratic_command, tmp_path):
    args = study_files()
    assert tune_cli(*args, "--n-trials", "3", "--command", quadratic_command).exit_code == 0
    assert len(list((tmp_path / "results" / "quad").glob("trial_*"))) == 3  # something to start over from
    assert tune_cli(*args, "--n-trials", "1", "--restart", "--command", quadratic_command).exit_code == 0
    assert len(load_trials()) == 1
    assert sorted(path.name for path in (tmp_path / "results" / "quad").glob("trial_*")) == ["trial_0"]


def test_study_stops_when_every_trial_fails_the_same_way(study_files, tune_cli, quadratic_command):
    args = study_files(extra={"fail_at_epoch": 0})
    result = tune_cli(*args, "--command", quadratic_command)  # no --n-trials: would run forever

    assert result.exit_code == 1
    assert [trial.state.name for trial in load_trials()] == ["FAIL"] * 5
    assert "the last 5 trials all failed with: crashed (exit code 1)" in result.output


def test_dump_best_works_after_the_config_is_deleted(study_files, tune_cli, quadratic_command, tmp_path):
    args = study_files()
    assert tune_cli(*args, "--n-trials", "3", "--command", quadratic_command).exit_code == 0
    expected = json.loads((tmp_path / "results" / "quad" / "best_config.json").read_text())
    (tmp_path / "quad.jsonnet").unlink()

    result = tune_cli("dump-best")

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "best_config.json").read_text()) == expected
    best = max(load_trials(), key=lambda trial: trial.value)
    assert f"best trial {best.number}" in result.output


def test_dump_best_of_a_given_trial(study_files, tune_cli, quadratic_command, tmp_path):
    assert tune_cli(*study_files(), "--n-trials", "2", "--command", quadratic_command).exit_code == 0
    assert tune_cli("dump-best", "--trial", "1", "-o", "one.json").exit_code == 0
    trials = load_trials()
    assert trials[1].params["x"] != trials[0].params["x"]  # so the file tells trial 1 from trial 0
    assert json.loads((tmp_path / "one.json").read_text())["x"] == trials[1].params["x"]


def test_dump_best_uses_the_config_version_each_trial_ran(study_files, tune_cli, quadratic_command, tmp_path):
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}})
    assert tune_cli(*args, "--n-trials", "1", "--command", quadratic_command).exit_code == 0
    (tmp_path / "quad.jsonnet").write_text((tmp_path / "quad.jsonnet").read_text() + "+ {edited: true}")
    assert tune_cli(*args, "--n-trials", "2", "--command", quadratic_command).exit_code == 0

    assert tune_cli("dump-best", "--trial", "0", "-o", "zero.json").exit_code == 0
    assert tune_cli("dump-best", "--trial", "1", "-o", "one.json").exit_code == 0
    assert "edited" not in json.loads((tmp_path / "zero.json").read_text())
    assert json.loads((tmp_path / "one.json").read_text())["edited"] is True


def test_show_trials_formats(study_files, tune_cli, quadratic_command):
    assert tune_cli(*study_files(), "--n-trials", "3", "--command", quadratic_command).exit_code == 0
    trials = load_trials()
    assert len(trials) == 3

    as_json = json.loads(tune_cli("show-trials", "--format", "json", "--sort", "value").stdout)
    assert [row["number"] for row in as_json] == [t.number for t in sorted(trials, key=lambda t: -t.value)]
    assert as_json[0]["params"]["x"] == max(trials, key=lambda t: t.value).params["x"]

    csv_lines = tune_cli("show-trials", "--format", "csv").stdout.splitlines()
    assert csv_lines[0].split(",")[:3] == ["number", "state", "value"]
    assert csv_lines[0].endswith("params_x") and len(csv_lines) == 4

    table = tune_cli("show-trials").stdout
    assert "state" in table and table.count("job0") == 3

    only_failed = json.loads(tune_cli("show-trials", "--format", "json", "--state", "fail").stdout)
    assert only_failed == []
    only_complete = json.loads(tune_cli("show-trials", "--format", "json", "--state", "complete").stdout)
    assert sorted(row["number"] for row in only_complete) == [0, 1, 2]  # the filter keeps what matches


def test_config_that_fails_to_render_for_one_value_fails_only_that_trial(
    study_files, tune_cli, quadratic_command, tmp_path
):
    # Pre-flight renders only the ends of an int range, so x = 2 first fails in its trial.
    args = study_files({"x": {"type": "int", "low": 1, "high": 3}})
    (tmp_path / "quad.jsonnet").write_text(
        (tmp_path / "quad.jsonnet").read_text()
        + "+ {check: if std.parseJson(std.extVar('x')) == 2 then error 'x=2 unsupported' else 1}"
    )
    result = tune_cli(*args, "--n-trials", "3", "--sampler", "grid", "--command", quadratic_command)

    assert result.exit_code == 0, result.output
    trials = {trial.params["x"]: trial for trial in load_trials()}
    assert {x: trial.state.name for x, trial in trials.items()} == {1: "COMPLETE", 2: "FAIL", 3: "COMPLETE"}
    assert "x=2 unsupported" in trials[2].user_attrs["reason"]


def test_grid_sampler_stops_when_the_grid_is_exhausted(study_files, tune_cli, quadratic_command):
    args = study_files({"x": {"type": "int", "low": 1, "high": 4}})
    result = tune_cli(*args, "--sampler", "GridSampler", "--command", quadratic_command)
    assert result.exit_code == 0, result.output
    assert sorted(trial.params["x"] for trial in load_trials()) == [1, 2, 3, 4]
    assert "every point of the grid" in result.output


def test_trial_timeout_ends_a_hanging_trial(study_files, tune_cli, quadratic_command):
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}}, extra={"hang": True})
    assert tune_cli(*args, "--n-trials", "1", "--trial-timeout", "1", "--command", quadratic_command).exit_code == 1
    (trial,) = load_trials()
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["reason"] == "timed out after 1 s"
    assert not pid_alive(trial.user_attrs["launch"]["pid"])


def test_ctrl_c_ends_the_running_trial_and_a_rerun_resumes(study_files, quadratic_command, tmp_path):
    hanging = {"hang": True, "dump_env": True}  # env.json: the trainer runs, before its first epoch hangs
    args = study_files({"x": {"type": "categorical", "choices": [3.0]}}, extra=hanging)
    tune = [sys.executable, "-m", "tuner", *args, "--n-trials", "2", "--command", quadratic_command]
    process = subprocess.Popen(tune, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(
        (tmp_path / "results" / "quad" / "trial_0" / "env.json").exists, "trial 0's trainer to start", process=process
    )
    wait_for(
        lambda: load_trials()[0].user_attrs.get("launch", {}).get("pid"),
        "trial 0's launch to be recorded",
        process=process,
    )
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)

    assert process.returncode == 130, output
    assert "Traceback" not in output
    trials = load_trials()
    assert trials[0].state.name == "FAIL" and trials[0].user_attrs["reason"] == "interrupted"
    assert not pid_alive(trials[0].user_attrs["launch"]["pid"])
    assert trials[1].state.name == "WAITING"  # its parameters, queued for the re-run

    rerun = ["extra={}" if arg == f"extra={json.dumps(hanging)}" else arg for arg in tune]
    assert rerun != tune
    finished = subprocess.run(rerun, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    states = [trial.state.name for trial in load_trials()]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]  # the interrupted one does not count towards --n-trials
