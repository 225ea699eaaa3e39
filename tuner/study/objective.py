"""The objective: which metric a trial is judged by, and how to read it from the trial's files.

``--metric best_validation_accuracy`` is read from ``metrics.json`` when the trainer
wrote it there, else derived from the per-epoch lines: ``best_X`` is the best epoch
value of ``X`` in the study's direction, plain ``X`` the last epoch's value. A study may have
several objectives (``--metric`` and ``--direction`` repeated, in pairs) and constraints
(:mod:`tuner.study.constraints`); pruning then follows one of them, ``--prune-on``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuner.config.script_mode import PARAMETERS_ENTRY
from tuner.contract import EPOCH_KEY, LAST_EPOCH_KEY, TrialResultError
from tuner.errors import OptionError
from tuner.study.constraints import Constraint

DIRECTIONS = ("maximize", "minimize")
_BEST_PREFIX = "best_"


@dataclass(frozen=True)
class Objective:
    """The metric a study optimises, and in which direction.

    With several objectives, ``metric``/``direction`` are the first pair and ``metrics``/``directions``
    all of them; ``prune_index`` names the one pruning follows; ``constraints`` are checked on every
    completed trial.
    """

    metric: str
    direction: str
    metrics: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    prune_index: int = 0
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        if not self.metrics:
            object.__setattr__(self, "metrics", (self.metric,))
            object.__setattr__(self, "directions", (self.direction,))

    @property
    def is_multi(self) -> bool:
        """Whether the study has several objectives (an Optuna multi-objective study)."""
        return len(self.metrics) > 1

    @property
    def described(self) -> str:
        """``maximize best_validation_accuracy`` (``, minimize param_count`` ...; ``subject to ...``)."""
        text = ", ".join(f"{way} {name}" for name, way in zip(self.metrics, self.directions))
        if self.constraints:
            text += " subject to " + ", ".join(constraint.key for constraint in self.constraints)
        return text

    @property
    def prune_metric(self) -> str:
        """The objective pruning follows (``--prune-on``; the first by default)."""
        return self.metrics[self.prune_index]

    @property
    def prune_direction(self) -> str:
        return self.directions[self.prune_index]

    @property
    def monitored(self) -> str:
        """The per-epoch metric reported to Optuna for pruning (``X`` for ``best_X``)."""
        return self.prune_metric.removeprefix(_BEST_PREFIX)

    def epoch_value(self, epoch_metrics: Mapping[str, Any]) -> float | None:
        """The value to report for pruning from one epoch line, or None if it is absent."""
        for name in (self.prune_metric, self.monitored):
            value = epoch_metrics.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None

    def final_value(self, epochs: Sequence[Mapping[str, Any]], final: Mapping[str, Any] | None) -> float:
        """The trial's (first) objective value; raises :class:`TrialResultError` naming what was seen."""
        return read_metric(self.metric, self.direction, epochs, final)

    def final_values(self, epochs: Sequence[Mapping[str, Any]], final: Mapping[str, Any] | None) -> list[float]:
        """Every objective's value, in the order of ``metrics``."""
        return [read_metric(name, way, epochs, final) for name, way in zip(self.metrics, self.directions)]

    def violations(self, epochs: Sequence[Mapping[str, Any]], final: Mapping[str, Any] | None) -> dict[str, float]:
        """Each constraint's violation (0 or less: met), by its key; a metric not reported is an error."""
        result = {}
        for constraint in self.constraints:
            try:
                value = read_metric(constraint.metric, constraint.direction, epochs, final)
            except TrialResultError as error:
                raise TrialResultError(f"--constraint '{constraint.key}': {error}") from None
            result[constraint.key] = constraint.violation(value)
        return result


def read_metric(
    metric: str, direction: str, epochs: Sequence[Mapping[str, Any]], final: Mapping[str, Any] | None
) -> float:
    """``metric`` of a finished trial: from metrics.json, else the epochs (``best_X``: best in ``direction``)."""
    if final and _is_number(final.get(metric)):
        return _finite(metric, float(final[metric]))
    exact = [line[metric] for line in epochs if _is_number(line.get(metric))]
    if exact:
        return _finite(metric, float(exact[-1]))
    monitored = metric.removeprefix(_BEST_PREFIX)
    if metric != monitored:
        values = [float(line[monitored]) for line in epochs if _is_number(line.get(monitored))]
        if values:
            if any(math.isnan(value) for value in values):
                return _finite(metric, math.nan)
            return max(values) if direction == "maximize" else min(values)
    reported = {key for line in epochs for key in line if key not in (EPOCH_KEY, LAST_EPOCH_KEY)}
    seen = sorted(reported | set(final or {}))
    listing = ", ".join(seen) if seen else "none"
    raise TrialResultError(f"metric '{metric}' was not reported (metrics seen: {listing})")


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
    if metric is None and config_name == PARAMETERS_ENTRY:  # a script run without a config
        raise OptionError("no objective: pass --metric (a metric your script reports) and --direction")
    if metric is None:
        raise OptionError(
            f"no objective: pass --metric (e.g. best_validation_accuracy) and --direction, "
            f"or set trainer.validation_metric (e.g. '+accuracy') in {config_name}"
        )
    if direction is None:
        raise OptionError(f"--metric {metric} needs --direction maximize or --direction minimize")
    return Objective(metric, direction)


def objective_from_config(
    metric: str | Sequence[str] | None,
    direction: str | Sequence[str] | None,
    config: Mapping[str, Any],
    *,
    config_name: str,
    prune_on: str | None = None,
    constraints: Sequence[str] | str | None = (),
) -> Objective:
    """:func:`objectives_from_options` with the hint read from a rendered config's ``trainer.validation_metric``."""
    trainer = config.get("trainer")
    validation_metric = trainer.get("validation_metric") if isinstance(trainer, Mapping) else None
    return objectives_from_options(
        metric, direction, validation_metric, config_name=config_name, prune_on=prune_on, constraints=constraints
    )


def objectives_from_options(
    metric: str | Sequence[str] | None,
    direction: str | Sequence[str] | None,
    validation_metric: Any,
    *,
    config_name: str,
    prune_on: str | None = None,
    constraints: Sequence[str] | str | None = (),
) -> Objective:
    """One or several objectives: ``--metric`` and ``--direction`` repeated go in pairs, in order.

    One ``--metric`` (or none) with at most one ``--direction`` works as :func:`objective_from_options`;
    otherwise each ``--metric`` needs its ``--direction`` (two directions for one metric are unpaired too).
    ``prune_on`` names the objective pruning follows (default the first).
    """
    from tuner.study.constraints import parse_constraints

    metrics, directions = _as_list(metric, "metric"), _as_list(direction, "direction")
    if len(metrics) <= 1 and len(directions) <= 1:  # one objective (a direction alone: the config names the metric)
        single = objective_from_options(
            metrics[0] if metrics else None,
            directions[0] if directions else None,
            validation_metric,
            config_name=config_name,
        )
        pairs = [(single.metric, single.direction)]
    else:
        pairs = _pairs(metrics, directions, validation_metric, config_name)
    names = tuple(name for name, _ in pairs)
    return Objective(
        pairs[0][0],
        pairs[0][1],
        metrics=names,
        directions=tuple(way for _, way in pairs),
        prune_index=_prune_index(prune_on, names),
        constraints=parse_constraints(constraints),
    )


def _as_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    for item in values:
        if not isinstance(item, str) or not item:
            raise OptionError(f"--{what} must be a name, got {item!r}")
    return values


def _pairs(
    metrics: list[str], directions: list[str], validation_metric: Any, config_name: str
) -> list[tuple[str, str]]:
    """Each ``--metric`` with its ``--direction``; unpaired ones and repeated metrics are errors."""
    if len(metrics) != len(directions):
        listing = ", ".join(metrics) or "none"
        raise OptionError(
            f"--metric and --direction go in pairs: got {len(metrics)} --metric ({listing}) and "
            f"{len(directions)} --direction; give one --direction after each --metric"
        )
    for name in metrics:
        if metrics.count(name) > 1:
            raise OptionError(f"--metric {name} is given twice")
    pairs = []
    for name, way in zip(metrics, directions):
        one = objective_from_options(name, way, validation_metric, config_name=config_name)
        pairs.append((one.metric, one.direction))
    return pairs


def _prune_index(prune_on: str | None, metrics: tuple[str, ...]) -> int:
    """The position of ``--prune-on`` among the objectives (``X`` names ``best_X`` too)."""
    if prune_on is None:
        return 0
    for index, name in enumerate(metrics):
        if prune_on in (name, name.removeprefix(_BEST_PREFIX)):
            return index
    from tuner.errors import did_you_mean

    raise OptionError(
        f"--prune-on {prune_on} is not an objective{did_you_mean(prune_on, metrics)}; "
        f"the objectives: {', '.join(metrics)}"
    )


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
