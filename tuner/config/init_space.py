"""``tune init-space``: a starting search space guessed from a config's ext vars.

Each ``std.extVar('name')`` becomes one entry of the mapping format. The type comes from
the cast around it (``std.parseInt`` -> int, ``std.parseJson`` -> number, or bool when the
value is used as a condition or the name reads like a flag; no cast -> categorical), the
range from the name (``lr`` -> log-uniform float, ``dropout`` -> 0-0.8, ``*_dim`` and
``num_*`` -> int with a step). Where the config's current value is known (the environment, or the
same field of a baseline config), a numeric range is set around it instead: a range of sizes
that starts far above the current one can make every trial many times slower. Every entry
carries a ``"review"`` note saying what the guess rests on; the search-space parser accepts
it, and reminds the user while it is there.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuner.config.snapshot import ConfigSnapshot, without_comments
from tuner.errors import TunerError

_NUMBER_RULES: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        r"(^|_)(lr|learning_rate)($|_)",
        {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "a learning rate: log-uniform",
    ),
    (r"decay|(^|_)l2($|_)", {"type": "float", "low": 1e-6, "high": 1e-2, "log": True}, "a weight decay: log-uniform"),
    (r"dropout", {"type": "float", "low": 0.0, "high": 0.8}, "a dropout probability"),
    (r"momentum", {"type": "float", "low": 0.5, "high": 0.99}, "a momentum"),
    (r"margin", {"type": "float", "low": 0.5, "high": 5.0}, "a margin"),
    (
        r"batch_size",
        {"type": "int", "scale": "power_two", "low": 4, "high": 8},
        "a batch size: powers of two, 16 to 256",
    ),
    (r"(filter|kernel|window|ngram)_size|(^|_)(kernel|window)$", {"type": "int", "low": 2, "high": 5}, "a kernel size"),
    (r"(^|_)(num|n)_(layers|blocks)$|_layers$|depth", {"type": "int", "low": 1, "high": 4}, "a number of layers"),
    (r"epochs", {"type": "int", "low": 5, "high": 50, "step": 5}, "a number of epochs"),
    (r"heads", {"type": "int", "low": 1, "high": 8}, "a number of heads"),
    (r"(^|_)(p|p_norm|norm)$|_norm$", {"type": "int", "low": 1, "high": 2}, "the order of a p-norm"),
    (r"patience", {"type": "int", "low": 2, "high": 10}, "a patience"),
    (
        r"_dims?$|_size$|hidden|_units$|_channels$|(^|_)num_(filters|features)$|width",
        {"type": "int", "low": 32, "high": 512, "step": 32},
        "a layer size",
    ),
    (r"^(num|n)_", {"type": "int", "low": 1, "high": 16, "step": 1}, "a count"),
)
_FLAG_NAME = re.compile(
    r"^(use|is|has|enable|with|do)_|_(enabled|flag)$|^(bidirectional|shuffle|pretrained|bias|residual|freeze\w*|\w*_norm(alization)?)$"
)
_CHOICE_NAMES: tuple[tuple[str, list[str], str], ...] = (
    (r"optimi[sz]er", ["adam", "sgd"], "an optimizer name"),
    (r"activation", ["relu", "tanh"], "an activation name"),
)
_FALLBACK = {
    "int": ({"type": "int", "low": 1, "high": 10}, "an unknown integer: a small range"),
    "json": ({"type": "float", "low": 0.0, "high": 1.0}, "an unknown number: 0 to 1"),
}


@dataclass(frozen=True)
class Usage:
    """How a config reads one ext var: its cast (``int``, ``json`` or ``raw``) and whether as a condition."""

    cast: str
    as_condition: bool


def guess_search_space(
    snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None, baseline: ConfigSnapshot | None = None
) -> dict[str, dict[str, Any]]:
    """A search space (mapping format) with one guessed, ``review``-marked entry per ext var of ``snapshot``.

    A current value is taken from ``environ`` first, then from the field of ``baseline`` (a config with
    the values written in) that the ext var fills in ``snapshot``.
    """
    environ = os.environ if environ is None else environ
    text = "\n".join(without_comments(source) for source in snapshot.files.values())
    usages = {name: usage_of(text, name) for name in snapshot.ext_var_names()}
    from_baseline = values_from_baseline(snapshot, baseline, usages) if baseline is not None else {}
    space = {}
    for name, usage in usages.items():
        strategy, reason = guess_strategy(name, usage, environ.get(name, from_baseline.get(name)))
        space[name] = {**strategy, "review": f"guessed by tune init-space: {reason}"}
    return space


def values_from_baseline(
    snapshot: ConfigSnapshot, baseline: ConfigSnapshot, usages: Mapping[str, Usage]
) -> dict[str, str]:
    """Each ext var's value in ``baseline``: found by rendering ``snapshot`` with a marker value per ext var.

    Only an ext var that fills a field as it is (not through arithmetic) is found; a config that cannot
    render with markers gives nothing.
    """
    # Small odd numbers: a config may build a list of that length (std.range(2, max_filter_size)).
    markers = {
        name: (7001 + 2 * index if usage.cast != "raw" else f"tuner-init-space-marker-{index}")
        for index, (name, usage) in enumerate(usages.items())
    }
    try:
        marked = snapshot.render(markers)
        reference = baseline.render({})
    except (TunerError, ValueError):
        return {}
    by_marker = {marker: name for name, marker in markers.items()}
    found: dict[str, str] = {}
    for path, value in _leaves(marked):
        name = by_marker.get(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
        current = _at(reference, path)
        if name is not None and name not in found and isinstance(current, (int, float, str)):
            found[name] = current if isinstance(current, str) else json_number(current)
    return found


def json_number(value: float) -> str:
    """``value`` as an ext var string (``true``, ``3``, ``0.05``)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(data, dict):
        return [leaf for key, value in data.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(data, list):
        return [leaf for index, value in enumerate(data) for leaf in _leaves(value, (*path, index))]
    return [(path, data)]


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        found = (
            key in data
            if isinstance(data, dict)
            else isinstance(data, list) and isinstance(key, int) and key < len(data)
        )
        if found:
            data = data[key]
        else:
            return None
    return data


def usage_of(text: str, name: str) -> Usage:
    """The cast applied to ``std.extVar(name)`` in ``text``, directly or through a ``local``."""
    ext_var = r"std\.extVar\(\s*['\"]" + re.escape(name) + r"['\"]\s*\)"
    readers = [ext_var]
    readers += [re.escape(local) for local in re.findall(r"local\s+(\w+)\s*=\s*" + ext_var + r"\s*;", text)]
    cast = "raw"
    parsed: list[str] = []
    for reader in readers:
        for function in re.findall(r"std\.(parseInt|parseJson)\(\s*" + reader + r"\s*\)", text):
            cast = "int" if function == "parseInt" or cast == "int" else "json"
        parsed += [
            re.escape(local)
            for local in re.findall(r"local\s+(\w+)\s*=\s*std\.parse\w+\(\s*" + reader + r"\s*\)\s*;", text)
        ]
    as_condition = bool(re.search(ext_var + r"\s*==\s*['\"]true['\"]|['\"]true['\"]\s*==\s*" + ext_var, text))
    for value in [r"std\.parseJson\(\s*(?:" + "|".join(readers) + r")\s*\)", *parsed]:
        if re.search(
            r"\bif\s*!?\s*(?:"
            + value
            + r")\s*then|(?:"
            + value
            + r")\s*(?:&&|\|\|)|(?:&&|\|\|)\s*!?(?:"
            + value
            + r")\b",
            text,
        ):
            as_condition = True
    return Usage(cast, as_condition)


def guess_strategy(name: str, usage: Usage, current: str | None = None) -> tuple[dict[str, Any], str]:
    """A strategy for ext var ``name`` read as ``usage``, and the reason, for the ``review`` note."""
    lowered = name.lower()
    if usage.as_condition or (usage.cast == "json" and _FLAG_NAME.search(lowered)):
        why = "used as a condition" if usage.as_condition else f"the name '{name}' reads like a flag"
        return {"type": "bool"}, f"{why}: true or false"
    cast_note = {"int": "std.parseInt", "json": "std.parseJson", "raw": "no cast"}[usage.cast]
    if usage.cast != "raw":
        for pattern, strategy, what in _NUMBER_RULES:
            if re.search(pattern, lowered) and (usage.cast == "json" or strategy["type"] == "int"):
                return _around_current(dict(strategy), current, f"the name '{name}' reads like {what} ({cast_note})")
        strategy, what = _FALLBACK[usage.cast]
        return _around_current(dict(strategy), current, f"{what} ({cast_note}); set a range that fits '{name}'")
    for pattern, choices, what in _CHOICE_NAMES:
        if re.search(pattern, lowered):
            return {
                "type": "categorical",
                "choices": list(choices),
            }, f"the name '{name}' reads like {what} (no cast); list the ones to try"
    choices = [current] if current is not None else ["CHANGE_ME"]
    source = "its value in the environment" if current is not None else "a placeholder"
    return {
        "type": "categorical",
        "choices": choices,
    }, f"a string (no cast); choices hold {source}: list the values to try"


def _around_current(strategy: dict[str, Any], current: str | None, reason: str) -> tuple[dict[str, Any], str]:
    """``strategy`` re-centred on the current value where one is known and positive; else as it is."""
    try:
        value = float(current) if current is not None else math.nan
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value) or "low" not in strategy:
        return strategy, reason if current is None else f"{reason}; current value {current!r} not used"
    if strategy.get("scale") == "power_two":
        exponent = round(math.log2(value))
        around = {"type": "int", "scale": "power_two", "low": max(0, exponent - 2), "high": exponent + 2}
        return around, f"{reason}, around its current value {current}: 2^{around['low']} to 2^{around['high']}"
    if strategy.get("log"):
        around = {"type": "float", "low": float(f"{value / 10:.3g}"), "high": float(f"{value * 10:.3g}"), "log": True}
        return around, f"{reason}, around its current value {current}: /10 to x10"
    if strategy["type"] == "float":
        if value >= strategy["high"] or value <= strategy["low"]:
            return strategy, f"{reason}; current value {current} outside the usual range: check it"
        return strategy, f"{reason}; current value {current} inside"
    whole = max(1, round(value))
    if strategy["high"] - strategy["low"] <= 1:
        return strategy, reason
    if strategy.get("step", 1) >= 32:
        # Layer sizes: a quarter to four times the current value, log-uniform; the cost of a trial grows with them.
        around = {"type": "int", "low": max(1, whole // 4), "high": whole * 4, "log": True}
        return around, f"{reason}, around its current value {current}: /4 to x4, log-uniform"
    around = {"type": "int", "low": max(1, whole // 2), "high": max(2, whole * 2)}
    return around, f"{reason}, around its current value {current}: /2 to x2"
