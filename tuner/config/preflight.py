"""Checks before any training: every ext var is provided, and the config renders at the bounds.

Catching a missing ext var or a cast error (``std.parseInt`` of a float) here
costs milliseconds; catching it in trial 1 costs a trial, and in trial 40 a night.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuner.config.snapshot import ConfigSnapshot, ext_var_string
from tuner.errors import ConfigError
from tuner.space.conditions import activated
from tuner.space.parameters import SearchSpace

# Pre-flight renders every choice of a categorical up to this many; past it, an even spread of them.
MIDDLE_CHOICES_RENDERED = 32
_NAMES_SHOWN = 5
_UNDEFINED_EXT_VAR = re.compile(r"undefined external variable: (\S+)", re.IGNORECASE)


class UnusedParameterWarning(UserWarning):
    """A searched parameter that the config never reads."""


@dataclass(frozen=True)
class PreparedConfig:
    """A config snapshot with its fixed ext vars, checked to render across the space."""

    snapshot: ConfigSnapshot
    rendered_low: dict[str, Any]
    unused_parameters: tuple[str, ...]
    # (params, rendered config) at each corner pre-flight rendered, the low end first.
    corners: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = ()


def prepare_config(
    snapshot: ConfigSnapshot,
    space: SearchSpace,
    ext_vars: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> PreparedConfig:
    """Resolve fixed ext vars (given, else from the environment) and render at the bounds.

    An ext var written in the config but set nowhere is an error only if the config needs it
    when rendered: Jsonnet is lazy, so a derived config may override the field that reads it.
    """
    environ = os.environ if environ is None else environ
    used = snapshot.ext_var_names()
    searched = set(space.names)
    fixed = dict(ext_vars)
    for name in used:
        if name not in searched and name not in fixed and name in environ:
            fixed[name] = environ[name]
    _warn_unused(snapshot, space, used)
    prepared = snapshot.with_fixed_ext_vars(fixed)
    try:
        variants = _render_corners(prepared, space)
    except ConfigError as error:
        missing = _UNDEFINED_EXT_VAR.search(str(error))
        if missing is None:
            raise
        name = missing.group(1).strip("'\"")
        location = used.get(name, prepared.entry)
        raise ConfigError(
            f"{location}: the config reads ext var '{name}', which is neither in the search space "
            f"nor given; add it to the space, pass --ext-var {name}=VALUE, or set it in the environment"
        ) from None
    unused = tuple(name for name in space.names if name not in used)
    return PreparedConfig(prepared, variants[0][1], unused, tuple(variants))


def _warn_unused(snapshot: ConfigSnapshot, space: SearchSpace, used: Mapping[str, str]) -> None:
    """One warning for the searched parameters the config never reads, however many there are."""
    unused = [name for name in space.names if name not in used]
    if len(unused) == 1:
        message = f"parameter '{unused[0]}' is searched but {snapshot.entry} never reads std.extVar('{unused[0]}')"
    elif unused:
        shown = ", ".join(f"'{name}'" for name in unused[:_NAMES_SHOWN])
        more = f" and {len(unused) - _NAMES_SHOWN} more" if len(unused) > _NAMES_SHOWN else ""
        message = f"{len(unused)} parameters ({shown}{more}) are searched but {snapshot.entry} never reads them"
    else:
        return
    warnings.warn(f"{space.source}: {message}", UnusedParameterWarning, stacklevel=3)


def _render_corners(snapshot: ConfigSnapshot, space: SearchSpace) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Render with every parameter at its low end, at its high end, each middle choice, and
    each conditional parameter activated at both ends (inactive ones render as their default).

    Returns (params, rendered config) for each, the low end first.
    """
    low = {parameter.name: parameter.extremes[0] for parameter in space}
    high = {parameter.name: parameter.extremes[1] for parameter in space}
    variants = [("the low end of every parameter", low), ("the high end of every parameter", high)]
    for parameter in space:
        for choice in _middle_choices(parameter.choices or ()):
            description = f"choice {choice!r} of {parameter.name}, others at their low end"
            variants.append((description, {**low, parameter.name: choice}))
    variants.extend(_activating_variants(space, low))
    resolved = [(description, space.resolve(params)) for description, params in variants]
    return [(params, _render_variant(snapshot, description, params)) for description, params in resolved]


def _middle_choices(choices: tuple[Any, ...]) -> list[Any]:
    """The choices between the first and the last: at most :data:`MIDDLE_CHOICES_RENDERED`, evenly spread,
    the outermost of them included."""
    middle = list(choices[1:-1])
    if len(middle) <= MIDDLE_CHOICES_RENDERED:
        return middle
    last = len(middle) - 1
    return [middle[round(index * last / (MIDDLE_CHOICES_RENDERED - 1))] for index in range(MIDDLE_CHOICES_RENDERED)]


def _activating_variants(space: SearchSpace, low: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """For each conditional parameter: its parents set to activate it, itself at its low and high end."""
    variants = []
    for parameter in space:
        if not parameter.condition:
            continue
        values = activated(parameter, space, low)
        for end, value in zip(("low", "high"), parameter.extremes):
            variants.append((f"{parameter.name} active at its {end} end", {**values, parameter.name: value}))
    return variants


def _render_variant(snapshot: ConfigSnapshot, description: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        rendered = snapshot.render(params)
    except ConfigError as error:
        # The failing line may not read the ext var itself, so show every value rendered.
        values = ", ".join(f"{name}={ext_var_string(value)}" for name, value in params.items())
        raise ConfigError(f"{error} [pre-flight render at {description}: {values}]") from None
    if not isinstance(rendered, dict):
        kind = "a list" if isinstance(rendered, list) else f"a {type(rendered).__name__}"
        raise ConfigError(f"{snapshot.entry}: a config must evaluate to an object {{...}}, not {kind}")
    return rendered
