"""The objective: which metric a trial is judged by, and how to read it from the trial's files.

``--metric best_validation_accuracy`` is read from ``metrics.json`` when the trainer
wrote it there, else derived from the per-epoch lines: ``best_X`` is the best epoch
value of ``X`` in the study's direction, plain ``X`` the last epoch's value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuner.contract import EPOCH_KEY, LAST_EPOCH_KEY, TrialResultError
from tuner.errors import OptionError

DIRECTIONS = ("maximize", "minimize")
_BEST_PREFIX = "best_"


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
    hint = parse_signed_metric(validation_metric)
    if hint is not None:
        hinted_metric, hinted_direction = f"{_BEST_PREFIX}validation_{hint[0]}", hint[1]
        # The hint only speaks for its own metric: --metric best_validation_loss --direction
        # minimize with '+accuracy' in the config is a deliberate choice, not a contradiction.
        if metric is None or metric in (hinted_metric, hinted_metric[len(_BEST_PREFIX) :]):
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


def objective_from_config(
    metric: str | None, direction: str | None, config: Mapping[str, Any], *, config_name: str
) -> Objective:
    """:func:`objective_from_options` with the hint read from a rendered config's ``trainer.validation_metric``."""
    trainer = config.get("trainer")
    validation_metric = trainer.get("validation_metric") if isinstance(trainer, Mapping) else None
    return objective_from_options(metric, direction, validation_metric, config_name=config_name)


def parse_signed_metric(value: Any) -> tuple[str, str] | None:
    """``"+accuracy"`` -> ``("accuracy", "maximize")``, ``"-loss"`` -> ``("loss", "minimize")``; else None.

    The one reading of the sign convention in ``tune``; the stand-alone trainers keep their own
    (:mod:`tuner.train.metric`), since they import nothing of ``tune``.
    """
    if not isinstance(value, str) or len(value) < 2 or value[0] not in "+-":
        return None
    return value[1:], "maximize" if value[0] == "+" else "minimize"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise TrialResultError(f"objective '{name}' is {value}")
    return value
