"""Out of memory: retried once alone when the trial shared its GPU; never a reason on its own to stop a run.

The rule (README "Out-of-memory trials"): a trial that runs out of memory on a GPU other slots share
(--trials-per-gpu > 1) is queued again to run alone, its first attempt not counted; the slots of the GPU it
gets take no new trial until it has ended. Out-of-memory failures count towards --max-failures and
--max-failure-rate but neither extend nor break the "5 failures in a row with the same reason" streak; only
20 of them in a row, with nothing completed or pruned in between, stop a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import TRAINERS
from tests.faults.conftest import run_tune, write_faulty_study
from tuner.study.records import REASON_OOM_SHARED
from tuner.trials.budget import DEFAULT_SAME_REASON_STREAK, OUT_OF_MEMORY_STREAK, FailurePolicy

CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  epochs: 3,
  sleep: 0.3,
  shared_dir: std.extVar('shared_dir'),
  trainer: { validation_metric: '+accuracy' },
}
"""


def runs_log(shared: Path) -> list[tuple[int, float, float, bool]]:
    """Each trainer run: trial number, start, end (its own clock), whether it ran out of memory."""
    runs = []
    for line in (shared / "runs.log").read_text().splitlines():
        number, start, end, oom = line.split()
        runs.append((int(number), float(start), float(end), oom == "True"))
    return runs


def test_trial_out_of_memory_on_a_shared_gpu_is_retried_alone_and_the_study_completes(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0")
    shared = tmp_path / "gpus"
    (tmp_path / "oom.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0}}))
    command = f"{sys.executable} {TRAINERS / 'gpu_sharing.py'} {{config}} {{serialization_dir}}"
    args = ["oom.jsonnet", "space.json", "--ext-var", f"shared_dir={shared}", "--command", command]
    args += ["--gpus", "0", "--trials-per-gpu", "2", "--n-trials", "4", "--pruner", "none", "--seed", "0"]

    result = run_tune(args, tmp_path)

    assert result.returncode == 0, result.stdout
    trials = optuna.load_study(study_name="oom", storage="sqlite:///tune.db").trials
    failed = [trial for trial in trials if trial.state.name == "FAIL"]
    assert failed, "two trials sharing GPU 0 from the start: at least one ran out of memory"
    assert {trial.user_attrs["reason"] for trial in failed} == {REASON_OOM_SHARED}  # none out of memory alone
    retries = {trial.user_attrs["retry"]["of"]: trial for trial in trials if "retry" in trial.user_attrs}
    assert sorted(retries) == [trial.number for trial in failed]
    assert all(retry.state.name == "COMPLETE" and retry.user_attrs["retry"]["alone"] for retry in retries.values())
    assert [trial.state.name for trial in trials].count("COMPLETE") == 4  # first attempts do not count
    runs = runs_log(shared)
    for retry in retries.values():
        (alone,) = [run for run in runs if run[0] == retry.number]
        overlapping = [run[0] for run in runs if run[0] != retry.number and run[1] < alone[2] and alone[1] < run[2]]
        assert overlapping == [], f"trial {retry.number} ran alone on GPU 0"


def test_out_of_memory_failures_in_a_row_do_not_stop_the_run_as_a_broken_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*write_faulty_study(tmp_path)(fault="cuda_oom"), "--n-trials", "7"]

    result = run_tune(args, tmp_path)

    assert result.returncode == 1, result.stdout  # every trial failed
    assert "all failed with" not in result.stdout
    trials = optuna.load_study(study_name="faulty", storage="sqlite:///tune.db").trials
    assert [trial.user_attrs["reason"] for trial in trials] == ["out of memory"] * 7  # on CPU: no retry


def test_failure_policy_leaves_out_of_memory_out_of_the_same_reason_streak():
    policy = FailurePolicy()
    for _ in range(DEFAULT_SAME_REASON_STREAK + 2):
        policy.record("FAIL", "out of memory")
    assert policy.stop_reason() is None
    for reason in ["crashed (exit code 1)"] * 2 + ["out of memory"] + ["crashed (exit code 1)"] * 3:
        policy.record("FAIL", reason)  # an out-of-memory failure neither extends nor breaks the streak
    assert policy.stop_reason() == "the last 5 trials all failed with: crashed (exit code 1)"


def test_failure_policy_stops_after_a_long_streak_of_out_of_memory_and_counts_them_as_failures():
    policy = FailurePolicy()
    for _ in range(OUT_OF_MEMORY_STREAK - 1):
        policy.record("FAIL", "out of memory")
    policy.record("COMPLETE", None)  # something fits: the streak starts over
    for _ in range(OUT_OF_MEMORY_STREAK - 1):
        policy.record("FAIL", "out of memory")
    assert policy.stop_reason() is None
    policy.record("FAIL", "out of memory")
    assert f"{OUT_OF_MEMORY_STREAK} trials in a row ran out of memory" in (policy.stop_reason() or "")

    counted = FailurePolicy(max_failures=3)
    for _ in range(3):
        counted.record("FAIL", "out of memory")
    assert (counted.stop_reason() or "").startswith("3 trials failed (--max-failures 3)")
