"""The objective: which metric a trial is judged by, and how to read it from the trial's files.

``--metric best_validation_accuracy`` is read from ``metrics.json`` when the trainer
wrote it there, else derived from the per-epoch lines: ``best_X`` is the best epoch
value of ``X`` in the study's direction, plain ``X`` the last epoch's value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from tuner.contract import EPOCH_KEY, LAST_EPOCH_KEY
from tuner.errors import OptionError

DIRECTIONS = ("maximize", "minimize")
MAX_METRICS_LINE_BYTES = 1_000_000  # a metrics line is a small JSON object; more is a runaway trainer
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
        return self.metric[len(_BEST_PREFIX):] if self.metric.startswith(_BEST_PREFIX) else self.metric

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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedMetricsError(f"{path.name} is not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise MalformedMetricsError(f"{path.name} must hold a JSON object")
    return data


class EpochMetricsReader:
    """Reads the per-epoch JSON lines a trainer appends, picking up only complete new lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.epochs: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""
        self._lines_read = 0  # complete lines seen, blank ones included, for error messages

    def read_new(self) -> list[dict[str, Any]]:
        """Lines completed since the last call; raises :class:`MalformedMetricsError`."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_METRICS_LINE_BYTES:
            raise MalformedMetricsError(
                f"{self.path.name} line {self._lines_read + 1} is longer than {MAX_METRICS_LINE_BYTES} bytes with no newline"
            )
        new: list[dict[str, Any]] = []
        for line in lines:
            self._lines_read += 1
            if line.strip():
                new.append(self._parse(line, self._lines_read))
        self.epochs.extend(new)
        return new

    def _parse(self, raw: bytes, number: int) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            shown = raw[:80].decode("utf-8", "replace")
            raise MalformedMetricsError(f"{self.path.name} line {number} is not JSON: {shown!r}") from None
        if not isinstance(data, dict):
            raise MalformedMetricsError(f"{self.path.name} line {number} is not a JSON object")
        return data


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
