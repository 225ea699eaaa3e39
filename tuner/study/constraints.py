"""Constraints on any reported metric: ``--constraint "param_count<=1e6"`` (or ``>=``), repeatable.

A constraint is stored on each finished trial with Optuna's own ``Trial.set_constraint`` (the system
attribute ``constraints:<text>``), as its violation: ``value - bound`` for ``<=``, ``bound - value``
for ``>=``, so that ``<= 0`` means feasible as Optuna has it. Optuna 5's TPE, NSGA-II and GP samplers
read those values (``constraints_func`` is deprecated there); ``study.best_trial`` and
``study.best_trials`` keep to the feasible trials.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuner.errors import OptionError

if TYPE_CHECKING:
    import optuna

OPERATORS = ("<=", ">=")
# Samplers of Optuna 5 that read the constraint values of the trials they learn from.
CONSTRAINED_SAMPLERS = ("TPESampler", "NSGAIISampler", "NSGAIIISampler", "GPSampler")
_FORM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.:/-]*)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound``."""

    metric: str
    operator: str
    bound: float

    @property
    def key(self) -> str:
        """The constraint's name in the study (``param_count<=1e+06``)."""
        return f"{self.metric}{self.operator}{self.bound:g}"

    @property
    def direction(self) -> str:
        """The direction ``best_X`` is read in: the one the bound cares about."""
        return "minimize" if self.operator == "<=" else "maximize"

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bound (0 or less: feasible)."""
        return value - self.bound if self.operator == "<=" else self.bound - value


def parse_constraint(text: Any) -> Constraint:
    """``"param_count<=1e6"`` -> :class:`Constraint`; :class:`OptionError` naming the value otherwise."""
    if not isinstance(text, str):
        raise OptionError(f"--constraint must be text such as 'param_count<=1e6', got {text!r}")
    match = _FORM.match(text)
    if match is None:
        raise OptionError(f"--constraint '{text}': expected NAME<=VALUE or NAME>=VALUE, e.g. 'param_count<=1e6'")
    metric, operator, number = match.groups()
    try:
        bound = float(number)
    except ValueError:
        raise OptionError(f"--constraint '{text}': '{number}' is not a number") from None
    if not math.isfinite(bound):
        raise OptionError(f"--constraint '{text}': the bound must be a finite number, got '{number}'")
    return Constraint(metric, operator, bound)


def parse_constraints(texts: Iterable[Any] | str | None) -> tuple[Constraint, ...]:
    """Every ``--constraint``, checked; the same one twice is an error."""
    if texts is None:
        return ()
    if isinstance(texts, str):
        texts = [texts]
    constraints = tuple(parse_constraint(text) for text in texts)
    keys = [constraint.key for constraint in constraints]
    for key in keys:
        if keys.count(key) > 1:
            raise OptionError(f"--constraint '{key}' is given twice")
    return constraints


def record_constraints(trial: optuna.Trial, violations: Mapping[str, float]) -> None:
    """Store the trial's constraint values (before it is told), where Optuna's samplers look."""
    for key, value in violations.items():
        trial.set_constraint(key, value)


def is_feasible(trial: optuna.trial.FrozenTrial) -> bool | None:
    """Whether ``trial`` meets its constraints; None when it has no constraint values."""
    values = trial.constraints
    if not values:
        return None
    return all(value <= 0.0 for value in values.values())


def sampler_note(sampler: Any, constraints: tuple[Constraint, ...]) -> str | None:
    """One line when the sampler ignores constraints (they still keep infeasible trials off the best)."""
    name = type(sampler).__name__
    if not constraints or name in CONSTRAINED_SAMPLERS:
        return None
    return (
        f"{name} does not use constraints when sampling (TPE, NSGA-II and GP do); "
        "infeasible trials are still marked and kept off the best config and the Pareto front"
    )
