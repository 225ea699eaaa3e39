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


def test_cpu_rehearsal_reports_every_parts_figures(tmp_path):
    result = run_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    parts = report["parts"]
    assert list(parts) == PARTS
    assert report["device"] == "cpu" and report["wall_s"] < 360

    setup = parts["setup"]
    assert setup["status"] == "ok" and setup["figures"]["torch_unchanged"] and setup["goal_met"]

    discovery = parts["discovery"]["figures"]
    assert discovery["all"]["tune_saw"] == {"available_gpus": ["0"], "gpus_all": ["0"]}
    assert [(t["slot"], t["CUDA_VISIBLE_DEVICES"]) for t in discovery["all"]["trials_saw"]] == [("gpu0", "0")]
    assert discovery["last_index"]["parent_CUDA_VISIBLE_DEVICES"] == "0"

    digits = parts["digits"]
    assert digits["status"] == "ok" and digits["goal_met"], digits
    figures = digits["figures"]
    assert figures["states"] == {"COMPLETE": 4} and figures["slots"] == 4
    assert figures["cuda_reinit_errors"] == []
    assert 0 < figures["utilisation_whole"] <= 1 and 0 < figures["utilisation_steady"] <= 1
    assert figures["median_overhead_s"] > 0 and figures["median_training_s"] > 0

    for part in ("trainer_vs_loop", "trainer_vs_loop_amp"):
        if (REPO / "benchmarks" / "trainer_vs_loop.py").exists():
            assert parts[part]["status"] == "ok", parts[part]
            assert {"ratio", "trainer_s", "loop_s", "device", "amp"} <= set(parts[part]["figures"])
        else:
            assert parts[part]["status"] == "not available"

    oom = parts["oom"]["figures"]
    assert oom["classified_out_of_memory"] and oom["trials"]
    assert all(trial["reason"].startswith("out of memory") for trial in oom["trials"])

    torchrun = parts["torchrun"]
    assert torchrun["status"] == "ok"
    attempt = torchrun["figures"]["default"]
    assert attempt["trials"][0]["state"] == "COMPLETE" and attempt["epochs_reported"]
    assert isinstance(attempt["each_epoch_once"], bool) and attempt["processes_left"] == 0

    readable = (tmp_path / "gpu_check.md").read_text()
    assert all(f"## {part}: " in readable for part in PARTS)


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
