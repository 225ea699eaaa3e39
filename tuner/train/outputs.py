"""The run's files: config.json, per-epoch metrics, best.th, vocabulary/, metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from tuner.contract import (
    CONFIG_FILE_NAME,
    EPOCH_METRICS_FILE_NAME,
    FINAL_METRICS_FILE_NAME,
    append_epoch_metrics,
    write_json_atomically,
)
from tuner.train.readers.vocabulary import Vocabulary

WEIGHTS_FILE_NAME = "best.th"
VOCABULARY_DIR_NAME = "vocabulary"


class RunDirectory:
    """Writes the trial contract's files into a serialization directory.

    Args:
        path: The serialization directory (created if missing).
        metrics_file: Where epoch lines go (``$TUNER_METRICS_FILE``); None: ``<path>/metrics.jsonl``.
    """

    def __init__(self, path: Path, metrics_file: Path | None = None) -> None:
        self.path = Path(path)
        self.metrics_file = Path(metrics_file) if metrics_file else self.path / EPOCH_METRICS_FILE_NAME
        self._own_metrics_file = metrics_file is None

    def prepare(self, config: dict[str, Any]) -> None:
        """Create the directory, record the config, and clear results of an earlier run."""
        self.path.mkdir(parents=True, exist_ok=True)
        config_path = self.path / CONFIG_FILE_NAME
        if not config_path.exists():
            write_json_atomically(config_path, config)
        # A stale metrics.json would claim this run finished if it is now killed.
        (self.path / FINAL_METRICS_FILE_NAME).unlink(missing_ok=True)
        if self._own_metrics_file:
            self.metrics_file.write_text("", encoding="utf-8")

    def append_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Append one epoch's metrics line."""
        append_epoch_metrics(self.metrics_file, epoch, metrics)

    def save_weights(self, model: torch.nn.Module) -> None:
        """Save the model's state dict as ``best.th`` (atomically)."""
        target = self.path / WEIGHTS_FILE_NAME
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        torch.save(model.state_dict(), temporary)
        os.replace(temporary, target)

    def save_vocabulary(self, vocab: Vocabulary) -> None:
        """Write ``vocabulary/<namespace>.txt``."""
        vocab.save(self.path / VOCABULARY_DIR_NAME)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Write ``metrics.json``; only a run that completed calls this."""
        write_json_atomically(self.path / FINAL_METRICS_FILE_NAME, json.loads(json.dumps(metrics)))
