"""benchmarks/gpu_check.sh rehearsed on CPU: every part runs (or says why not) and its figures reach the report.

The rehearsal uses this interpreter as it is (GPU_CHECK_SKIP_INSTALL=1, no wheels), GPU_CHECK_DEVICE=cpu and one
pretend GPU (TUNER_AVAILABLE_GPUS=0), with tiny trial counts; on the GPU machine the same script installs from
benchmarks/wheels and runs on CUDA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
HELPER = REPO / "benchmarks" / "gpu_check_report.py"
PARTS = ["setup", "discovery", "digits", "trainer_vs_loop", "trainer_vs_loop_amp", "oom", "torchrun"]


def run_check(out: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OUT": str(out),
        "GPU_CHECK_DEVICE": "cpu",
        "GPU_CHECK_SKIP_INSTALL": "1",
        "GPU_CHECK_PYTHON": sys.executable,
        "TUNER_AVAILABLE_GPUS": "0",
        "GPU_CHECK_DIGITS_TRIALS": "4",
        "GPU_CHECK_EPOCHS": "1",
        "GPU_CHECK_TORCHRUN_EPOCHS": "1",
        **settings,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=400
    )


def processes_of(folder: Path) -> int:
    result = subprocess.run(
        [sys.executable, str(HELPER), "count-processes", str(folder)], capture_output=True, text=True, check=True
    )
    return int(result.stdout)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One whole CPU rehearsal, shared by the tests below: its output folder and gpu_check.json."""
    out = tmp_path_factory.mktemp("gpu_check")
    result = run_check(out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, json.loads((out / "gpu_check.json").read_text())


def test_the_report_has_every_part_in_json_and_markdown(rehearsal):
    out, report = rehearsal
    assert list(report["parts"]) == PARTS
    assert report["device"] == "cpu" and report["wall_s"] < 360
    readable = (out / "gpu_check.md").read_text()
    assert all(f"## {part}: " in readable for part in PARTS)
    setup = report["parts"]["setup"]
    assert setup["status"] == "ok" and setup["figures"]["torch_unchanged"] and setup["goal_met"]


def test_discovery_shows_what_tune_resolved_and_what_each_trial_saw(rehearsal):
    discovery = rehearsal[1]["parts"]["discovery"]["figures"]
    assert discovery["all"]["tune_saw"] == {"available_gpus": ["0"], "gpus_all": {"0": "0"}}
    assert [(t["slot"], t["CUDA_VISIBLE_DEVICES"]) for t in discovery["all"]["trials_saw"]] == [("gpu0", "0")]
    assert discovery["last_index"]["parent_CUDA_VISIBLE_DEVICES"] == "0"


def test_the_digits_study_on_four_slots_gives_utilisation_and_overhead(rehearsal):
    digits = rehearsal[1]["parts"]["digits"]
    assert digits["status"] == "ok" and digits["goal_met"], digits
    figures = digits["figures"]
    assert figures["states"] == {"COMPLETE": 4} and figures["slots"] == 4
    assert figures["cuda_reinit_errors"] == []
    assert 0 < figures["utilisation_whole"] <= 1 and 0 < figures["utilisation_steady"] <= 1
    assert figures["median_overhead_s"] > 0 and figures["median_training_s"] > 0


def test_trainer_vs_loop_runs_with_and_without_amp_or_says_it_is_not_there(rehearsal):
    parts = rehearsal[1]["parts"]
    assert parts["trainer_vs_loop"]["status"] == "ok", parts["trainer_vs_loop"]
    assert {"ratio", "trainer_s", "loop_s", "device", "amp"} <= set(parts["trainer_vs_loop"]["figures"])
    # The rehearsal runs on the CPU: the trainer's mixed precision is CUDA's, so that part says why it did not run.
    assert parts["trainer_vs_loop_amp"]["status"] == "skipped", parts["trainer_vs_loop_amp"]


def test_the_out_of_memory_trials_are_classified_as_such(rehearsal):
    oom = rehearsal[1]["parts"]["oom"]["figures"]
    assert oom["classified_out_of_memory"] and oom["trials"]
    assert all(trial["reason"].startswith("out of memory") for trial in oom["trials"])


def test_the_torchrun_trial_completes_and_leaves_no_process(rehearsal):
    torchrun = rehearsal[1]["parts"]["torchrun"]
    assert torchrun["status"] == "ok"
    attempt = torchrun["figures"]["default"]
    assert attempt["trials"][0]["state"] == "COMPLETE" and attempt["epochs_reported"]
    assert isinstance(attempt["each_epoch_once"], bool) and attempt["processes_left"] == 0


def test_a_part_out_of_time_is_recorded_and_the_next_part_runs(tmp_path):
    # 100000 epochs of digits take minutes: the study is still running when its 6 s are up.
    result = run_check(
        tmp_path, GPU_CHECK_PARTS="setup digits oom", GPU_CHECK_LIMIT_DIGITS="6", GPU_CHECK_EPOCHS="100000"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    parts = json.loads((tmp_path / "gpu_check.json").read_text())["parts"]
    assert parts["digits"]["status"] == "timed out" and parts["digits"]["goal_met"] is False
    assert parts["oom"]["status"] == "ok" and parts["oom"]["goal_met"]
    assert parts["discovery"]["status"] == "skipped"
    # The timed-out study's tune and trials were ended with it, not left running.
    wait_for(lambda: processes_of(tmp_path / "work" / "digits") == 0, "the timed-out digits study's processes ended")
