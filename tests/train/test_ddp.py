"""The built-in trainer under a real ``torchrun --nproc-per-node 2`` on CPU (gloo): DDP, rank 0 writes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from tests.train.conftest import read_lines, write_table
from tuner.train.pipeline import train

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 4


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


def _torchrun(config: Path, run: Path, metrics_file: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TUNER_")}
    environ.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", TUNER_METRICS_FILE=str(metrics_file))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "tuner.train", str(config), "-s", str(run)]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=180, check=False)


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
    assert "epoch 1/" in done.stderr and done.stderr.count("epoch 1/") == 1  # rank 1 logs nothing
