"""``tune init-space``: a starting search space guessed from a config's ext vars.

Each ``std.extVar('name')`` becomes one entry of the mapping format. The type comes from
the cast around it (``std.parseInt`` -> int, ``std.parseJson`` -> number, or bool when the
value is used as a condition or the name reads like a flag; no cast -> categorical), the
range from the name (``lr`` -> log-uniform float, ``dropout`` -> 0-0.8, ``*_dim`` and
``num_*`` -> int with a step). Every entry carries a ``"review"`` note saying what the
guess rests on; the search-space parser accepts it, and reminds the user while it is there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

from tuner.config import ConfigSnapshot, without_comments

_NUMBER_RULES: tuple[tuple[str, dict[str, Any], str], ...] = (
    (r"(^|_)(lr|learning_rate)($|_)", {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}, "a learning rate: log-uniform"),
    (r"decay|(^|_)l2($|_)", {"type": "float", "low": 1e-6, "high": 1e-2, "log": True}, "a weight decay: log-uniform"),
    (r"dropout", {"type": "float", "low": 0.0, "high": 0.8}, "a dropout probability"),
    (r"momentum", {"type": "float", "low": 0.5, "high": 0.99}, "a momentum"),
    (r"margin", {"type": "float", "low": 0.5, "high": 5.0}, "a margin"),
    (r"batch_size", {"type": "int", "scale": "power_two", "low": 4, "high": 8}, "a batch size: powers of two, 16 to 256"),
    (r"(filter|kernel|window|ngram)_size|(^|_)(kernel|window)$", {"type": "int", "low": 2, "high": 5}, "a kernel size"),
    (r"(^|_)(num|n)_(layers|blocks)$|_layers$|depth", {"type": "int", "low": 1, "high": 4}, "a number of layers"),
    (r"epochs", {"type": "int", "low": 5, "high": 50, "step": 5}, "a number of epochs"),
    (r"heads", {"type": "int", "low": 1, "high": 8}, "a number of heads"),
    (r"(^|_)(p|p_norm|norm)$|_norm$", {"type": "int", "low": 1, "high": 2}, "the order of a p-norm"),
    (r"patience", {"type": "int", "low": 2, "high": 10}, "a patience"),
    (r"_dims?$|_size$|hidden|_units$|_channels$|(^|_)num_(filters|features)$|width",
     {"type": "int", "low": 32, "high": 512, "step": 32}, "a layer size: int in steps of 32"),
    (r"^(num|n)_", {"type": "int", "low": 1, "high": 16, "step": 1}, "a count"),
)
_FLAG_NAME = re.compile(r"^(use|is|has|enable|with|do)_|_(enabled|flag)$|^(bidirectional|shuffle|pretrained|bias|residual|freeze\w*|\w*_norm(alization)?)$")
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


def guess_search_space(snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """A search space (mapping format) with one guessed, ``review``-marked entry per ext var of ``snapshot``."""
    environ = os.environ if environ is None else environ
    text = "\n".join(without_comments(source) for source in snapshot.files.values())
    space = {}
    for name in snapshot.ext_var_names():
        strategy, reason = guess_strategy(name, usage_of(text, name), environ.get(name))
        space[name] = {**strategy, "review": f"guessed by tune init-space: {reason}"}
    return space


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
        parsed += [re.escape(local) for local in re.findall(r"local\s+(\w+)\s*=\s*std\.parse\w+\(\s*" + reader + r"\s*\)\s*;", text)]
    as_condition = bool(re.search(ext_var + r"\s*==\s*['\"]true['\"]|['\"]true['\"]\s*==\s*" + ext_var, text))
    for value in [r"std\.parseJson\(\s*(?:" + "|".join(readers) + r")\s*\)", *parsed]:
        if re.search(r"\bif\s*!?\s*(?:" + value + r")\s*then|(?:" + value + r")\s*(?:&&|\|\|)|(?:&&|\|\|)\s*!?(?:" + value + r")\b", text):
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
                return dict(strategy), f"the name '{name}' reads like {what} ({cast_note})"
        strategy, what = _FALLBACK[usage.cast]
        return dict(strategy), f"{what} ({cast_note}); set a range that fits '{name}'"
    for pattern, choices, what in _CHOICE_NAMES:
        if re.search(pattern, lowered):
            return {"type": "categorical", "choices": list(choices)}, f"the name '{name}' reads like {what} (no cast); list the ones to try"
    choices = [current] if current is not None else ["CHANGE_ME"]
    source = "its value in the environment" if current is not None else "a placeholder"
    return {"type": "categorical", "choices": choices}, f"a string (no cast); choices hold {source}: list the values to try"
