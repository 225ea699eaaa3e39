"""Bad configs fail before training with one message naming the key."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.train.conftest import text_config, write_text_split
from tuner.train import DataError, TrainConfigError
from tuner.train.pipeline import train


def _fails(tmp_path: Path, config: dict[str, Any]) -> str:
    with pytest.raises(TrainConfigError) as caught:
        train(config, tmp_path / "run", log=lambda line: None)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def _edit(data: dict[str, str], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    config = text_config(data, num_epochs=1)
    change(config)
    return config


def test_unknown_top_level_key_is_named_with_a_suggestion(tmp_path: Path, text_data: dict[str, str]) -> None:
    message = _fails(tmp_path, _edit(text_data, lambda c: c.update(trainr={})))
    assert "'trainr'" in message and "did you mean 'trainer'" in message


def test_unknown_nested_key_is_named_by_its_path(tmp_path: Path, text_data: dict[str, str]) -> None:
    message = _fails(tmp_path, _edit(text_data, lambda c: c["model"]["seq2vec_encoder"].update(num_filter=3)))
    assert "model.seq2vec_encoder.num_filter" in message


def test_wrong_type_names_the_key(tmp_path: Path, text_data: dict[str, str]) -> None:
    message = _fails(tmp_path, _edit(text_data, lambda c: c["trainer"].update(num_epochs="ten")))
    assert message == "trainer.num_epochs: expected an integer, got 'ten'"


def test_missing_required_key_is_named(tmp_path: Path, text_data: dict[str, str]) -> None:
    message = _fails(tmp_path, _edit(text_data, lambda c: c.pop("model")))
    assert message == "model: missing required key"


def test_unknown_type_lists_the_registered_names(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _edit(text_data, lambda c: c["model"]["seq2vec_encoder"].update(type="lstmm"))
    message = _fails(tmp_path, config)
    assert message == (
        "model.seq2vec_encoder.type: unknown type 'lstmm'. Did you mean 'lstm'? Available: boe, cnn, gru, lstm"
    )


def test_unknown_optimizer_lists_torch_optimizers(tmp_path: Path, text_data: dict[str, str]) -> None:
    message = _fails(tmp_path, _edit(text_data, lambda c: c["trainer"].update(optimizer={"type": "adamm"})))
    assert "trainer.optimizer.type" in message and "Did you mean 'Adam" in message and "SGD" in message


def test_unknown_optimizer_argument_is_named(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _edit(text_data, lambda c: c["trainer"].update(optimizer={"type": "sgd", "lr": 0.1, "momentun": 0.9}))
    assert _fails(tmp_path, config).startswith("trainer.optimizer.momentun: not an argument of torch's SGD")


def test_invalid_optimizer_value_is_a_config_error(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _edit(text_data, lambda c: c["trainer"].update(optimizer={"type": "sgd", "lr": -1.0}))
    assert _fails(tmp_path, config).startswith("trainer.optimizer: SGD rejected its arguments")


def test_validation_metric_needs_a_sign(tmp_path: Path, text_data: dict[str, str]) -> None:
    message = _fails(tmp_path, _edit(text_data, lambda c: c["trainer"].update(validation_metric="accuracy")))
    assert message.startswith("trainer.validation_metric:")


def test_missing_data_file_is_named(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _edit(text_data, lambda c: c.update(validation_data_path=str(tmp_path / "nope.jsonl")))
    with pytest.raises(DataError, match=r"^validation_data_path: file not found: .*nope.jsonl$"):
        train(config, tmp_path / "run", log=lambda line: None)


def test_validation_label_unseen_in_training_is_rejected(tmp_path: Path, text_data: dict[str, str]) -> None:
    odd = write_text_split(tmp_path / "odd.jsonl", 10, 3, labels=("pos", "neutral"))
    message = _fails(tmp_path, _edit(text_data, lambda c: c.update(validation_data_path=str(odd))))
    assert message.startswith("validation_data_path: label(s) 'neutral' never appear in train_data_path")


def test_malformed_data_line_is_located(tmp_path: Path, text_data: dict[str, str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\n")
    message = _fails(tmp_path, _edit(text_data, lambda c: c.update(train_data_path=str(bad))))
    assert "line 1" in message and "'label'" in message


def test_encoder_size_must_match_the_embedder(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _edit(text_data, lambda c: c["model"]["seq2vec_encoder"].update(embedding_dim=7))
    assert "model.seq2vec_encoder.embedding_dim: 7 does not match" in _fails(tmp_path, config)


def test_image_cnn_rejects_flat_features(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    config = {
        "dataset_reader": {"type": "sklearn", "dataset": "iris"},
        "train_data_path": "train",
        "model": {"type": "cnn"},
    }
    assert "'cnn' needs 2-D inputs" in _fails(tmp_path, config)


def test_sklearn_dataset_name_is_checked(tmp_path: Path) -> None:
    config = {
        "dataset_reader": {"type": "sklearn", "dataset": "digit"},
        "train_data_path": "train",
        "model": {"type": "mlp"},
    }
    assert "Did you mean 'digits'" in _fails(tmp_path, config)


def test_requested_gpu_without_one_is_a_config_error(tmp_path: Path, text_data: dict[str, str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    message = _fails(tmp_path, _edit(text_data, lambda c: c["trainer"].update(cuda_device=0)))
    assert message.startswith("trainer.cuda_device: GPU 0 requested but 0 visible")


def test_config_errors_come_before_any_file_is_written(tmp_path: Path, text_data: dict[str, str]) -> None:
    _fails(tmp_path, _edit(text_data, lambda c: c["trainer"].update(patience=0)))
    assert not (tmp_path / "run").exists()
