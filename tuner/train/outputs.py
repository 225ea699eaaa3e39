"""The run's files: config.json, per-epoch metrics, best.th, vocabulary/, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tuner.contract import (
    CONFIG_FILE_NAME,
    EPOCH_METRICS_FILE_NAME,
    FINAL_METRICS_FILE_NAME,
    EpochMetricsReader,
    append_epoch_metrics,
    declare_files,
    is_rank_zero,
    write_json_atomically,
)
from tuner.train.readers.vocabulary import Vocabulary
from tuner.train.writer import BackgroundWriter, serialize, snapshot, write_atomically

WEIGHTS_FILE_NAME = "best.th"
CHECKPOINT_FILE_NAME = "checkpoint.pt"
VOCABULARY_DIR_NAME = "vocabulary"


class RunDirectory:
    """Writes the trial contract's files into a serialization directory.

    Args:
        path: The serialization directory (created if missing).
        metrics_file: Where epoch lines go (``$TUNER_METRICS_FILE``); None: ``<path>/metrics.jsonl``.
        writer: Whether this process writes (default: unless it is a torchrun rank other than 0); the
            other ranks of a DDP run write nothing.
    """

    def __init__(self, path: Path, metrics_file: Path | None = None, *, writer: bool | None = None) -> None:
        self.path = Path(path)
        self.metrics_file = Path(metrics_file) if metrics_file else self.path / EPOCH_METRICS_FILE_NAME
        self._own_metrics_file = metrics_file is None
        self.writer = is_rank_zero() if writer is None else writer
        self._background = BackgroundWriter()

    @property
    def checkpoint(self) -> Path:
        """Where the run's checkpoint lives."""
        return self.path / CHECKPOINT_FILE_NAME

    def prepare(self, config: dict[str, Any], *, resume: bool = False) -> None:
        """Create the directory, record the config, declare the files, and clear results of an earlier run.

        ``resume``: the run goes on from its checkpoint, so the epoch lines already written stay.
        """
        if not self.writer:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        config_path = self.path / CONFIG_FILE_NAME
        if not config_path.exists():
            write_json_atomically(config_path, config)
        declare_files(self.path, weights=[WEIGHTS_FILE_NAME], checkpoints=[CHECKPOINT_FILE_NAME])
        # A stale metrics.json would claim this run finished if it is now killed.
        (self.path / FINAL_METRICS_FILE_NAME).unlink(missing_ok=True)
        if not resume:  # starting over: a checkpoint of an earlier run must not be resumed later
            self.checkpoint.unlink(missing_ok=True)
            if self._own_metrics_file:
                self.metrics_file.write_text("", encoding="utf-8")

    def append_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Append one epoch's metrics line."""
        if self.writer:
            line = dict(metrics)
            self._background.submit(lambda: append_epoch_metrics(self.metrics_file, epoch, line))

    def reported_epochs(self) -> set[int]:
        """The epochs the epoch file already holds (a resumed run reports only the others)."""
        if not self.metrics_file.is_file():
            return set()
        lines = EpochMetricsReader(self.metrics_file, skip_malformed=True).read_new()
        return {line["epoch"] for line in lines if isinstance(line.get("epoch"), int)}

    def save_weights(self, model: torch.nn.Module) -> None:
        """Save the model's state dict as ``best.th`` (atomically)."""
        if not self.writer:
            return
        weights = snapshot(model.state_dict())
        self._background.submit(lambda: write_atomically(self.path / WEIGHTS_FILE_NAME, serialize(weights)))

    def save_checkpoint(self, state: dict[str, Any] | None) -> None:
        """Write ``checkpoint.pt`` (atomically, after the writes asked for before it)."""
        if not self.writer or state is None:
            return
        copied = snapshot(state)
        self._background.submit(lambda: write_atomically(self.checkpoint, serialize(copied)))

    def close(self) -> None:
        """Wait for the files still being written (every run calls this, also when it fails)."""
        self._background.drain()

    def save_vocabulary(self, vocab: Vocabulary) -> None:
        """Write ``vocabulary/<namespace>.txt``."""
        if self.writer:
            vocab.save(self.path / VOCABULARY_DIR_NAME)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Write ``metrics.json``, after every other file; only a run that completed calls this."""
        self.close()
        if self.writer:
            write_json_atomically(self.path / FINAL_METRICS_FILE_NAME, json.loads(json.dumps(metrics)))
