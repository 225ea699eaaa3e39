"""Checks before any training: every ext var is provided, and the config renders at the bounds.

Catching a missing ext var or a cast error (``std.parseInt`` of a float) here
costs milliseconds; catching it in trial 1 costs a trial, and in trial 40 a night.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from tuner.config import ConfigSnapshot, ext_var_string
from tuner.errors import ConfigError
from tuner.search_space import SearchSpace


class UnusedParameterWarning(UserWarning):
    """A searched parameter that the config never reads."""


@dataclass(frozen=True)
class PreparedConfig:
    """A config snapshot with its fixed ext vars, checked to render across the space."""

    snapshot: ConfigSnapshot
    rendered_low: dict[str, Any]
    unused_parameters: tuple[str, ...]


def prepare_config(
    snapshot: ConfigSnapshot,
    space: SearchSpace,
    ext_vars: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> PreparedConfig:
    """Resolve fixed ext vars (given, else from the environment) and render at the bounds."""
    environ = os.environ if environ is None else environ
    used = snapshot.ext_var_names()
    searched = set(space.names)
    fixed = dict(ext_vars)
    for name, location in used.items():
        if name in searched or name in fixed:
            continue
        if name in environ:
            fixed[name] = environ[name]
            continue
        raise ConfigError(
            f"{location}: the config reads ext var '{name}', which is neither in the search space "
            f"nor given; add it to the space, pass --ext-var {name}=VALUE, or set it in the environment"
        )
    unused = tuple(name for name in space.names if name not in used)
    for name in unused:
        warnings.warn(
            f"{space.source}: parameter '{name}' is searched but {snapshot.entry} never reads std.extVar('{name}')",
            UnusedParameterWarning,
            stacklevel=2,
        )
    prepared = snapshot.with_fixed_ext_vars(fixed)
    variants = _render_corners(prepared, space)
    if prepared.fast_engine_agrees([params for params, _ in variants]):
        prepared = dataclasses.replace(prepared, fast=True)
    return PreparedConfig(prepared, variants[0][1], unused)


def _render_corners(snapshot: ConfigSnapshot, space: SearchSpace) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Render with every parameter at its low end, at its high end, each middle choice, and
    each conditional parameter activated at both ends (inactive ones render as their default).

    Returns (params, rendered config) for each, the low end first.
    """
    low = {parameter.name: parameter.extremes[0] for parameter in space}
    high = {parameter.name: parameter.extremes[1] for parameter in space}
    variants = [("the low end of every parameter", low), ("the high end of every parameter", high)]
    for parameter in space:
        for choice in (parameter.choices or ())[1:-1]:
            variants.append((f"choice {choice!r} of {parameter.name}, others at their low end", {**low, parameter.name: choice}))
    variants.extend(_activating_variants(space, low))
    resolved = [(description, space.resolve(params)) for description, params in variants]
    return [(params, _render_variant(snapshot, description, params)) for description, params in resolved]


def _activating_variants(space: SearchSpace, low: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """For each conditional parameter: its parents set to activate it, itself at its low and high end."""
    by_name = {parameter.name: parameter for parameter in space}
    variants = []
    for parameter in space:
        if not parameter.condition:
            continue
        values = dict(low)
        pending = [parameter.name]
        while pending:
            for parent, allowed in by_name[pending.pop()].condition:
                values[parent] = allowed[0]
                pending.append(parent)
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
