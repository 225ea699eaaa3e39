"""Search spaces: parse both file formats, validate them, and suggest values.

Two formats are accepted, from ``.json`` or ``.jsonnet`` files:

* allennlp-optuna's list: ``[{"type": "int", "attributes": {"name": "x", "low": 1, "high": 9}}]``
* PyKEEN's strategy mapping: ``{"x": {"type": "int", "low": 1, "high": 9, "step": 2}}``

Any entry may carry ``"condition"`` and ``"default"`` (see :mod:`tuner.space.conditions`) and a
``"review"`` note (written by ``tune init-space``; ignored apart from a reminder).
Both become a :class:`SearchSpace` of validated :class:`Parameter` objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tuner.errors import SearchSpaceError

if TYPE_CHECKING:
    import optuna

Value = Any  # a sampled value: bool, int, float, str or None

KINDS = ("int", "float", "bool", "categorical")
# Jsonnet numbers are doubles and Optuna stores numbers as floats: integers beyond 2**53 would change.
MAX_INT_MAGNITUDE = 2**53
MAX_GRID_POINTS = 1_000_000  # Optuna's GridSampler lists every point up front


@dataclass(frozen=True)
class Parameter:
    """One hyper-parameter and how it is sampled.

    ``choices`` is set for bool, categorical and power-scale ints; ``low``/``high``
    (``high`` already trimmed to the last reachable step) for the other numbers.
    A conditional parameter (non-empty ``condition``) renders as ``default`` while inactive.
    """

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Value, ...] | None = None
    condition: Condition = ()
    default: Value = None

    def suggest(self, trial: optuna.Trial) -> Value:
        """Ask Optuna's trial for this parameter's value."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    @property
    def extremes(self) -> tuple[Value, Value]:
        """The lowest and highest value this parameter can take (first and last choice)."""
        if self.choices is not None:
            return self.choices[0], self.choices[-1]
        return self.low, self.high

    def grid_values(self) -> list[Value]:
        """Every value, for grid search; continuous floats have none and raise."""
        count = self.grid_size()
        if count > MAX_GRID_POINTS:
            raise SearchSpaceError(
                f"parameter '{self.name}': grid search over {count:,} values is more than the {MAX_GRID_POINTS:,} "
                "a grid may hold; give it a larger 'step', or use another sampler"
            )
        if self.choices is not None:
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return [tidy_number(self.low + index * self.step) for index in range(count)]

    def grid_size(self) -> int:
        """How many values grid search tries for this parameter (counted, not listed)."""
        if self.choices is not None:
            return len(self.choices)
        if self.kind == "int":
            return (int(self.high) - int(self.low)) // int(self.step or 1) + 1
        if self.step is None:
            raise SearchSpaceError(
                f"parameter '{self.name}': grid search needs a finite set of values; "
                "give this float a 'step' or pass --sampler-kwargs with a 'search_space'"
            )
        return round((self.high - self.low) / self.step) + 1

    def to_dict(self) -> dict[str, Any]:
        """The normalised strategy (mapping format), as stored with the study."""
        entry = self._strategy_dict()
        if self.condition:
            entry.update(condition=condition_to_dict(self.condition), default=self.default)
        return entry

    @classmethod
    def from_dict(cls, name: str, entry: Mapping[str, Any]) -> Parameter:
        """The parameter :meth:`to_dict` wrote, read back without checks; ValueError for any other shape."""
        kind = entry["type"]
        if kind == "bool":
            parameter = cls(name, "bool", choices=(True, False))
        elif kind == "categorical":
            parameter = cls(name, "categorical", choices=tuple(entry["choices"]))
        elif kind in ("int", "float"):
            low, high, step = entry["low"], entry["high"], entry.get("step")
            parameter = cls(name, kind, low=low, high=high, step=step, log=entry.get("log", False))
        else:
            raise ValueError(f"type {kind!r} is not a stored type")
        if "condition" not in entry:
            return parameter
        condition = tuple(
            (str(parent), tuple(values) if isinstance(values, list) else (values,))
            for parent, values in entry["condition"].items()
        )
        return replace(parameter, condition=condition, default=entry.get("default"))

    def _strategy_dict(self) -> dict[str, Any]:
        if self.kind == "bool":
            return {"type": "bool"}
        if self.choices is not None:
            # A power-scale int is a choice among its powers (PyKEEN's own reading of it).
            return {"type": "categorical", "choices": list(self.choices)}
        entry: dict[str, Any] = {"type": self.kind}
        entry.update(low=self.low, high=self.high)
        if self.step is not None:
            entry["step"] = self.step
        if self.log:
            entry["log"] = True
        return entry


@dataclass(frozen=True)
class SearchSpace:
    """An ordered, validated set of parameters (parents of conditional ones first)."""

    parameters: tuple[Parameter, ...]
    source: str = "<search space>"
    notes: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    @property
    def names(self) -> list[str]:
        return [parameter.name for parameter in self.parameters]

    @property
    def is_conditional(self) -> bool:
        return any(parameter.condition for parameter in self.parameters)

    def suggest(self, trial: optuna.Trial) -> dict[str, Value]:
        """Sample the active parameters for ``trial``; return them with inactive ones at their default.

        Inactive parameters are never suggested, so ``trial.params`` holds only the active
        ones; the returned dict is what the config renders with.
        """
        active: dict[str, Value] = {}
        for parameter in self.parameters:
            if is_active(parameter.condition, active):
                active[parameter.name] = parameter.suggest(trial)
        return self.complete(active)

    def resolve(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """A value for every parameter, with those the others make inactive set to their default."""
        active: dict[str, Value] = {}
        for parameter in self.parameters:
            if parameter.name in values and is_active(parameter.condition, active):
                active[parameter.name] = values[parameter.name]
        return self.complete(active)

    def complete(self, params: Mapping[str, Value]) -> dict[str, Value]:
        """``params`` (a trial's active values) plus the default of every conditional parameter missing."""
        completed = dict(params)
        for parameter in self.parameters:
            if parameter.condition and parameter.name not in completed:
                completed[parameter.name] = parameter.default
        return completed

    def grid(self) -> dict[str, list[Value]]:
        """The ``search_space`` argument Optuna's GridSampler takes."""
        conditional = [parameter.name for parameter in self.parameters if parameter.condition]
        if conditional:
            raise SearchSpaceError(
                f"{self.source}: grid search cannot follow conditions (on {', '.join(conditional)}): every "
                "grid point would fix every parameter; use another sampler, or a space without conditions"
            )
        points = math.prod(parameter.grid_size() for parameter in self.parameters)
        if points > MAX_GRID_POINTS:
            raise SearchSpaceError(
                f"{self.source}: grid search over {points:,} points is more than the {MAX_GRID_POINTS:,} a grid may "
                "hold; give the parameters larger steps or fewer choices, or use another sampler"
            )
        return {parameter.name: parameter.grid_values() for parameter in self.parameters}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The whole space in mapping format; :func:`parse_search_space` reads it back."""
        return {parameter.name: parameter.to_dict() for parameter in self.parameters}

    @classmethod
    def from_stored(cls, data: Mapping[str, Mapping[str, Any]], source: str = "<search space>") -> SearchSpace:
        """The space :meth:`to_dict` wrote (validated, normalised, parents first), read back without checks.

        Raises ``ValueError`` (or ``KeyError``/``TypeError``/``AttributeError``) for data of any other
        shape; :func:`tuner.space.parse.parse_stored_space` then validates it instead.
        """
        parameters: list[Parameter] = []
        for name, entry in data.items():
            parameter = Parameter.from_dict(name, entry)
            if any(parent not in {p.name for p in parameters} for parent, _ in parameter.condition):
                raise ValueError(f"parameter '{name}' comes before its parent")  # not the stored order
            parameters.append(parameter)
        if not parameters:
            raise ValueError("no parameters")
        return cls(tuple(parameters), source=source)


def tidy_number(value: float) -> float:
    """Round away binary noise such as 0.30000000000000004 from computed grid points."""
    return float(f"{value:.12g}")


# A condition, normalised: ((parent name, (allowed values, ...)), ...), hashable for frozen dataclasses.
Condition = tuple[tuple[str, tuple[Any, ...]], ...]


def condition_to_dict(condition: Condition) -> dict[str, Any]:
    return {parent: values[0] if len(values) == 1 else list(values) for parent, values in condition}


def same_value(left: Any, right: Any) -> bool:
    """Equal as JSON values: ``True`` is not ``1``, but ``1`` is ``1.0``."""
    return isinstance(left, bool) == isinstance(right, bool) and left == right


def is_active(condition: Condition, active_values: Mapping[str, Any]) -> bool:
    """Whether every parent is active and holds one of its allowed values."""
    return all(
        parent in active_values and any(same_value(active_values[parent], value) for value in values)
        for parent, values in condition
    )
