"""GPU accounting: each trial's GPU-seconds and peak GPU memory, the study's GPU-hours, what pruning saved,
and --gpu-hours counted across runs. Slots get (fake) GPUs through TUNER_AVAILABLE_GPUS; the trainer runs on CPU."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import TRAINERS, invoke_tune

CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  epochs: 4,
  sleep: std.parseJson(std.extVar('sleep')),
  peak_gpu_memory_mb: 1234.5,
  trainer: { validation_metric: '+accuracy' },
}
"""


@pytest.fixture
def gpu_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """tune run arguments for a study on two (fake) GPUs; x in 0..5 is the value (epoch by epoch)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1")
    (tmp_path / "gpu.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "categorical", "choices": [0, 1, 2, 3, 4, 5]}}))
    command = f"{sys.executable} {TRAINERS / 'weights.py'} {{config}} {{serialization_dir}}"
    return ["run", "gpu.jsonnet", "space.json", "--command", command, "--gpus", "0,1", "--sampler", "grid"]


def _rows(*args: str) -> list[dict[str, str]]:
    result = invoke_tune("show-trials", "--study-name", "gpu", "--format", "csv", *args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def test_trials_record_gpu_seconds_and_peak_memory_and_the_study_its_gpu_hours(gpu_study: list[str]) -> None:
    # Trials below x = 3 fall under the threshold after their first epoch and are pruned there.
    pruner = ["--pruner", "threshold", "--pruner-kwargs", '{"lower": 0.5}']
    result = invoke_tune(*gpu_study, "--ext-var", "sleep=0.2", "--n-trials", "6", *pruner)
    assert result.exit_code == 0, result.output
    rows = _rows()
    assert {row["state"] for row in rows} == {"COMPLETE", "PRUNED"}
    for row in rows:
        assert row["gpus"] == "1"  # one GPU per slot
        assert 0 < float(row["gpu_seconds"]) <= float(row["duration_s"])  # measured from launch to its end
        assert row["slot"] in ("gpu0", "gpu1")
    assert all(row["peak_gpu_memory_mb"] == "1234.5" for row in rows if row["state"] == "COMPLETE")
    spent = sum(float(row["gpu_seconds"]) for row in rows) / 3600
    assert f"GPU-hours: {spent:.3g} over 6 trials; pruning saved about" in result.output

    table = invoke_tune("show-trials", "--study-name", "gpu")
    assert "GPU time" in table.output and f"GPU-hours: {spent:.3g}" in table.output
    detail = invoke_tune("show-trials", "--study-name", "gpu", "--trial", rows[0]["number"])
    assert "peak GPU memory" in detail.output and "GPU time" in detail.output and "disk" in detail.output

    exported = invoke_tune("export", "--study-name", "gpu", "-o", "out", "--no-plots")
    assert exported.exit_code == 0, exported.output
    summary = json.loads(Path("out/study.json").read_text())
    assert summary["gpu_hours"] == pytest.approx(spent, abs=1e-4)
    saved = _expected_saving(rows)
    assert saved > 0 and summary["gpu_hours_saved_by_pruning"] == pytest.approx(saved, abs=1e-4)
    with open("out/trials.tsv", newline="") as handle:
        exported_rows = list(csv.DictReader(handle, delimiter="\t"))
    assert all(int(row["disk_bytes"]) > 0 for row in exported_rows)
    assert {row["gpu_seconds"] for row in exported_rows} == {row["gpu_seconds"] for row in rows}


def _expected_saving(rows: list[dict[str, str]]) -> float:
    """The documented estimate: epochs not run x completed trials' mean seconds per epoch x GPUs."""
    import statistics

    complete = [row for row in rows if row["state"] == "COMPLETE"]
    full = statistics.median(int(row["epochs_reported"]) for row in complete)
    per_epoch = statistics.fmean(float(row["duration_s"]) / int(row["epochs_reported"]) for row in complete)
    pruned = [row for row in rows if row["state"] == "PRUNED"]
    return sum((full - int(row["epochs_reported"])) * per_epoch * int(row["gpus"]) for row in pruned) / 3600


def test_gpu_hours_stops_starting_trials_and_counts_earlier_runs(gpu_study: list[str]) -> None:
    # 0.0002 GPU-hours is 0.72 GPU-seconds: the first two trials (one per GPU, 4 x 0.3 s each) spend it.
    budget = ["--gpu-hours", "0.0002", "--n-trials", "6", "--pruner", "none", "--ext-var", "sleep=0.3"]
    first = invoke_tune(*gpu_study, *budget)
    assert first.exit_code == 0, first.output
    assert "--gpu-hours 0.0002 reached" in first.output
    assert len(_rows()) == 2
    again = invoke_tune(*gpu_study, *budget)
    assert again.exit_code == 0, again.output
    assert "--gpu-hours 0.0002 reached" in again.output and "this run: 0 complete" in again.output
    assert len(_rows()) == 2


def test_a_cpu_study_shows_no_gpu_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpu.jsonnet").write_text(CONFIG.replace("peak_gpu_memory_mb: 1234.5,", ""))
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "categorical", "choices": [1, 2]}}))
    command = f"{sys.executable} {TRAINERS / 'weights.py'} {{config}} {{serialization_dir}}"
    result = invoke_tune(
        "run", "gpu.jsonnet", "space.json", "--command", command, "--n-trials", "2", "--ext-var", "sleep=0"
    )
    assert result.exit_code == 0, result.output
    assert "GPU" not in result.output
    header = invoke_tune("show-trials", "--study-name", "gpu", "--format", "csv").output.splitlines()[0]
    assert "gpu" not in header
    assert "GPU" not in invoke_tune("show-trials", "--study-name", "gpu").output


def test_a_bad_gpu_hours_is_one_line_and_exit_2(gpu_study: list[str]) -> None:
    for value in ("0", "-1", "nan"):
        result = invoke_tune(*gpu_study, "--gpu-hours", value)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert errors == [
            f"Error: Invalid value for '--gpu-hours': must be a finite number of GPU-hours above 0, got {value!r}"
        ]
