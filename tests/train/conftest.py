"""Tiny, learnable data sets written into ``tmp_path``; no downloads."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

torch.set_num_threads(1)

POSITIVE = ["good", "great", "fine", "superb"]
NEGATIVE = ["bad", "awful", "poor", "dire"]
FILLER = ["the", "movie", "was", "a", "plot", "and", "actors", "film", "story", "it"]


def write_text_split(path: Path, n: int, seed: int, labels: tuple[str, str] = ("pos", "neg")) -> Path:
    """JSON lines whose label is given by one sentiment word among filler words."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            positive = i % 2 == 0
            words = rng.choices(FILLER, k=rng.randint(3, 12))
            words.insert(
                rng.randrange(len(words) + 1),
                rng.choice(POSITIVE if positive else NEGATIVE).upper()
                if rng.random() < 0.3
                else rng.choice(POSITIVE if positive else NEGATIVE),
            )
            handle.write(json.dumps({"text": " ".join(words), "label": labels[0] if positive else labels[1]}) + "\n")
    return path


def write_table(path: Path, n: int, seed: int, delimiter: str = ",") -> Path:
    """Label is whether x0 + x1 > 0; x2 is noise."""
    rng = random.Random(seed)
    lines = [delimiter.join(["x0", "x1", "x2", "label"])]
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(3)]
        lines.append(delimiter.join([f"{v:.4f}" for v in x] + ["yes" if x[0] + x[1] > 0 else "no"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def text_data(tmp_path: Path) -> dict[str, str]:
    return {
        "train_data_path": str(write_text_split(tmp_path / "train.jsonl", 200, 1)),
        "validation_data_path": str(write_text_split(tmp_path / "dev.jsonl", 60, 2)),
    }


def text_config(data: dict[str, str], encoder: dict[str, Any] | None = None, **trainer: Any) -> dict[str, Any]:
    """A small basic_classifier config in the seed's shape."""
    return {
        "random_seed": 1,
        "numpy_seed": 1,
        "pytorch_seed": 1,
        "dataset_reader": {
            "type": "text_classification_json",
            "tokenizer": {"type": "whitespace"},
            "token_indexers": {"tokens": {"type": "single_id", "lowercase_tokens": True}},
        },
        "datasets_for_vocab_creation": ["train"],
        **data,
        "model": {
            "type": "basic_classifier",
            "text_field_embedder": {"token_embedders": {"tokens": {"embedding_dim": 16}}},
            "seq2vec_encoder": encoder or {"type": "boe", "embedding_dim": 16, "averaged": True},
            "dropout": 0.1,
        },
        "data_loader": {"batch_size": 16},
        "trainer": {
            "num_epochs": 8,
            "optimizer": {"type": "adam", "lr": 0.02},
            "validation_metric": "+accuracy",
            "cuda_device": -1,
            **trainer,
        },
    }


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
