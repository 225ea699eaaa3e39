"""checkpoint.pt: a run killed with SIGKILL and resumed ends exactly as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import wait_for
from tests.train.conftest import read_lines, text_config, write_table
from tuner.contract import declared_files
from tuner.train.outputs import RunDirectory
from tuner.train.pipeline import train

ROOT = Path(__file__).resolve().parents[2]
STALL_ENV = "TEST_STALL_AT_STEP"  # as in stalling_model, which only the trainer processes import (it registers a model)
STEPS_PER_EPOCH = 13  # 200 training texts, batch 16
# They differ between any two runs (wall time) or say where this launch started.
LAUNCH_KEYS = {"training_duration", "training_duration_seconds", "training_start_epoch"}


def _config(tmp_path: Path, data: dict[str, str]) -> Path:
    """8 epochs; dropout, Adam and a step scheduler, so that the RNGs and every state matter."""
    config = text_config(data, learning_rate_scheduler={"type": "step_lr", "step_size": 2, "gamma": 0.5})
    config["model"] = {**config["model"], "type": "stalling_classifier", "dropout": 0.3}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _start(config: Path, run: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TUNER_") and k != STALL_ENV}
    environ.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **env)
    command = [sys.executable, "-m", "tuner.train", str(config), "-s", str(run)]
    command += ["--include-package", "tests.train.stalling_model", *args]
    return subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _run(config: Path, run: Path, *args: str, **env: str) -> dict[str, Any]:
    process = _start(config, run, *args, **env)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    return json.loads((run / "metrics.json").read_text())


def _kill_after_epoch(config: Path, run: Path, epoch: int) -> None:
    """Run until epoch ``epoch``'s line and checkpoint exist (it stalls in the next epoch), then SIGKILL it."""
    process = _start(config, run, **{STALL_ENV: str((epoch + 1) * STEPS_PER_EPOCH + 1)})
    try:
        lines = run / "metrics.jsonl"
        wait_for(
            lambda: (run / "checkpoint.pt").exists() and lines.exists() and lines.read_text().count("\n") > epoch,
            f"epoch {epoch}'s line and checkpoint",
            timeout=120,
            process=process,
        )
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL


def test_a_killed_run_resumed_ends_exactly_as_an_uninterrupted_one(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _config(tmp_path, text_data)
    reference = _run(config, tmp_path / "reference")
    run = tmp_path / "run"
    _kill_after_epoch(config, run, 2)
    assert [line["epoch"] for line in read_lines(run / "metrics.jsonl")] == [0, 1, 2]
    assert not (run / "metrics.json").exists()

    resumed = _run(config, run, TUNER_RESUME="1")

    assert read_lines(run / "metrics.jsonl") == read_lines(tmp_path / "reference" / "metrics.jsonl")  # floats exact
    assert {k: v for k, v in resumed.items() if k not in LAUNCH_KEYS} == {
        k: v for k, v in reference.items() if k not in LAUNCH_KEYS
    }
    assert (resumed["training_start_epoch"], reference["training_start_epoch"]) == (3, 0)
    best, best_reference = torch.load(run / "best.th"), torch.load(tmp_path / "reference" / "best.th")
    assert all(torch.equal(best[name], best_reference[name]) for name in best_reference)
    assert declared_files(run).weights == ("best.th",) and declared_files(run).checkpoints == ("checkpoint.pt",)


def test_resume_without_a_checkpoint_starts_over(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _config(tmp_path, text_data)
    reference = _run(config, tmp_path / "reference")
    resumed = _run(config, tmp_path / "run", "--resume")
    assert read_lines(tmp_path / "run" / "metrics.jsonl") == read_lines(tmp_path / "reference" / "metrics.jsonl")
    assert resumed["best_validation_accuracy"] == reference["best_validation_accuracy"]
    assert resumed["training_start_epoch"] == 0


def test_a_checkpoint_of_another_config_is_not_resumed(tmp_path: Path, text_data: dict[str, str]) -> None:
    run = tmp_path / "run"
    train(text_config(text_data, num_epochs=2), run, log=lambda line: None)
    notes: list[str] = []
    metrics = train(text_config(text_data, num_epochs=3), run, log=notes.append, resume=True)
    assert [line["epoch"] for line in read_lines(run / "metrics.jsonl")] == [0, 1, 2]
    assert metrics["training_start_epoch"] == 0
    assert any("starting over" in note for note in notes)


def test_a_finished_run_resumed_trains_no_more_and_reports_nothing_again(
    tmp_path: Path, text_data: dict[str, str]
) -> None:
    run = tmp_path / "run"
    config = text_config(text_data, num_epochs=3)
    first = train(config, run, log=lambda line: None)
    again = train(config, run, log=lambda line: None, resume=True)
    assert [line["epoch"] for line in read_lines(run / "metrics.jsonl")] == [0, 1, 2]
    assert {k: v for k, v in again.items() if k not in LAUNCH_KEYS} == {
        k: v for k, v in first.items() if k not in LAUNCH_KEYS
    }


def test_an_epoch_whose_line_was_lost_is_reported_on_resume(
    tmp_path: Path, text_data: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between writing epoch 1's checkpoint and its line: the resumed run reports epoch 1 first."""
    config = text_config(text_data, num_epochs=3)
    train(config, tmp_path / "reference", log=lambda line: None)
    append = RunDirectory.append_epoch

    def die_at_epoch_1(self: RunDirectory, epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt  # the process ends here: epoch 1's checkpoint is written, its line is not
        append(self, epoch, metrics)

    run = tmp_path / "run"
    monkeypatch.setattr(RunDirectory, "append_epoch", die_at_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train(config, run, log=lambda line: None)
    monkeypatch.undo()
    assert torch.load(run / "checkpoint.pt", weights_only=True)["progress"]["next_epoch"] == 2
    assert [line["epoch"] for line in read_lines(run / "metrics.jsonl")] == [0]
    train(config, run, log=lambda line: None, resume=True)
    assert read_lines(run / "metrics.jsonl") == read_lines(tmp_path / "reference" / "metrics.jsonl")


def test_checkpoint_is_never_seen_half_written(tmp_path: Path) -> None:
    """A reader loading checkpoint.pt all through a run always gets a whole one (temporary file + rename)."""
    data = {
        "train_data_path": str(write_table(tmp_path / "train.csv", 300, 1)),
        "validation_data_path": str(write_table(tmp_path / "dev.csv", 60, 2)),
    }
    config = {
        "dataset_reader": {"type": "tabular", "label_column": "label"},
        **data,
        "model": {"type": "mlp", "hidden_dims": [256, 256]},  # about 1 MB of weights, 3 MB with Adam's moments
        "trainer": {"num_epochs": 40, "optimizer": {"type": "adam", "lr": 0.001}, "cuda_device": -1},
    }
    run = tmp_path / "run"
    finished = threading.Event()
    loads: list[int] = []

    def read_all_the_time() -> None:
        while not finished.is_set():
            try:
                state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
            except FileNotFoundError:
                continue
            loads.append(state["progress"]["next_epoch"])

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        train(config, run, log=lambda line: None)
    finally:
        finished.set()
        reader.join()
    assert loads, "the reader never found a checkpoint"
    assert loads == sorted(loads) and loads[-1] <= 40
    assert not list(run.glob(".checkpoint.pt.*"))
