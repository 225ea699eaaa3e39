"""Resuming an interrupted trial through PyKEEN's own training checkpoint, kept in the trial folder.

PyKEEN saves ``checkpoint.pt`` after every epoch (``checkpoint_frequency`` 0 minutes, the default here)
and, given the same ``checkpoint_name`` again, loads it and continues at the next epoch: model, optimizer,
LR scheduler, losses, random seed and the Python, NumPy, torch (and CUDA) RNG states. This module decides,
before PyKEEN starts, whether that happens: only on a resumed launch (``TUNER_RESUME=1``). A fresh launch
deletes a checkpoint left in the folder, so that it really starts over.

Epochs already reported stay reported: on resume their lines are read back from the metrics file, so the
run neither evaluates nor reports them again, and its final metrics (best epoch, best validation MRR) cover
every epoch of the trial.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tuner.contract import (
    EPOCH_KEY,
    LAST_EPOCH_KEY,
    EpochMetricsReader,
    MalformedMetricsError,
    declare_files,
    is_resumed,
)

CHECKPOINT_FILE_NAME = "checkpoint.pt"
WEIGHTS_FILE_NAME = "trained_model.pkl"  # the whole trained model, as PyKEEN's own save_to_directory names it
CHECKPOINT_FREQUENCY_KEY = "checkpoint_frequency"
DEFAULT_CHECKPOINT_MINUTES = 0  # PyKEEN: at least this many minutes between checkpoints; 0 = after every epoch

EpochLine = dict[str, float]


def checkpoint_kwargs(directory: Path, training_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``training_kwargs`` with PyKEEN's checkpoint written to (and resumed from) the trial folder."""
    return {
        **training_kwargs,
        "checkpoint_directory": str(directory),
        "checkpoint_name": CHECKPOINT_FILE_NAME,
        CHECKPOINT_FREQUENCY_KEY: training_kwargs.get(CHECKPOINT_FREQUENCY_KEY, DEFAULT_CHECKPOINT_MINUTES),
    }


def prepare_start(directory: Path, metrics_file: Path) -> dict[int, EpochLine]:
    """Leave the folder's checkpoint for PyKEEN to resume from, or delete it; return the epochs already reported.

    A fresh launch returns ``{}`` and deletes any checkpoint. A resumed one keeps a checkpoint that loads
    (one cut short by the kill is deleted: the run starts over) and returns the epoch lines reported so far.
    """
    directory.mkdir(parents=True, exist_ok=True)
    declare_files(directory, weights=[WEIGHTS_FILE_NAME], checkpoints=[CHECKPOINT_FILE_NAME])
    checkpoint = directory / CHECKPOINT_FILE_NAME
    if not is_resumed():
        checkpoint.unlink(missing_ok=True)
        return {}
    if checkpoint.is_file() and not _loads(checkpoint):
        checkpoint.unlink()
    return reported_epochs(metrics_file)


def checkpoint_epoch(directory: Path) -> int | None:
    """The last epoch PyKEEN finished before its checkpoint in ``directory`` (None: no checkpoint)."""
    import torch

    path = directory / CHECKPOINT_FILE_NAME
    if not path.is_file():
        return None
    return int(torch.load(path, weights_only=False, map_location="cpu")["epoch"])


def reported_epochs(metrics_file: Path) -> dict[int, EpochLine]:
    """The epoch lines already in ``metrics_file``, by epoch, without ``epoch`` and ``last_epoch``."""
    reader = EpochMetricsReader(metrics_file, skip_malformed=True)
    try:
        reader.read_new()
    except MalformedMetricsError:  # a line past the size limit: keep the lines before it
        pass
    history: dict[int, EpochLine] = {}
    for line in reader.epochs:
        epoch = line.get(EPOCH_KEY)
        if isinstance(epoch, int) and not isinstance(epoch, bool):
            history[epoch] = {
                key: float(value)
                for key, value in line.items()
                if key not in (EPOCH_KEY, LAST_EPOCH_KEY) and isinstance(value, (int, float))
            }
    return history


def save_model(model: Any, directory: Path) -> None:
    """Write the trained model as ``trained_model.pkl`` (``torch.load(path, weights_only=False)`` reads it)."""
    import torch

    target = directory / WEIGHTS_FILE_NAME
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    torch.save(model, temporary)
    os.replace(temporary, target)


def _loads(path: Path) -> bool:
    """Whether PyKEEN will be able to read the checkpoint (a kill during its save leaves a cut-short file)."""
    import torch

    try:
        checkpoint = torch.load(path, weights_only=False, map_location="cpu")
    except Exception:  # noqa: BLE001 - any failure to unpickle means the same: not a usable checkpoint
        return False
    return isinstance(checkpoint, dict) and "epoch" in checkpoint
