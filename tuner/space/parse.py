import json
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from tuner.errors import SearchSpaceError, closest, did_you_mean
from tuner.space.conditions import order_and_check, parse_condition
from tuner.space.parameters import KINDS, MAX_INT_MAGNITUDE, Parameter, SearchSpace, Value, tidy_number

_KIND_ALIASES = {"integer": "int", "boolean": "bool", "str": "categorical", "choice": "categorical"}
# PyKEEN's strategies may name the Python type itself: dict(type=int, low=1, high=9).
_KIND_TYPES = {int: "int", float: "float", bool: "bool"}
_KEYS = {
    "int": {"low", "high", "step", "q", "log", "scale", "base"},
    "float": {"low", "high", "step", "q", "log", "scale"},
    "bool": set(),
    "categorical": {"choices"},
}
_SCALES = ("linear", "power", "power_two")
MAX_POWER_CHOICES = 10_000
_COMMON_KEYS = ("condition", "default", "review")  # allowed with every type


class SearchSpaceWarning(UserWarning):
    """A search space is valid but does something the user may not expect."""


def parse_search_space(data: Any, *, source: str = "<search space>") -> SearchSpace:
    """Validate an already-loaded search space in either format."""
    _refuse_pykeen_hpo_config(data, source)
    if isinstance(data, list):
        entries = list(_entries_from_list(data, source))
    elif isinstance(data, Mapping):
        entries = [(name, strategy) for name, strategy in data.items()]
    else:
        raise SearchSpaceError(
            f"{source}: a search space is a list of {{type, attributes}} entries or a mapping "
            f"from parameter name to strategy, not {type(data).__name__}"
        )
    if not entries:
        raise SearchSpaceError(f"{source}: the search space has no parameters")
    parameters: list[Parameter] = []
    notes: list[str] = []
    seen: set[str] = set()
    to_review = [name for name, strategy in entries if isinstance(strategy, Mapping) and "review" in strategy]
    for name, strategy in entries:
        where = f"{source}: parameter '{name}'"
        if not isinstance(name, str) or not name:
            raise SearchSpaceError(f"{source}: every parameter needs a non-empty string name, got {name!r}")
        if name in seen:
            raise SearchSpaceError(f"{where} is defined twice; names must be unique")
        seen.add(name)
        parameter, note = _parse_strategy(name, strategy, where)
        parameters.append(parameter)
        if note:
            notes.append(f"{where}: {note}")
            warnings.warn(f"{where}: {note}", SearchSpaceWarning, stacklevel=2)
    if to_review:
        note = (
            f"{source}: {len(to_review)} parameter(s) still marked 'review' (guessed by tune init-space): "
            f"{', '.join(map(str, to_review))}; check their ranges, then delete the 'review' keys"
        )
        notes.append(note)
        warnings.warn(note, SearchSpaceWarning, stacklevel=2)
    return SearchSpace(order_and_check(parameters, source), source=source, notes=tuple(notes))


def parse_stored_space(data: Any, *, source: str = "<stored search space>") -> SearchSpace:
    """A search space stored with a study (:meth:`SearchSpace.to_dict`), read back quickly and silently.

    The stored form was validated when the study ran (and its notes shown then), so it is only read;
    any other shape (a space stored by hand, say) is validated as usual, without repeating notes.
    """
    try:
        return SearchSpace.from_stored(data, source=source)
    except (ValueError, KeyError, TypeError, AttributeError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SearchSpaceWarning)
            return parse_search_space(data, source=source)


def pykeen_hpo_translation(data: Any) -> str | None:
    """For a PyKEEN ``hpo_pipeline`` config (``{"optuna": ..., "pipeline": ...}``): how to write it for tune."""
    if not isinstance(data, Mapping) or not isinstance(data.get("pipeline"), Mapping):
        return None
    ranges = [
        f"{section}.{name}"
        for section, strategies in data["pipeline"].items()
        if str(section).endswith("_kwargs_ranges") and isinstance(strategies, Mapping)
        for name in strategies
    ]
    searched = f" ({', '.join(ranges)})" if ranges else ""
    return (
        "this is a PyKEEN hpo_pipeline config, which tune reads in two files: put 'pipeline' (without the "
        "*_kwargs_ranges) in a Jsonnet config for tuner.pykeen_trainer, each value to search read with "
        "std.extVar('name'); put each *_kwargs_ranges entry" + searched + " in the search space under that name, "
        "as PyKEEN wrote it; give 'optuna' (n_trials, sampler, pruner) as tune options; see docs/pykeen.md"
    )


def _refuse_pykeen_hpo_config(data: Any, source: str) -> None:
    translation = pykeen_hpo_translation(data)
    if translation:
        raise SearchSpaceError(f"{source}: {translation}")


def _entries_from_list(data: list[Any], source: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    for index, entry in enumerate(data):
        where = f"{source}: entry {index}"
        if not isinstance(entry, Mapping):
            raise SearchSpaceError(f"{where}: expected an object with 'type' and 'attributes', got {entry!r}")
        unknown = set(entry) - {"type", "attributes"}
        if unknown:
            raise SearchSpaceError(f"{where}: unknown key(s) {_names(unknown)}; expected 'type' and 'attributes'")
        attributes = entry.get("attributes")
        if not isinstance(attributes, Mapping) or "name" not in attributes:
            raise SearchSpaceError(f"{where}: 'attributes' must be an object with a 'name'")
        strategy = {key: value for key, value in attributes.items() if key != "name"}
        if "type" in entry:
            strategy["type"] = entry["type"]
        yield attributes["name"], strategy


def _parse_strategy(name: str, strategy: Any, where: str) -> tuple[Parameter, str | None]:
    if not isinstance(strategy, Mapping):
        raise SearchSpaceError(f"{where}: the strategy must be an object with a 'type', got {strategy!r}")
    if "type" not in strategy:
        misspelt = closest("type", strategy)
        if misspelt is not None:
            raise SearchSpaceError(f"{where}: unknown key '{misspelt}' (did you mean 'type'?)")
    kind = _parse_kind(strategy.get("type"), where)
    options = {key: value for key, value in strategy.items() if key not in ("type", *_COMMON_KEYS)}
    unknown = set(options) - _KEYS[kind]
    if unknown:
        allowed = ", ".join(sorted(_KEYS[kind] | set(_COMMON_KEYS)))
        raise SearchSpaceError(f"{where}: unknown key(s) {_names(unknown)} for type '{kind}' (allowed: {allowed})")
    if kind == "bool":
        parameter, note = Parameter(name, "bool", choices=(True, False)), None
    elif kind == "categorical":
        parameter, note = Parameter(name, "categorical", choices=_parse_choices(options, where)), None
    else:
        parameter, note = _parse_number(name, kind, options, where)
    return _with_condition(parameter, strategy, where), note


def _with_condition(parameter: Parameter, strategy: Mapping[str, Any], where: str) -> Parameter:
    """Add ``condition`` and the inactive ``default`` (low end or first choice unless given)."""
    if not isinstance(strategy.get("review", ""), str):
        raise SearchSpaceError(f"{where}: 'review' is a note for people and must be a string")
    if "condition" not in strategy:
        if "default" in strategy:
            raise SearchSpaceError(
                f"{where}: 'default' is the value while a condition is not met; add a 'condition' or drop it"
            )
        return parameter
    condition = parse_condition(strategy["condition"], where)
    default = strategy.get("default", parameter.extremes[0])
    if default is not None and not isinstance(default, (bool, int, float, str)):
        raise SearchSpaceError(
            f"{where}: 'default' must be a string, number, boolean or null, got {json.dumps(default)}"
        )
    return replace(parameter, condition=condition, default=default)


def _parse_kind(kind: Any, where: str) -> str:
    if isinstance(kind, type) and kind in _KIND_TYPES:
        return _KIND_TYPES[kind]
    if not isinstance(kind, str):
        raise SearchSpaceError(f"{where}: missing or invalid 'type' {kind!r}; use one of {', '.join(KINDS)}")
    normalised = _KIND_ALIASES.get(kind.lower(), kind.lower())
    if normalised not in KINDS:
        raise SearchSpaceError(
            f"{where}: unknown type '{kind}'{did_you_mean(kind.lower(), KINDS)}; use one of {', '.join(KINDS)}"
        )
    return normalised


def _parse_choices(options: Mapping[str, Any], where: str) -> tuple[Value, ...]:
    choices = options.get("choices")
    if not isinstance(choices, list) or not choices:
        raise SearchSpaceError(f"{where}: 'choices' must be a non-empty list, got {choices!r}")
    for choice in choices:
        if choice is not None and not isinstance(choice, (bool, int, float, str)):
            raise SearchSpaceError(
                f"{where}: choice {_short_json(choice)} is not a string, number, boolean or null; "
                "write it as a string and decode it in the config with std.parseJson"
            )
        if isinstance(choice, float) and not math.isfinite(choice):
            raise SearchSpaceError(f"{where}: choice {choice} is not a finite number; give numbers or strings")
        if isinstance(choice, int) and not isinstance(choice, bool) and abs(choice) > MAX_INT_MAGNITUDE:
            raise SearchSpaceError(
                f"{where}: choice {_short_number(choice)} is beyond ±2**53, which Jsonnet and Optuna cannot hold "
                "exactly"
            )
    keys = [json.dumps(choice) for choice in choices]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise SearchSpaceError(f"{where}: choice {duplicate} is listed more than once")
    return tuple(choices)


def _parse_number(name: str, kind: str, options: Mapping[str, Any], where: str) -> tuple[Parameter, str | None]:
    for bound in ("low", "high"):
        if bound not in options:
            raise SearchSpaceError(f"{where}: missing '{bound}' for type '{kind}'")
        _check_number(options[bound], kind, bound, where)
    low, high = options["low"], options["high"]
    if low > high:
        raise SearchSpaceError(f"{where}: low ({low}) is greater than high ({high})")
    log = options.get("log", False)
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{where}: 'log' must be true or false, got {log!r}")
    scale = options.get("scale", "linear")
    if scale not in _SCALES:
        raise SearchSpaceError(
            f"{where}: unknown scale {scale!r}{did_you_mean(str(scale).lower(), _SCALES)}; use one of "
            f"{', '.join(_SCALES)}"
        )
    if scale != "linear":
        return _parse_power(name, kind, options, scale, where), None
    if "base" in options:
        raise SearchSpaceError(f"{where}: 'base' only applies with scale 'power'")
    step = _parse_step(options, kind, where)
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: low ({low}) must be greater than 0 when log is true")
    if log and step is not None:
        raise SearchSpaceError(
            f"{where}: 'step' cannot be combined with 'log' (Optuna samples a log range continuously); "
            "drop one of them, or use scale 'power' for a logarithmic grid of integers"
        )
    note = None
    if step is not None:
        high, note = _trim_to_step(low, high, step, kind)
    if kind == "float":
        low, high = float(low), float(high)
    return Parameter(name, kind, low=low, high=high, step=step, log=log), note


def _parse_power(name: str, kind: str, options: Mapping[str, Any], scale: str, where: str) -> Parameter:
    if kind != "int":
        raise SearchSpaceError(f"{where}: scale '{scale}' only applies to type 'int'")
    for conflicting in ("log", "step", "q"):
        if options.get(conflicting):
            raise SearchSpaceError(f"{where}: '{conflicting}' cannot be combined with scale '{scale}'")
    base = options.get("base", 2)
    if scale == "power_two" and base != 2:
        raise SearchSpaceError(f"{where}: scale 'power_two' has base 2; use scale 'power' for base {base!r}")
    if isinstance(base, bool) or not isinstance(base, int) or base < 2:
        raise SearchSpaceError(f"{where}: 'base' must be an integer of at least 2, got {base!r}")
    low, high = options["low"], options["high"]
    if low < 0:
        raise SearchSpaceError(
            f"{where}: with scale '{scale}', low and high are exponents and must be >= 0, got low {low}"
        )
    if high - low + 1 > MAX_POWER_CHOICES:
        raise SearchSpaceError(
            f"{where}: exponents {low}..{high} make {high - low + 1:,} choices; scale '{scale}' allows at most "
            f"{MAX_POWER_CHOICES:,}"
        )
    if high * math.log2(base) > math.log2(MAX_INT_MAGNITUDE):
        raise SearchSpaceError(
            f"{where}: {base}**{high} is beyond 2**53, which Jsonnet and Optuna cannot hold exactly; lower 'high'"
        )
    return Parameter(name, "int", choices=tuple(base**exponent for exponent in range(low, high + 1)))


def _parse_step(options: Mapping[str, Any], kind: str, where: str) -> float | int | None:
    if "step" in options and "q" in options:
        raise SearchSpaceError(f"{where}: give 'step' or its legacy name 'q', not both")
    key = "step" if "step" in options else "q"
    step = options.get(key)
    if step is None:
        return None
    _check_number(step, kind, key, where)
    if step <= 0:
        raise SearchSpaceError(f"{where}: '{key}' must be greater than 0, got {step}")
    return step if kind == "int" else float(step)


def _trim_to_step(low: float, high: float, step: float, kind: str) -> tuple[float, str | None]:
    """Drop the upper bound to the last value reachable from ``low`` in steps (PyKEEN's rule)."""
    count = math.floor((high - low) / step + 1e-9)
    reachable = low + count * step
    if kind == "float":
        reachable = tidy_number(reachable)
    if math.isclose(reachable, high, rel_tol=1e-9, abs_tol=1e-12):
        return high, None
    return reachable, f"step {step} does not divide the range {low}..{high}; the upper bound becomes {reachable}"


def _check_number(value: Any, kind: str, key: str, where: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_MAGNITUDE:
        raise SearchSpaceError(
            f"{where}: '{key}' is {_short_number(value)}, beyond ±2**53, which Jsonnet and Optuna cannot hold exactly"
        )
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "int" and isinstance(value, float):
        valid = False
    if not valid:
        expected = "an integer" if kind == "int" else "a finite number"
        raise SearchSpaceError(f"{where}: '{key}' must be {expected} for type '{kind}', got {value!r}")


def _short_number(value: int) -> str:
    """A huge integer for a message: its first digits and how many there are."""
    text = str(abs(value))
    sign = "-" if value < 0 else ""
    return f"{sign}{text}" if len(text) <= 20 else f"{sign}{text[:6]}... ({len(text)} digits)"


def _short_json(value: Any, limit: int = 80) -> str:
    """``value`` as JSON for a message, cut to ``limit`` characters."""
    try:
        text = json.dumps(value, default=repr)
    except (RecursionError, ValueError):
        text = repr(type(value).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(keys: set[str]) -> str:
    return ", ".join(f"'{key}'" for key in sorted(keys))
