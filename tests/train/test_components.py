"""Every registered component trains on tiny data; the learnable tasks are learned."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.train.conftest import read_lines, text_config, write_table
from tuner.train import MODELS, READERS, SEQ2VEC_ENCODERS, TOKENIZERS
from tuner.train.pipeline import train


def test_registries_list_the_built_in_components() -> None:
    assert READERS.names() == ["sklearn", "tabular", "text_classification_json"]
    assert MODELS.names() == ["basic_classifier", "cnn", "mlp"]
    assert SEQ2VEC_ENCODERS.names() == ["boe", "cnn", "gru", "lstm"]
    assert TOKENIZERS.names() == ["character", "whitespace"]


def test_bag_of_embeddings_beats_chance_by_a_clear_margin(tmp_path: Path, text_data: dict[str, str]) -> None:
    metrics = train(text_config(text_data), tmp_path / "run", log=lambda line: None)
    assert metrics["best_validation_accuracy"] >= 0.9  # chance is 0.5


@pytest.mark.parametrize(
    "encoder",
    [
        {"type": "cnn", "embedding_dim": 16, "ngram_filter_sizes": [2, 3], "num_filters": 8, "output_dim": 8},
        {"type": "cnn", "num_filters": 4, "ngram_filter_sizes": [20]},  # filter longer than every text
        {"type": "lstm", "input_size": 16, "hidden_size": 8, "bidirectional": True},
        {"type": "gru", "hidden_size": 8, "num_layers": 2, "dropout": 0.1},
        {"type": "boe"},
    ],
    ids=["cnn", "cnn-long-filter", "lstm-bidirectional", "gru-2-layers", "boe-sum"],
)
def test_each_seq2vec_encoder_trains(tmp_path: Path, text_data: dict[str, str], encoder: dict) -> None:
    metrics = train(text_config(text_data, encoder, num_epochs=2), tmp_path / "run", log=lambda line: None)
    assert metrics["epoch"] == 1 and 0.0 <= metrics["validation_accuracy"] <= 1.0


def test_character_tokenizer_trains(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config(text_data, num_epochs=1)
    config["dataset_reader"]["tokenizer"] = {"type": "character"}
    train(config, tmp_path / "run", log=lambda line: None)
    tokens = (tmp_path / "run" / "vocabulary" / "tokens.txt").read_text().split("\n")
    assert max(len(token) for token in tokens[2:] if token) == 1


@pytest.mark.parametrize("suffix,delimiter", [(".csv", ","), (".tsv", "\t")])
def test_mlp_learns_a_tabular_task(tmp_path: Path, suffix: str, delimiter: str) -> None:
    config = {
        "dataset_reader": {"type": "tabular", "label_column": "label"},
        "train_data_path": str(write_table(tmp_path / f"train{suffix}", 300, 1, delimiter)),
        "validation_data_path": str(write_table(tmp_path / f"dev{suffix}", 100, 2, delimiter)),
        "model": {"type": "mlp", "hidden_dims": [16], "activation": "tanh", "dropout": 0.0},
        "data_loader": {"batch_size": 32},
        "trainer": {"num_epochs": 10, "optimizer": {"type": "Adam", "lr": 0.03}, "validation_metric": "+accuracy"},
    }
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert metrics["best_validation_accuracy"] >= 0.85


def test_tabular_feature_columns_select_inputs(tmp_path: Path) -> None:
    config = {
        "dataset_reader": {"type": "tabular", "feature_columns": ["x0", "x1"], "standardize": False},
        "train_data_path": str(write_table(tmp_path / "train.csv", 50, 1)),
        "model": {"type": "mlp", "hidden_dim": 8, "num_layers": 2},
        "trainer": {"num_epochs": 1},
    }
    train(config, tmp_path / "run", log=lambda line: None)
    state = torch.load(tmp_path / "run" / "best.th")
    assert state["layers.1.weight"].shape == (8, 2)


@pytest.mark.parametrize(
    "dataset,model",
    [
        ("digits", {"type": "cnn", "channels": [4, 8], "hidden_dim": 16}),
        ("digits", {"type": "mlp", "hidden_dims": [32]}),
        ("iris", {"type": "mlp", "hidden_dims": []}),
    ],
)
def test_sklearn_datasets_train(tmp_path: Path, dataset: str, model: dict) -> None:
    pytest.importorskip("sklearn")
    config = {
        "dataset_reader": {"type": "sklearn", "dataset": dataset, "validation_fraction": 0.3},
        "train_data_path": "train",
        "validation_data_path": "validation",
        "model": model,
        "data_loader": {"batch_size": 32},
        "trainer": {"num_epochs": 6, "optimizer": {"type": "adam", "lr": 0.02}, "validation_metric": "+accuracy"},
    }
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert metrics["best_validation_accuracy"] >= 0.7


def test_optimizer_scheduler_and_clipping_options_run(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config(
        text_data,
        num_epochs=3,
        grad_norm=1.0,
        grad_clipping=0.5,
        learning_rate_scheduler={"type": "step_lr", "step_size": 1, "gamma": 0.5},
    )
    config["trainer"]["optimizer"] = {"type": "sgd", "lr": 0.5, "momentum": 0.9}
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert metrics["epoch"] == 2


def test_reduce_on_plateau_gets_the_validation_metric(tmp_path: Path, text_data: dict[str, str]) -> None:
    from tuner.train.models.text import BasicClassifier

    class PlateauProbe(BasicClassifier):
        """``answer`` improves (falls) every training pass, and is flat on validation."""

        passes = 0

        def get_metrics(self, reset: bool = False) -> dict[str, float]:
            if self.training:
                PlateauProbe.passes += 1
                return {"answer": -float(PlateauProbe.passes)}
            return {"answer": 42.0}

    if "plateau_probe_for_test" not in MODELS.names():
        MODELS.register("plateau_probe_for_test")(PlateauProbe)
    # factor 0: once the scheduler sees a plateau the learning rate is 0 and the weights stop moving. Only the
    # validation answer plateaus; the training answer and the losses improve, so they would never stop it.
    scheduler = {"type": "reduce_on_plateau", "mode": "min", "patience": 0, "factor": 0.0}
    config = text_config(text_data, num_epochs=4, validation_metric="-answer", learning_rate_scheduler=scheduler)
    config["model"]["type"] = "plateau_probe_for_test"
    train(config, tmp_path / "run", log=lambda line: None)

    losses = [line["validation_loss"] for line in read_lines(tmp_path / "run" / "metrics.jsonl")]
    assert [line["validation_answer"] for line in read_lines(tmp_path / "run" / "metrics.jsonl")] == [42.0] * 4
    assert losses[0] != losses[1]  # the first two epochs learn; the plateau is seen after the second
    assert losses[1] == losses[2] == losses[3], losses  # then the learning rate is 0: the same weights each epoch


def test_vocabulary_respects_min_count_and_max_size(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config(text_data, num_epochs=1)
    config["vocabulary"] = {"min_count": {"tokens": 2}, "max_vocab_size": 5}
    train(config, tmp_path / "run", log=lambda line: None)
    tokens = (tmp_path / "run" / "vocabulary" / "tokens.txt").read_text().splitlines()
    assert tokens[:2] == ["@@PADDING@@", "@@UNKNOWN@@"] and len(tokens) == 7
    assert set((tmp_path / "run" / "vocabulary" / "labels.txt").read_text().split()) == {"pos", "neg"}


def test_run_without_validation_selects_on_training_metric(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config({"train_data_path": text_data["train_data_path"]}, num_epochs=2)
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert "validation_accuracy" not in metrics and metrics["training_accuracy"] > 0


def test_custom_model_metrics_reach_the_epoch_lines(tmp_path: Path, text_data: dict[str, str]) -> None:
    from tuner.train.models.text import BasicClassifier

    class Counting(BasicClassifier):
        def get_metrics(self, reset: bool = False) -> dict[str, float]:
            return {"answer": 42.0}

    MODELS.register("counting_classifier_for_test")(Counting)
    config = text_config(text_data, num_epochs=1)
    config["model"]["type"] = "counting_classifier_for_test"
    train(config, tmp_path / "run", log=lambda line: None)
    line = read_lines(tmp_path / "run" / "metrics.jsonl")[0]
    assert line["training_answer"] == 42.0 and line["validation_answer"] == 42.0


def test_bundled_sklearn_files_match_sklearns_loader() -> None:
    numpy = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from tuner.train.readers.sklearn_datasets import _load_with_sklearn, load_arrays

    for dataset in ("digits", "iris", "wine", "breast_cancer"):
        ours, theirs = load_arrays(dataset, images=True), _load_with_sklearn(dataset, images=True)
        assert numpy.allclose(ours[0], theirs[0]) and (ours[1] == theirs[1]).all()
