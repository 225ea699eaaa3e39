"""The trial contract: how `tune` and a training process talk, through files only.

This module is imported by trainers (the built-in one and users' own), so it must
stay light: no Optuna, no torch, standard library only.

A trial process finds in its environment:

* ``TUNER_CONFIG``: path of the rendered config (plain JSON).
* ``TUNER_SERIALIZATION_DIR``: the folder it may write into (the trial's own).
* ``TUNER_METRICS_FILE``: a JSON-lines file; the trainer appends one object per epoch.
* ``TUNER_TRIAL_NUMBER``: the Optuna trial number.
* ``TUNER_TRIAL_TOKEN``: a marker unique to this launch; `tune` ends every process that carries
  it when the trial ends, so keep it in the environment of anything the trainer starts.

Each epoch line is ``{"epoch": N, <metric>: <value>, ...}``. A trainer that knows how many
epochs it will run may add ``"last_epoch"``: the ``epoch`` value its final epoch will have
(``num_epochs - 1`` when counting from 0). ``tune`` never prunes at or after that epoch:
pruning there saves nothing and loses a finished result.

At the end it may write ``<serialization dir>/metrics.json`` with final metrics.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

ENV_CONFIG = "TUNER_CONFIG"
ENV_SERIALIZATION_DIR = "TUNER_SERIALIZATION_DIR"
ENV_METRICS_FILE = "TUNER_METRICS_FILE"
ENV_TRIAL_NUMBER = "TUNER_TRIAL_NUMBER"
ENV_TRIAL_TOKEN = "TUNER_TRIAL_TOKEN"

CONFIG_FILE_NAME = "config.json"
EPOCH_METRICS_FILE_NAME = "metrics.jsonl"
FINAL_METRICS_FILE_NAME = "metrics.json"
LOG_FILE_NAME = "out.log"

EPOCH_KEY = "epoch"
LAST_EPOCH_KEY = "last_epoch"


def report(epoch: int, *, last_epoch: int | None = None, **metrics: float) -> bool:
    """Append one epoch's metrics for `tune` to read (and prune on).

    ``last_epoch``: the ``epoch`` value of the run's final epoch, if known; `tune` does not
    prune there. Returns False, writing nothing, when the process was not started by `tune`
    (``TUNER_METRICS_FILE`` unset), so a trainer can call it unconditionally.
    """
    path = os.environ.get(ENV_METRICS_FILE)
    if not path:
        return False
    if last_epoch is not None:
        metrics = {**metrics, LAST_EPOCH_KEY: last_epoch}
    append_epoch_metrics(Path(path), epoch, metrics)
    return True


def append_epoch_metrics(path: Path, epoch: int, metrics: dict[str, Any]) -> None:
    """Append ``{"epoch": epoch, **metrics}`` as one line and flush it to the OS."""
    line = json.dumps({EPOCH_KEY: epoch, **{k: _plain(v) for k, v in metrics.items()}})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def write_json_atomically(path: Path, data: Any, *, durable: bool = True) -> None:
    """Write JSON so that readers see the old file or the whole new one, never a part.

    ``durable`` also waits for the disk (fsync), so that the file survives a power cut;
    a file rewritten from the study anyway (a trial's rendered config) can skip that.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:  # a full disk, say: leave no part-written file, and name the real one
        temporary.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None


def _plain(value: Any) -> Any:
    """Turn tensors and numpy scalars into plain numbers; keep NaN/inf visible."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return value  # json writes NaN/Infinity; the reader treats them as non-finite
    return value
