"""A trial that floods its log costs `tune` no memory; a busy faulty study survives Ctrl-C and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import wait_for
from tests.faults.conftest import REPO, live_pids, load_trials, pid_alive, run_tune, states, tune_process
from tuner.study.records import REASON_NOT_LAUNCHED

MEASURE_PEAK_RSS = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_kib(args: list[str], cwd) -> tuple[int, int]:
    """Exit status and peak RSS of `tune` (and its trials: the largest of them) in KiB."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = subprocess.run(
        [sys.executable, "-c", MEASURE_PEAK_RSS, sys.executable, "-m", "tuner", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    status, peak = output.split()
    return int(status), int(peak)


def test_a_200_mb_log_goes_to_the_file_not_into_tunes_memory(faulty_study, tmp_path):
    quiet_status, quiet_peak = peak_rss_kib(
        [*faulty_study(fault="ok"), "--n-trials", "1", "--study-name", "quiet"], tmp_path
    )
    status, peak = peak_rss_kib([*faulty_study(fault="flood", flood_mb=200), "--n-trials", "1"], tmp_path)

    assert quiet_status == status == 0
    assert (tmp_path / "results" / "faulty" / "trial_0" / "out.log").stat().st_size == 200 * 2**20
    assert peak - quiet_peak < 20 * 1024, (quiet_peak, peak)  # KiB: far below the 200 MB written
    (trial,) = load_trials()
    assert trial.state.name == "COMPLETE"


def trainer_running(trial_folder: Path) -> bool:
    """Whether the trial's trainer (not its grandchild) wrote its pid file and still runs."""
    for path in trial_folder.glob("pids/*"):
        text = path.read_text()
        if (
            text.endswith("\n") and text.strip() != path.name and pid_alive(int(path.name))
        ):  # a grandchild writes its own pid
            return True
    return False


# What trial n does: FAULT_CYCLE[n % 4], but for two that hang. By trial number, not by the sampled x: a resumed
# run with the same --seed samples the first run's values again, and those happen to be faultless.
FAULT_CYCLE = ("ok", "exit", "ok", "nan")
FAULT_REASONS = {
    "exit": "crashed (exit code 3): giving up with status 3",
    "hang": "timed out after 5 s",
    "nan": "objective 'best_validation_accuracy' is nan",
}


def test_mixed_faults_on_four_slots_interrupted_and_resumed_add_up(faulty_study, tmp_path):
    n_trials = 24
    halfway = n_trials // 2
    faults = {str(number): FAULT_CYCLE[number % len(FAULT_CYCLE)] for number in range(2 * n_trials)}
    faults[str(halfway)] = "hang"  # so Ctrl-C is sure to find it running
    faults[str(halfway + 8)] = "hang"  # in the resumed run (the first ends before it): one that times out
    # The trial timeout ends the hanging trials, and leaves the others time to finish on a busy machine.
    args = [
        *faulty_study(faults=faults, sleep=0.2, spawn=True),
        "--n-trials",
        str(n_trials),
        "--n-jobs",
        "4",
        "--sampler",
        "random",
        "--trial-timeout",
        "5",
    ]
    tune = tune_process(args, tmp_path)
    wait_for(
        lambda: trainer_running(tmp_path / "results" / "faulty" / f"trial_{halfway}"),
        f"trial {halfway}'s trainer to run (half the trials launched)",
        process=tune,
    )
    tune.send_signal(signal.SIGINT)
    first, _ = tune.communicate(timeout=120)
    assert tune.returncode == 130, first

    resumed = run_tune(args, tmp_path, timeout=300)

    assert resumed.returncode == 0, resumed.stdout
    trials = load_trials()
    reasons = [t.user_attrs.get("reason") for t in trials]
    assert "RUNNING" not in states(trials) and "WAITING" not in states(trials)
    assert reasons[halfway] == "interrupted", reasons
    interrupted = reasons.count("interrupted")
    # Interrupted trials are re-run, not counted; so is a trial prepared for the next free slot.
    not_run = reasons.count(REASON_NOT_LAUNCHED)
    assert len(trials) - interrupted - not_run == n_trials, reasons
    assert set(reasons) - {None, "interrupted", REASON_NOT_LAUNCHED} == set(FAULT_REASONS.values()), set(reasons)
    assert live_pids(tmp_path / "results") == set()
    completed = [trial.params["x"] for trial in trials if trial.state.name == "COMPLETE"]  # x is their objective
    assert json.loads((tmp_path / "results" / "faulty" / "best_config.json").read_text())["x"] == max(completed)
