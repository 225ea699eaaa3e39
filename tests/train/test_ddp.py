"""The built-in trainer under a real ``torchrun --nproc-per-node 2`` on CPU (gloo): DDP, rank 0 writes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from tests.conftest import wait_for
from tests.train.conftest import read_lines, write_table
from tests.train.test_checkpoint_resume import LAUNCH_KEYS, STALL_ENV
from tests.train.test_checkpoint_resume import _config as _stalling_config
from tuner.train.pipeline import train

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 4
MARKER = "TEST_DDP_RUN"


def _config(tmp_path: Path) -> dict[str, Any]:
    """No dropout: then two ranks with half of each batch compute exactly one process's gradient, up to
    float rounding. 249 examples in batches of 32 end with a batch of 25, split 13/12 between the ranks."""
    return {
        "dataset_reader": {"type": "tabular", "label_column": "label"},
        "train_data_path": str(write_table(tmp_path / "train.csv", 249, 1)),
        "validation_data_path": str(write_table(tmp_path / "dev.csv", 91, 2)),  # 46 + 45 examples per rank
        "model": {"type": "mlp", "hidden_dims": [16]},
        "data_loader": {"batch_size": 32},
        "trainer": {
            "num_epochs": EPOCHS,
            "optimizer": {"type": "adam", "lr": 0.01},
            "learning_rate_scheduler": {"type": "step_lr", "step_size": 1, "gamma": 0.8},
            "validation_metric": "+accuracy",
            "cuda_device": -1,
        },
    }


def _torchrun_process(config: Path, run: Path, metrics_file: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """torchrun with 2 ranks; output in ``run``.log (torchrun's ranks would hold a pipe open after a kill)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TUNER_") and k != STALL_ENV}
    environ.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", TUNER_METRICS_FILE=str(metrics_file), **env)
    environ[MARKER] = str(run)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "tuner.train", str(config), "-s", str(run), *args]
    with open(run.with_suffix(".log"), "w", encoding="utf-8") as log:
        return subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT, text=True)


def _torchrun(config: Path, run: Path, metrics_file: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    process = _torchrun_process(config, run, metrics_file, *args, **env)
    try:
        process.wait(timeout=180)
    finally:
        _kill_all(process, run)
    output = run.with_suffix(".log").read_text(encoding="utf-8")
    return subprocess.CompletedProcess(process.args, process.returncode, output, output)


def _kill_all(process: subprocess.Popen[str], run: Path) -> None:
    """SIGKILL torchrun's agent and its ranks, found by a marker in their environment: torchrun starts
    each rank in a session of its own, so they outlive a killed agent."""
    marker = f"{MARKER}={run}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours
            continue
    process.wait()


def test_two_ranks_train_as_one_process_and_report_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    alone = train(config, tmp_path / "alone", log=lambda line: None)
    run, metrics_file = tmp_path / "ddp", tmp_path / "trial_metrics.jsonl"

    done = _torchrun(path, run, metrics_file)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = read_lines(metrics_file)
    assert [line["epoch"] for line in lines] == list(range(EPOCHS))  # one line per epoch: rank 0's
    final = json.loads((run / "metrics.json").read_text())
    assert final["training_epochs"] == EPOCHS and final["param_count"] == alone["param_count"]
    # Accuracy is reduced from integer counts over all 91 validation examples: exactly the single-process
    # figure when the two models agree on every prediction. The models differ only by float rounding
    # (gradients summed across ranks in another order), so losses agree to about 1e-7 (float32 sums), not bit for bit.
    for key in ("best_validation_accuracy", "validation_accuracy", "training_accuracy"):
        assert final[key] == alone[key], key
    for key in ("validation_loss", "training_loss"):
        assert math.isclose(final[key], alone[key], rel_tol=1e-5), (key, final[key], alone[key])
    assert final["best_epoch"] == alone["best_epoch"]
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2  # each rank's RNGs, for an exact resume
    assert done.stdout.count("epoch 1/") == 1  # rank 1 logs nothing


def test_two_ranks_killed_and_resumed_end_as_an_uninterrupted_pair(tmp_path: Path, text_data: dict[str, str]) -> None:
    """Batches of 15 split 8/7: the ranks draw different numbers of dropout masks, so their generators part
    ways, and only restoring each rank's own makes the resumed pair exact."""
    config = _stalling_config(tmp_path, text_data)
    rendered = json.loads(config.read_text())
    rendered["data_loader"]["batch_size"] = 15  # 14 steps per epoch
    config.write_text(json.dumps(rendered))
    include = ("--include-package", "tests.train.stalling_model")
    done = _torchrun(config, tmp_path / "reference", tmp_path / "reference.jsonl", *include)
    assert done.returncode == 0, done.stderr
    run, metrics_file = tmp_path / "run", tmp_path / "run.jsonl"
    process = _torchrun_process(config, run, metrics_file, *include, **{STALL_ENV: str(3 * 14 + 1)})
    try:
        wait_for(
            lambda: metrics_file.exists() and metrics_file.read_text().count("\n") >= 3,
            "epoch 2's line (its checkpoint is written before it)",
            timeout=120,
            process=process,
        )
    finally:
        _kill_all(process, run)
    assert not (run / "metrics.json").exists()

    done = _torchrun(config, run, metrics_file, *include, TUNER_RESUME="1")

    assert done.returncode == 0, done.stderr
    assert read_lines(metrics_file) == read_lines(tmp_path / "reference.jsonl")
    resumed, reference = (json.loads((folder / "metrics.json").read_text()) for folder in (run, tmp_path / "reference"))
    assert resumed["training_start_epoch"] == 3
    assert {k: v for k, v in resumed.items() if k not in LAUNCH_KEYS} == {
        k: v for k, v in reference.items() if k not in LAUNCH_KEYS
    }
