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
* ``TUNER_PARAM_<NAME>`` for each sampled parameter (the name upper-cased, other characters than
  letters and digits as ``_``) and ``TUNER_PARAMS``, all of them as one JSON object.
* ``TUNER_RESUME``: ``1`` when this launch resumes a trial that was interrupted, in the same folder;
  a trainer that checkpoints continues from its checkpoint (:func:`is_resumed`), one that does not
  simply starts over. Epochs already reported stay reported: report only the epochs it runs now.

Several processes (torchrun, DDP): only global rank 0 (torchrun's ``RANK``) reports; :func:`report`
does nothing on the other ranks, so every rank may call it.

Each epoch line is ``{"epoch": N, <metric>: <value>, ...}``. A trainer that knows how many
epochs it will run may add ``"last_epoch"``: the ``epoch`` value its final epoch will have
(``num_epochs - 1`` when counting from 0). ``tune`` never prunes at or after that epoch:
pruning there saves nothing and loses a finished result.

At the end it may write ``<serialization dir>/metrics.json`` with final metrics.

A trainer may say which of its files are model weights and which are checkpoints
(:func:`declare_files`, written to ``tuner_files.json``): `tune` then copies the best trial's weights
next to best_config.json and deletes the weights of trials that can no longer be among the best
(``--keep-checkpoints``). Undeclared files are never deleted.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

ENV_CONFIG = "TUNER_CONFIG"
ENV_SERIALIZATION_DIR = "TUNER_SERIALIZATION_DIR"
ENV_METRICS_FILE = "TUNER_METRICS_FILE"
ENV_TRIAL_NUMBER = "TUNER_TRIAL_NUMBER"
ENV_TRIAL_TOKEN = "TUNER_TRIAL_TOKEN"
ENV_RESUME = "TUNER_RESUME"
ENV_RANK = "RANK"  # torchrun's global rank
# Script trials (README "Scripts that take flags"): every sampled value, one variable each and all in one JSON object.
ENV_PARAM_PREFIX = "TUNER_PARAM_"
ENV_PARAMS = "TUNER_PARAMS"

CONFIG_FILE_NAME = "config.json"
EPOCH_METRICS_FILE_NAME = "metrics.jsonl"
FINAL_METRICS_FILE_NAME = "metrics.json"
LOG_FILE_NAME = "out.log"
FILES_MANIFEST_NAME = "tuner_files.json"

EPOCH_KEY = "epoch"
LAST_EPOCH_KEY = "last_epoch"
_TAIL_BYTES = 65536  # of the metrics file, for the last epoch reported


def report(epoch: Any, /, *, last_epoch: Any = None, **metrics: Any) -> bool:
    """Append one epoch's metrics for `tune` to read (and prune on).

    ``last_epoch``: the ``epoch`` value of the run's final epoch, if known; `tune` does not
    prune there. Returns False, writing nothing, when the process was not started by `tune`
    (``TUNER_METRICS_FILE`` unset), so a trainer can call it unconditionally.

    Takes what frameworks hand over: ``epoch`` may be a whole float (``1.0``), a numpy or 0-d tensor
    number; metric values may be tensors or numpy scalars; a metric named ``epoch`` (Hugging Face's
    float epoch counter in its metrics dict) is dropped, the argument being the epoch. An epoch not
    after the last one in the file is written with a warning on stderr (the trial's log).
    """
    path = os.environ.get(ENV_METRICS_FILE)
    if not path or not is_rank_zero():
        return False
    epoch = whole_epoch(epoch, EPOCH_KEY)
    metrics.pop(EPOCH_KEY, None)
    if last_epoch is not None:
        metrics[LAST_EPOCH_KEY] = whole_epoch(last_epoch, LAST_EPOCH_KEY)
    _warn_if_not_after(Path(path), epoch)
    append_epoch_metrics(Path(path), epoch, metrics)
    return True


def whole_epoch(value: Any, name: str = EPOCH_KEY) -> int:
    """``value`` as a non-negative int: ints, whole floats (``2.0``), numpy and 0-d tensor numbers.

    Raises ValueError naming ``name`` for anything else (``0.5``, ``-1``, ``"3"``, True).
    """
    number = _plain(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ValueError(f"{name} must be a non-negative whole number, got {number!r:.40}")
    return number


def _warn_if_not_after(path: Path, epoch: int) -> None:
    """Say on stderr when ``epoch`` repeats or goes back behind the file's last line (a sanity check, say)."""
    last = _last_epoch_in(path)
    if last is None or epoch > last:
        return
    what = "was already reported" if epoch == last else f"comes after epoch {last}"
    print(
        f"tuner.report: warning: epoch {epoch} {what}; tune prunes on the first line of an epoch and takes the "
        "result from its last (a callback that also runs in Lightning's sanity check? use "
        "tuner.integrations.lightning.TunerCallback)",
        file=sys.stderr,
        flush=True,
    )


def _last_epoch_in(path: Path) -> int | None:
    """The ``epoch`` of the last complete line of ``path``; None when there is none or it cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            lines = handle.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[:-1]):  # the part after the last newline is not a complete line
        if line.strip():
            try:
                value = json.loads(line).get(EPOCH_KEY)
            except (ValueError, AttributeError):
                return None
            return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def is_rank_zero() -> bool:
    """Whether this process reports: true unless torchrun's ``RANK`` names another rank."""
    rank = os.environ.get(ENV_RANK, "0").strip()
    return rank in ("", "0")


def is_resumed() -> bool:
    """Whether `tune` started this process to resume an interrupted trial in its folder."""
    return os.environ.get(ENV_RESUME) == "1"


@dataclass(frozen=True)
class DeclaredFiles:
    """A trial folder's files as its trainer declared them, as paths relative to the folder."""

    weights: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()


def declare_files(directory: Path, *, weights: Iterable[str] = (), checkpoints: Iterable[str] = ()) -> None:
    """Say which files in trial folder ``directory`` are model weights and which are checkpoints."""
    manifest = {"weights": [str(name) for name in weights], "checkpoints": [str(name) for name in checkpoints]}
    write_json_atomically(Path(directory) / FILES_MANIFEST_NAME, manifest, durable=False)


def declared_files(directory: Path) -> DeclaredFiles:
    """What the trainer declared in ``directory`` (nothing, when it declared nothing or the file is unreadable)."""
    try:
        data = json.loads((Path(directory) / FILES_MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DeclaredFiles()
    if not isinstance(data, dict):
        return DeclaredFiles()

    def names(key: str) -> tuple[str, ...]:
        listed = data.get(key)
        if not isinstance(listed, list):
            return ()
        return tuple(name for name in listed if isinstance(name, str) and name and not Path(name).is_absolute())

    return DeclaredFiles(weights=names("weights"), checkpoints=names("checkpoints"))


def append_epoch_metrics(path: Path, epoch: int, metrics: dict[str, Any]) -> None:
    """Append ``{"epoch": epoch, **metrics}`` as one line and flush it to the OS."""
    line = json.dumps({EPOCH_KEY: epoch, **{k: _plain(v) for k, v in metrics.items()}}, default=str)
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
    """Turn tensors and numpy scalars into plain numbers (arrays into lists); keep NaN/inf visible."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError):  # numpy and torch: more than one element
            return value.tolist() if hasattr(value, "tolist") else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return value  # json writes NaN/Infinity; the reader treats them as non-finite
    return value


# One epoch line or metrics.json. Metrics are small JSON objects; a trainer may add a few large
# arrays (per-class scores), but more than this is a runaway trainer, and `tune` holds it in memory.
MAX_METRICS_BYTES = 64 * 2**20
_MAX_METRICS_TEXT = "64 MiB"
_MAX_INT_DIGITS = 308  # 10**308 is about the largest float
_READ_CHUNK_BYTES = 2**20


class TrialResultError(Exception):
    """A finished trial's metrics do not give a usable objective (the trial fails)."""


class MalformedMetricsError(TrialResultError):
    """A metrics line is not a JSON object."""


def read_final_metrics(path: Path) -> dict[str, Any] | None:
    """``metrics.json`` as a dict, None when absent; a malformed one fails the trial."""
    with _open_metrics_file(path) as handle:
        if handle is None:
            return None
        raw = _read(handle, path, MAX_METRICS_BYTES + 1)
    if len(raw) > MAX_METRICS_BYTES:
        raise MalformedMetricsError(f"{path.name} is larger than {_MAX_METRICS_TEXT}")
    return parse_metrics(raw, path.name)


def parse_metrics(raw: bytes, where: str) -> dict[str, Any]:
    """One metrics object, an epoch line or ``metrics.json``: the one parser of trainers' output.

    Raises :class:`MalformedMetricsError` starting with ``where`` (``metrics.jsonl line 3``).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedMetricsError(
            f"{where} is not UTF-8 (byte {raw[error.start]:#x} at offset {error.start})"
        ) from None
    try:
        data = json.loads(text, parse_int=_metric_int)
    except json.JSONDecodeError:
        raise MalformedMetricsError(f"{where} is not JSON: {text[:80]!r}") from None
    except RecursionError:
        raise MalformedMetricsError(f"{where} is not a metrics object: JSON nested too deeply") from None
    except _HugeInteger as error:
        raise MalformedMetricsError(f"{where} holds an integer of {error} digits, too large for a metric") from None
    if not isinstance(data, dict):
        raise MalformedMetricsError(f"{where} is not a JSON object")
    return data


class EpochMetricsReader:
    """Reads the per-epoch JSON lines a trainer appends, picking up only complete new lines.

    ``skip_malformed`` passes over lines that do not parse (to show what a failed trial left);
    a file that cannot be read or a line past :data:`MAX_METRICS_BYTES` still raises.
    """

    def __init__(self, path: Path, *, skip_malformed: bool = False) -> None:
        self.path = path
        self.skip_malformed = skip_malformed
        self.epochs: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = bytearray()  # the line being written; a bytearray so that a long one grows in place
        self._lines_read = 0  # complete lines seen, blank ones included, for error messages

    def read_new(self) -> list[dict[str, Any]]:
        """Lines completed since the last call; raises :class:`MalformedMetricsError`.

        Lines read before a malformed one stay in :attr:`epochs`.
        """
        new: list[dict[str, Any]] = []
        with _open_metrics_file(self.path) as handle:
            if handle is None:
                return []
            handle.seek(self._offset)
            while chunk := _read(handle, self.path, _READ_CHUNK_BYTES):
                self._offset += len(chunk)
                self._take_lines(chunk, new)
        return new

    def _take_lines(self, chunk: bytes, new: list[dict[str, Any]]) -> None:
        *complete, rest = chunk.split(b"\n")
        if complete:
            complete[0] = bytes(self._partial) + complete[0]
            self._partial = bytearray()
        self._partial += rest
        for line in complete:
            self._check_length(len(line))
            self._lines_read += 1
            if not line.strip():
                continue
            try:
                data = parse_metrics(line, f"{self.path.name} line {self._lines_read}")
            except MalformedMetricsError:
                if self.skip_malformed:
                    continue
                raise
            self.epochs.append(data)
            new.append(data)
        self._check_length(len(self._partial))

    def _check_length(self, length: int) -> None:
        if length > MAX_METRICS_BYTES:
            raise MalformedMetricsError(
                f"{self.path.name} line {self._lines_read + 1} is longer than {_MAX_METRICS_TEXT}"
            )


class _HugeInteger(ValueError):
    """An integer in metrics that no float can hold (its digit count is the message)."""


def _metric_int(text: str) -> int:
    # json would hand 400 digits to float() later (OverflowError) and refuse 5000 itself (ValueError).
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise _HugeInteger(digits)
    return int(text)


@contextmanager
def _open_metrics_file(path: Path) -> Iterator[BinaryIO | None]:
    """``path`` open for reading, None when it does not exist; anything but a regular file is malformed.

    Opened without blocking so that a named pipe in its place cannot hang `tune`.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        yield None
        return
    except OSError as error:
        raise MalformedMetricsError(f"cannot read {path.name}: {error.strerror}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise MalformedMetricsError(f"{path.name} is {kind}; the trainer must write a file there")
    with os.fdopen(descriptor, "rb") as handle:
        yield handle


def _read(handle: BinaryIO, path: Path, size: int) -> bytes:
    try:
        return handle.read(size)
    except OSError as error:
        raise MalformedMetricsError(f"cannot read {path.name}: {error.strerror}") from None
