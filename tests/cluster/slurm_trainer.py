"""A trainer for the SLURM tests: it records which array task ran it and can wait for the test; no torch.

Config keys (rendered by tune): ``x`` (float; the objective is ``1 / (1 + (x - 3)^2)``), ``sync`` (a folder the
test watches), ``wait_for_tasks`` (int: start training only once trials of that many array tasks have started, so
that every task takes part), ``hold`` (bool: train only once ``<sync>/hold`` is gone, so that the test can
interrupt a running trial).

Each start appends a line ``<task> <trial> <TUNER_RESUME>`` to ``<sync>/started`` and writes
``<serialization dir>/task.json`` (the task, SLURM_ARRAY_JOB_ID, TUNER_RESUME, CUDA_VISIBLE_DEVICES). Run as
``python -m tests.cluster.slurm_trainer CONFIG SERIALIZATION_DIR`` (tune's warm launch forks it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tuner.contract import report, write_json_atomically

WAIT_SECONDS = 120  # a missing event fails the test on its assertions instead of hanging the job


def started_tasks(sync: Path) -> set[str]:
    """The array tasks whose trials have started so far."""
    lines = (sync / "started").read_text().splitlines() if (sync / "started").exists() else []
    return {line.split()[0] for line in lines if line.strip()}


def wait(condition: object, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.1)


def main(config_path: str, directory: str) -> int:
    config = json.loads(Path(config_path).read_text())
    sync = Path(config["sync"])
    task = os.environ.get("SLURM_ARRAY_TASK_ID", "none")
    resume = os.environ.get("TUNER_RESUME", "0")
    write_json_atomically(
        Path(directory) / "task.json",
        {
            "task": task,
            "job": os.environ.get("SLURM_ARRAY_JOB_ID"),
            "resume": resume,
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
        },
    )
    with open(sync / "started", "a") as handle:  # one short write: lines of two tasks do not mix
        handle.write(f"{task} {os.environ.get('TUNER_TRIAL_NUMBER')} {resume}\n")
    if config.get("wait_for_tasks"):
        wait(lambda: len(started_tasks(sync)) >= int(config["wait_for_tasks"]))
    if config.get("hold"):
        wait(lambda: not (sync / "hold").exists())
    value = 1.0 / (1.0 + (float(config["x"]) - 3.0) ** 2)
    report(0, validation_accuracy=value, last_epoch=0)
    write_json_atomically(Path(directory) / "metrics.json", {"best_validation_accuracy": value})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
