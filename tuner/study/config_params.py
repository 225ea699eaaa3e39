"""Parameter values read back from a rendered config (a ``best_config.json``) through the search space.

For each parameter, the config is rendered with it at different values (its choices; a number at its
low and high end), the others fixed, to find the places in the config that it decides. A choice is the
one whose render matches the given config there; a number is read where the config holds it as it is.
The values found are rendered once more and compared with the given config at all those places, so a
config that no values of the space render is refused rather than misread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tuner.config.snapshot import ConfigSnapshot
from tuner.errors import ConfigError, OptionError
from tuner.space.conditions import activated
from tuner.space.parameters import Parameter, SearchSpace, is_active, same_value

_MISSING = object()


def is_rendered_config(entry: Mapping[str, Any]) -> bool:
    """Whether ``entry`` is a rendered config rather than parameter values (which are all plain values)."""
    return any(isinstance(value, (dict, list)) for value in entry.values())


def params_from_config(
    config: Mapping[str, Any],
    space: SearchSpace,
    snapshot: ConfigSnapshot,
    where: str,
    check: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """The active parameters' values that render ``config``, passed through ``check`` (which refuses values
    the space cannot sample) before the final render; one-line :class:`OptionError` when no values render it
    or they cannot be told apart. A parameter the config does not depend on is left out (Optuna samples it)."""
    given = flatten(config)
    base = {parameter.name: parameter.extremes[0] for parameter in space}
    values: dict[str, Any] = {}
    decided: set[str] = set()
    for parameter in space:
        if not is_active(parameter.condition, values):
            continue
        probe = activated(parameter, space, base)
        candidates = list(parameter.choices) if parameter.choices is not None else [parameter.low, parameter.high]
        renders = [_render(snapshot, space, {**probe, parameter.name: value}, where) for value in candidates]
        paths = _differing(renders)
        if not paths:
            continue
        values[parameter.name] = _value_of(parameter, candidates, renders, paths, given, where)
        decided |= paths
    values = check(values)
    _verify(snapshot, space, values, decided, given, where)
    return values


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.0": value}`` for every leaf of nested objects and lists (empty ones are leaves)."""
    if isinstance(data, dict) and data:
        return {key: value for name, item in data.items() for key, value in flatten(item, f"{prefix}{name}.").items()}
    if isinstance(data, list) and data:
        return {
            key: value for index, item in enumerate(data) for key, value in flatten(item, f"{prefix}{index}.").items()
        }
    return {prefix.rstrip("."): data}


def _render(snapshot: ConfigSnapshot, space: SearchSpace, params: Mapping[str, Any], where: str) -> dict[str, Any]:
    try:
        return flatten(snapshot.render(space.resolve(params)))
    except ConfigError as error:
        raise OptionError(f"{where}: reading the config's values needs renders of the config, which fail: {error}")


def _differing(renders: list[dict[str, Any]]) -> set[str]:
    keys = set().union(*renders)
    return {
        key
        for key in keys
        if any(not _same(render.get(key, _MISSING), renders[0].get(key, _MISSING)) for render in renders)
    }


def _value_of(
    parameter: Parameter, candidates: list[Any], renders: list[dict[str, Any]], paths: set[str], given: dict, where: str
) -> Any:
    name = parameter.name
    if parameter.choices is not None:
        matching = [value for value, render in zip(candidates, renders) if _agrees(render, given, paths)]
        if len(matching) == 1:
            return matching[0]
        shown = ", ".join(f"{path}={_show(given.get(path, _MISSING))}" for path in sorted(paths)[:3])
        what = "matches none of its choices" if not matching else f"fits several of its choices {json.dumps(matching)}"
        raise OptionError(f"{where}: cannot map the config back to parameter '{name}': {shown} {what}")
    plain = sorted(path for path in paths if all(_same(r.get(path), v) for r, v in zip(renders, candidates)))
    if not plain:
        raise OptionError(
            f"{where}: cannot map the config back to parameter '{name}': the config holds it only through "
            f"an expression (at {', '.join(sorted(paths)[:3])}), never as it is"
        )
    found = {json.dumps(given.get(path, None)) for path in plain}
    if any(path not in given for path in plain) or len(found) > 1:
        shown = ", ".join(f"{path}={_show(given.get(path, _MISSING))}" for path in plain[:3])
        raise OptionError(f"{where}: cannot map the config back to parameter '{name}': {shown}")
    return given[plain[0]]


def _verify(
    snapshot: ConfigSnapshot, space: SearchSpace, values: dict, paths: set[str], given: dict, where: str
) -> None:
    """Render the values found and compare with ``given`` wherever a parameter decides the config."""
    base = {parameter.name: parameter.extremes[0] for parameter in space}
    rendered = _render(snapshot, space, {**base, **values}, where)
    for path in sorted(paths):
        if not _same(rendered.get(path, _MISSING), given.get(path, _MISSING)):
            raise OptionError(
                f"{where}: cannot map the config back to the search space: with the values it holds, {path} "
                f"renders as {_show(rendered.get(path, _MISSING))}, the file has {_show(given.get(path, _MISSING))}"
            )


def _agrees(render: dict[str, Any], given: dict[str, Any], paths: set[str]) -> bool:
    return all(_same(render.get(path, _MISSING), given.get(path, _MISSING)) for path in paths)


def _same(left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return left is right
    return same_value(left, right)


def _show(value: Any) -> str:
    return "(nothing)" if value is _MISSING else json.dumps(value)
