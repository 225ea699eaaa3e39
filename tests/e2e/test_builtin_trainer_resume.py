"""The whole path of issue 16 with the built-in trainer: `tune` killed mid-trial, the same command again.

The trial resumes in its folder from the trainer's checkpoint.pt, reports each epoch once, and ends
with exactly the value and intermediate values of an uninterrupted run of the same study.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import optuna

from tests.conftest import wait_for
from tests.faults.conftest import run_tune, tune_process
from tests.train.conftest import read_lines, text_config, write_text_split

STORAGE = "sqlite:///tune.db"
STALL_ENV = "TEST_STALL_AT_STEP"  # tests/train/stalling_model.py: that training step never returns
STEPS_PER_EPOCH = 13  # 200 training texts, batch 16
COMMAND = "{python} -m tuner.train {config} -s {serialization_dir} --include-package tests.train.stalling_model"


def _write_study(tmp_path: Path) -> list[str]:
    data = {
        "train_data_path": str(write_text_split(tmp_path / "train.jsonl", 200, 1)),
        "validation_data_path": str(write_text_split(tmp_path / "dev.jsonl", 60, 2)),
    }
    config = text_config(data, learning_rate_scheduler={"type": "step_lr", "step_size": 2, "gamma": 0.5})
    config["model"] = {**config["model"], "type": "stalling_classifier", "dropout": 0.3}
    sampled = "{trainer: {optimizer: {lr: std.parseJson(std.extVar('lr'))}}}"
    jsonnet = f"std.mergePatch({json.dumps(config)}, {sampled})"
    (tmp_path / "config.jsonnet").write_text(jsonnet)
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"type": "float", "low": 0.01, "high": 0.05}}))
    return ["config.jsonnet", "space.json", "--n-trials", "1", "--seed", "0", "--pruner", "none", "--command", COMMAND]


def _trials(study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=STORAGE).trials


def test_builtin_trainer_resumes_after_tune_is_killed_and_ends_as_an_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _write_study(tmp_path)
    folder = tmp_path / "results" / "killed" / "trial_0"
    os.environ[STALL_ENV] = str(3 * STEPS_PER_EPOCH + 1)  # stalls in epoch 3, after epochs 0-2 and their checkpoints
    try:
        tune = tune_process([*args, "--study-name", "killed"], tmp_path)
    finally:
        del os.environ[STALL_ENV]
    lines = folder / "metrics.jsonl"
    wait_for(
        lambda: lines.exists() and lines.read_text().count("\n") >= 3 and (folder / "checkpoint.pt").exists(),
        "epochs 0-2 reported and checkpointed",
        timeout=300,
        process=tune,
    )
    tune.send_signal(signal.SIGKILL)
    tune.communicate(timeout=60)

    rerun = run_tune([*args, "--study-name", "killed"], tmp_path, timeout=300)
    reference = run_tune([*args, "--study-name", "uninterrupted"], tmp_path, timeout=300)

    assert rerun.returncode == 0, rerun.stdout
    assert reference.returncode == 0, reference.stdout
    first, resumed = _trials("killed")
    (uninterrupted,) = _trials("uninterrupted")
    assert first.state.name == "FAIL" and resumed.state.name == "COMPLETE"
    assert resumed.user_attrs["retry"]["of"] == 0
    assert resumed.user_attrs["launch"]["directory"] == str(folder.resolve())
    assert not (tmp_path / "results" / "killed" / "trial_1").exists()
    assert [line["epoch"] for line in read_lines(lines)] == list(range(8))  # each epoch once
    final = json.loads((folder / "metrics.json").read_text())
    assert final["training_start_epoch"] == 3  # it went on from the checkpoint, not from epoch 0
    assert resumed.params == uninterrupted.params
    assert resumed.intermediate_values == uninterrupted.intermediate_values  # floats compared exactly
    assert resumed.value == uninterrupted.value
