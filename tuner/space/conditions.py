"""Conditional parameters: sampled only when other parameters have given values.

In a search-space entry, ``"condition": {"encoder": "lstm"}`` (or a list of values,
``{"encoder": ["lstm", "gru"]}``; several parents must all match) makes a parameter
active only then; ``"default"`` is the value its ext var gets while inactive (by
default its low end or first choice), so the config still renders.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tuner.errors import SearchSpaceError, did_you_mean
from tuner.space.parameters import Condition, same_value

if TYPE_CHECKING:
    from tuner.space.parameters import Parameter


def parse_condition(raw: Any, where: str) -> Condition:
    """``{"parent": value or [values]}`` as a :data:`Condition`; parents are checked later."""
    if not isinstance(raw, Mapping) or not raw:
        raise SearchSpaceError(
            f"{where}: 'condition' must be an object naming parent parameters and their values, "
            f'such as {{"encoder": "lstm"}}, got {json.dumps(raw, default=repr)}'
        )
    condition = []
    for parent, values in raw.items():
        values = tuple(values) if isinstance(values, list) else (values,)
        if not values:
            raise SearchSpaceError(f"{where}: condition on '{parent}' lists no values")
        for value in values:
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise SearchSpaceError(f"{where}: condition value {json.dumps(value)} for '{parent}' is not a scalar")
        condition.append((str(parent), values))
    return tuple(condition)


def order_and_check(parameters: Iterable[Parameter], source: str) -> tuple[Parameter, ...]:
    """Parents before children (file order otherwise); unknown parents, impossible values and cycles are errors."""
    parameters = tuple(parameters)
    by_name = {parameter.name: parameter for parameter in parameters}
    for parameter in parameters:
        for parent, values in parameter.condition:
            where = f"{source}: parameter '{parameter.name}'"
            if parent not in by_name:
                hint = did_you_mean(parent, by_name)
                raise SearchSpaceError(f"{where}: condition names unknown parameter '{parent}'{hint}")
            if parent == parameter.name:
                raise SearchSpaceError(f"{where}: a parameter cannot be conditional on itself")
            for value in values:
                if not can_take(by_name[parent], value):
                    raise SearchSpaceError(
                        f"{where}: condition {parent} = {json.dumps(value)} can never hold: "
                        f"'{parent}' takes {describe_values(by_name[parent])}"
                    )
    return _topological(parameters, by_name, source)


def can_take(parameter: Parameter, value: Any) -> bool:
    """Whether ``parameter`` can be sampled as ``value``."""
    if parameter.choices is not None:
        return any(same_value(value, choice) for choice in parameter.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not parameter.low <= value <= parameter.high:
        return False
    if parameter.kind == "int":
        return value == int(value) and (int(value) - parameter.low) % int(parameter.step or 1) == 0
    if parameter.step is not None:
        steps = (value - parameter.low) / parameter.step
        return abs(steps - round(steps)) < 1e-9
    return True


def describe_values(parameter: Parameter) -> str:
    if parameter.choices is not None:
        return "one of " + ", ".join(json.dumps(choice) for choice in parameter.choices)
    step = f" in steps of {parameter.step}" if parameter.step is not None else ""
    return f"{parameter.kind} values from {parameter.low} to {parameter.high}{step}"


def activated(parameter: Parameter, space: Iterable[Parameter], base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the parents of ``parameter`` (and theirs) set to their first allowed value, making it active."""
    by_name = {item.name: item for item in space}
    values = dict(base)
    pending = [parameter.name]
    while pending:
        for parent, allowed in by_name[pending.pop()].condition:
            values[parent] = allowed[0]
            pending.append(parent)
    return values


def _topological(
    parameters: tuple[Parameter, ...], by_name: Mapping[str, Parameter], source: str
) -> tuple[Parameter, ...]:
    ordered: list[Parameter] = []
    placed: set[str] = set()
    pending = list(parameters)
    while pending:
        ready = [p for p in pending if all(parent in placed for parent, _ in p.condition)]
        if not ready:
            cycle = " -> ".join(_cycle(pending, by_name))
            raise SearchSpaceError(f"{source}: conditions form a cycle ({cycle}); a parent cannot depend on its child")
        ordered.append(ready[0])  # one at a time keeps the file order wherever it is possible
        placed.add(ready[0].name)
        pending.remove(ready[0])
    return tuple(ordered)


def _cycle(pending: list[Parameter], by_name: Mapping[str, Parameter]) -> list[str]:
    names = {p.name for p in pending}
    path = [pending[0].name]
    while True:
        parent = next(name for name, _ in by_name[path[-1]].condition if name in names)
        if parent in path:
            return [*path[path.index(parent) :], parent]
        path.append(parent)
