"""A trial that misbehaves fails with a short reason and its log; the study goes on; nothing is left running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.conftest import live_pids, load_trials, recorded_pids, states

# --trial-timeout: the hanging trainer's, and a bound no other trial comes near (a trial that crashes at once
# must fail of its crash however slowly a busy machine starts it, not of a timeout).
HANG_TIMEOUT = 5
TRIAL_TIMEOUT = 300
# fault of trial 0 -> the reason recorded on it, and a line its log must keep ("" where it prints nothing).
FAULTS = {
    "exit": ("crashed (exit code 3): giving up with status 3", "giving up with status 3"),
    "raise": ("crashed (exit code 1): RuntimeError: the trainer raised", "RuntimeError: the trainer raised"),
    "segv": ("killed (SIGSEGV, signal 11)", ""),
    "sigkill": ("killed (SIGKILL, signal 9)", ""),
    "cuda_oom": ("out of memory", "CUDA out of memory"),
    "cpu_oom": ("out of memory", "MemoryError"),
    "hang": (f"timed out after {HANG_TIMEOUT} s", ""),
    "nan": ("objective 'best_validation_accuracy' is nan", ""),
    "inf": ("objective 'best_validation_accuracy' is inf", ""),
    # An intermediate NaN fails the trial (documented in README: "any per-epoch value is NaN").
    "nan_epoch": ("diverged: validation_accuracy is nan at epoch 0", ""),
    "no_metric": ("metric 'best_validation_accuracy' was not reported (metrics seen: validation_loss)", ""),
    "wrong_name": ("metric 'best_validation_accuracy' was not reported (metrics seen: val_acc)", ""),
    "malformed": ("metrics.jsonl line 1 is not JSON: '{epoch: 0, validation_accuracy: oops}'", ""),
}


def timeout_for(fault: str) -> list[str]:
    return ["--trial-timeout", str(HANG_TIMEOUT if fault == "hang" else TRIAL_TIMEOUT)]


def assert_study_still_usable(tune_cli, tmp_path: Path) -> None:
    dumped = tune_cli("dump-best", "-o", "dumped.json")
    assert dumped.exit_code == 0, dumped.output
    assert json.loads((tmp_path / "dumped.json").read_text())["x"] == load_trials()[1].params["x"]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_faulty_trial_fails_with_its_reason_and_the_next_trial_runs(fault, faulty_study, tune_cli, tmp_path):
    reason, logged = FAULTS[fault]
    result = tune_cli(*faulty_study(faults={"0": fault}, spawn=True), "--n-trials", "2", *timeout_for(fault))

    assert result.exit_code == 0, result.output
    first, second = load_trials()
    assert (first.state.name, first.user_attrs["reason"]) == ("FAIL", reason)
    assert second.state.name == "COMPLETE"
    assert f"failed: {reason}" in result.output  # the per-trial line
    trial_dir = tmp_path / "results" / "faulty" / "trial_0"
    assert (trial_dir / "out.log").exists()
    if logged:
        assert logged in first.user_attrs["log_tail"] and logged in (trial_dir / "out.log").read_text()
    assert len(recorded_pids(tmp_path / "results")) >= 4  # two trainers, two grandchildren (and warm workers)
    assert live_pids(tmp_path / "results") == set()
    shown = json.loads(tune_cli("show-trials", "--format", "json").stdout)
    assert [row["reason"] for row in shown] == [reason, None]
    assert_study_still_usable(tune_cli, tmp_path)


@pytest.mark.parametrize("fault", ["segv", "hang"])
def test_warm_launched_faulty_trial_leaves_no_process(fault, faulty_study, tune_cli, tmp_path):
    reason = FAULTS[fault][0]
    result = tune_cli(*faulty_study(warm=True, faults={"0": fault}, spawn=True), "--n-trials", "2", *timeout_for(fault))

    assert result.exit_code == 0, result.output
    assert [(t.state.name, t.user_attrs.get("reason")) for t in load_trials()] == [("FAIL", reason), ("COMPLETE", None)]
    assert len(recorded_pids(tmp_path / "results")) >= 5  # and the warm worker
    assert live_pids(tmp_path / "results") == set()


def test_max_failures_stops_the_study_with_the_most_common_reason(faulty_study, tune_cli):
    faults = {"0": "exit", "1": "segv", "2": "exit"}
    result = tune_cli(*faulty_study(faults=faults), "--n-trials", "10", "--max-failures", "3")

    assert result.exit_code == 1, result.output
    assert states(load_trials()) == ["FAIL"] * 3
    assert "3 trials failed (--max-failures 3); most often: crashed (exit code 3)" in result.output


def test_max_failure_rate_stops_the_study_once_five_trials_finished(faulty_study, tune_cli):
    faults = {"0": "exit", "1": "ok", "2": "segv", "3": "exit", "4": "ok"}
    result = tune_cli(*faulty_study(faults=faults), "--n-trials", "10", "--max-failure-rate", "0.5")

    assert result.exit_code == 1, result.output
    assert states(load_trials()) == ["FAIL", "COMPLETE", "FAIL", "FAIL", "COMPLETE"]
    assert "3 of 5 trials failed, more than --max-failure-rate 0.5" in result.output


def test_failures_with_different_reasons_do_not_stop_the_study(faulty_study, tune_cli):
    faults = {str(n): fault for n, fault in enumerate(["exit", "segv", "exit", "segv", "exit", "segv"])}
    result = tune_cli(*faulty_study(faults=faults), "--n-trials", "7")

    assert result.exit_code == 0, result.output
    assert states(load_trials()) == ["FAIL"] * 6 + ["COMPLETE"]
