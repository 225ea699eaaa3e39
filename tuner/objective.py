"""The objective: which metric a trial is judged by, and how to read it from the trial's files.

``--metric best_validation_accuracy`` is read from ``metrics.json`` when the trainer
wrote it there, else derived from the per-epoch lines: ``best_X`` is the best epoch
value of ``X`` in the study's direction, plain ``X`` the last epoch's value.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tuner.contract import EPOCH_KEY, LAST_EPOCH_KEY
from tuner.errors import OptionError

DIRECTIONS = ("maximize", "minimize")
# One epoch line or metrics.json. Metrics are small JSON objects; a trainer may add a few large
# arrays (per-class scores), but more than this is a runaway trainer, and `tune` holds it in memory.
MAX_METRICS_BYTES = 64 * 2**20
_MAX_METRICS_TEXT = "64 MiB"
_MAX_INT_DIGITS = 308  # 10**308 is about the largest float
_READ_CHUNK_BYTES = 2**20
_BEST_PREFIX = "best_"


class TrialResultError(Exception):
    """A finished trial's metrics do not give a usable objective (the trial fails)."""


class MalformedMetricsError(TrialResultError):
    """A metrics line is not a JSON object."""


@dataclass(frozen=True)
class Objective:
    """The metric a study optimises, and in which direction."""

    metric: str
    direction: str

    @property
    def monitored(self) -> str:
        """The per-epoch metric reported to Optuna for pruning (``X`` for ``best_X``)."""
        return self.metric.removeprefix(_BEST_PREFIX)

    def epoch_value(self, epoch_metrics: Mapping[str, Any]) -> float | None:
        """The value to report for pruning from one epoch line, or None if it is absent."""
        for name in (self.metric, self.monitored):
            value = epoch_metrics.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None

    def final_value(self, epochs: Sequence[Mapping[str, Any]], final: Mapping[str, Any] | None) -> float:
        """The trial's objective value; raises :class:`TrialResultError` naming what was seen."""
        if final and _is_number(final.get(self.metric)):
            return _finite(self.metric, float(final[self.metric]))
        exact = [line[self.metric] for line in epochs if _is_number(line.get(self.metric))]
        if exact:
            return _finite(self.metric, float(exact[-1]))
        if self.metric != self.monitored:
            values = [float(line[self.monitored]) for line in epochs if _is_number(line.get(self.monitored))]
            if values:
                if any(math.isnan(value) for value in values):
                    return _finite(self.metric, math.nan)
                return max(values) if self.direction == "maximize" else min(values)
        reported = {key for line in epochs for key in line if key not in (EPOCH_KEY, LAST_EPOCH_KEY)}
        seen = sorted(reported | set(final or {}))
        listing = ", ".join(seen) if seen else "none"
        raise TrialResultError(f"metric '{self.metric}' was not reported (metrics seen: {listing})")


def objective_from_options(
    metric: str | None, direction: str | None, validation_metric: Any, *, config_name: str
) -> Objective:
    """Combine ``--metric``/``--direction`` with the config's ``trainer.validation_metric``.

    ``"+accuracy"`` means maximise ``best_validation_accuracy``; ``"-loss"`` minimise
    ``best_validation_loss`` (AllenNLP's convention).
    """
    if direction is not None and direction not in DIRECTIONS:
        raise OptionError(f"--direction must be maximize or minimize, got '{direction}'")
    hint = _parse_validation_metric(validation_metric)
    if hint is not None:
        hinted_metric, hinted_direction = hint
        # The hint only speaks for its own metric: --metric best_validation_loss --direction
        # minimize with '+accuracy' in the config is a deliberate choice, not a contradiction.
        if metric is None or metric in (hinted_metric, hinted_metric[len(_BEST_PREFIX):]):
            if direction is not None and direction != hinted_direction:
                raise OptionError(
                    f"--direction {direction} contradicts {config_name}'s trainer.validation_metric "
                    f"'{validation_metric}' ({hinted_direction}); drop --direction or fix the config"
                )
            return Objective(metric or hinted_metric, hinted_direction)
    if metric is None:
        raise OptionError(
            f"no objective: pass --metric (e.g. best_validation_accuracy) and --direction, "
            f"or set trainer.validation_metric (e.g. '+accuracy') in {config_name}"
        )
    if direction is None:
        raise OptionError(f"--metric {metric} needs --direction maximize or --direction minimize")
    return Objective(metric, direction)


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
        raise MalformedMetricsError(f"{where} is not UTF-8 (byte {raw[error.start]:#x} at offset {error.start})") from None
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


def _parse_validation_metric(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, str) or len(value) < 2 or value[0] not in "+-":
        return None
    direction = "maximize" if value[0] == "+" else "minimize"
    return f"{_BEST_PREFIX}validation_{value[1:]}", direction


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise TrialResultError(f"objective '{name}' is {value}")
    return value
