"""The trial contract's files and early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.train.conftest import read_lines, text_config
from tuner.train.pipeline import train
from tuner.train.readers.vocabulary import Vocabulary

EPOCH_KEYS = {"epoch", "last_epoch", "training_loss", "training_accuracy", "validation_loss", "validation_accuracy"}


def test_epoch_lines_and_final_metrics_follow_the_contract(tmp_path: Path, text_data: dict[str, str]) -> None:
    run = tmp_path / "run"
    metrics = train(text_config(text_data, num_epochs=3), run, log=lambda line: None)
    lines = read_lines(run / "metrics.jsonl")
    assert [line["epoch"] for line in lines] == [0, 1, 2]
    assert all(set(line) == EPOCH_KEYS for line in lines)
    assert [line["last_epoch"] for line in lines] == [2, 2, 2]  # declared so that tune never prunes at epoch 2
    final = json.loads((run / "metrics.json").read_text())
    assert final == metrics
    for key in (
        "best_epoch",
        "best_validation_loss",
        "best_validation_accuracy",
        "training_duration",
        "epoch",
        "training_loss",
        "training_accuracy",
        "validation_loss",
        "validation_accuracy",
    ):
        assert key in final
    best = lines[final["best_epoch"]]
    assert (
        final["best_validation_accuracy"] == best["validation_accuracy"] == max(l["validation_accuracy"] for l in lines)
    )


def test_metrics_file_from_the_tuner_receives_the_epoch_lines(tmp_path: Path, text_data: dict[str, str]) -> None:
    sink = tmp_path / "trial.jsonl"
    train(text_config(text_data, num_epochs=2), tmp_path / "run", metrics_file=sink, log=lambda line: None)
    assert len(read_lines(sink)) == 2
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_best_weights_vocabulary_and_config_allow_evaluating_again(tmp_path: Path, text_data: dict[str, str]) -> None:
    run = tmp_path / "run"
    config = text_config(text_data, num_epochs=2)
    train(config, run, log=lambda line: None)
    assert json.loads((run / "config.json").read_text()) == config
    vocab = Vocabulary.load(run / "vocabulary")
    state = torch.load(run / "best.th")
    assert state["embedding.weight"].shape[0] == vocab.size("tokens")


def test_existing_config_json_is_kept(tmp_path: Path, text_data: dict[str, str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"rendered": "by tune"}')
    train(text_config(text_data, num_epochs=1), run, log=lambda line: None)
    assert json.loads((run / "config.json").read_text()) == {"rendered": "by tune"}


def test_patience_stops_training_early(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config(text_data, num_epochs=10, patience=2)
    config["trainer"]["optimizer"] = {"type": "sgd", "lr": 0.0}  # nothing improves after epoch 0
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert metrics["epoch"] == 2 and metrics["best_epoch"] == 0
    assert len(read_lines(tmp_path / "run" / "metrics.jsonl")) == 3


def test_minus_loss_selects_the_lowest_validation_loss(tmp_path: Path, text_data: dict[str, str]) -> None:
    metrics = train(
        text_config(text_data, num_epochs=3, validation_metric="-loss"), tmp_path / "run", log=lambda line: None
    )
    lines = read_lines(tmp_path / "run" / "metrics.jsonl")
    assert metrics["best_validation_loss"] == min(line["validation_loss"] for line in lines)


def test_final_metrics_count_trainable_parameters_and_no_gpu_memory_on_cpu(
    tmp_path: Path, text_data: dict[str, str]
) -> None:
    metrics = train(text_config(text_data, num_epochs=1), tmp_path / "run", log=lambda line: None)
    weights = torch.load(tmp_path / "run" / "best.th")
    assert metrics["param_count"] == sum(tensor.numel() for tensor in weights.values()) > 0
    assert "peak_gpu_memory_mb" not in metrics


def test_a_rank_other_than_0_writes_nothing(
    tmp_path: Path, text_data: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchrun's RANK=1 without a process group (WORLD_SIZE unset): it trains, but writes no file or line."""
    monkeypatch.setenv("RANK", "1")
    sink = tmp_path / "trial.jsonl"
    lines: list[str] = []
    train(text_config(text_data, num_epochs=2), tmp_path / "run", metrics_file=sink, log=lines.append)
    assert not sink.exists() and not (tmp_path / "run").exists()
