"""``--enqueue FILE``: parameter values the study runs first, checked against the search space.

The file holds one JSON object of parameter values (name -> value), a list of them, or a rendered
config such as a ``best_config.json``, whose values are read back through the search space
(:mod:`tuner.study.config_params`). Every value is checked before anything is stored. Each entry is
queued with Optuna's ``enqueue_trial`` and the user attribute ``enqueued: true``; an entry already
enqueued in the study (in any state) is not queued again, so re-running a command does not repeat it.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.config.snapshot import ConfigSnapshot
from tuner.errors import OptionError, did_you_mean
from tuner.space.parameters import Parameter, SearchSpace, is_active, same_value
from tuner.study.config_params import is_rendered_config, params_from_config
from tuner.study.records import ATTR_ENQUEUED

if TYPE_CHECKING:
    import optuna

Params = dict[str, Any]
_GRID_TOLERANCE = 1e-9


def load_enqueue(
    source: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    space: SearchSpace,
    snapshot: ConfigSnapshot,
) -> tuple[Params, ...]:
    """The checked parameter values of ``source`` (a file, or the parsed objects), in order.

    Raises:
        OptionError: the file cannot be read, an entry names an unknown parameter, or a value is not
            one the search space can sample (out of range, off the grid, not a choice).
    """
    label, entries = _read(source)
    checked = []
    for index, entry in enumerate(entries):
        where = f"--enqueue {label}" + (f" entry {index + 1}" if len(entries) > 1 else "")
        if not isinstance(entry, Mapping):
            raise OptionError(f"{where}: expected an object of parameter values, got {json.dumps(entry)[:80]}")
        check = functools.partial(checked_params, space=space, where=where)
        checked.append(
            params_from_config(entry, space, snapshot, where, check) if is_rendered_config(entry) else check(entry)
        )
    return tuple(checked)


def _read(source: Any) -> tuple[str, list[Any]]:
    """(how to name the source, its entries)."""
    if isinstance(source, Mapping):
        return "<object>", [source]
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        return "<list>", list(source)
    if not str(source).strip():
        raise OptionError(f"--enqueue {str(source)!r}: give a JSON file of parameter values")
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OptionError(f"--enqueue {path}: cannot read it ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OptionError(f"--enqueue {path}: not JSON ({error})") from None
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise OptionError(f"--enqueue {path}: the list is empty; give one object of parameter values or more")
    return str(path), entries


def checked_params(params: Mapping[str, Any], space: SearchSpace, where: str) -> Params:
    """``params`` with every value checked against (and cast to) its parameter; inactive ones dropped."""
    by_name = {parameter.name: parameter for parameter in space}
    values: Params = {}
    for name, value in params.items():
        parameter = by_name.get(name)
        if parameter is None:
            raise OptionError(
                f"{where}: unknown parameter '{name}'{did_you_mean(name, by_name)}; "
                f"the search space has {', '.join(by_name)}"
            )
        cast, problem = value_problem(parameter, value)
        if problem:
            raise OptionError(f"{where}: {name}={json.dumps(value)} {problem}")
        values[name] = cast
    return active_params(values, space)


def active_params(values: Mapping[str, Any], space: SearchSpace) -> Params:
    """The values of ``values`` whose parameters are active under the others' (parents first)."""
    active: Params = {}
    for parameter in space:
        if parameter.name in values and is_active(parameter.condition, active):
            active[parameter.name] = values[parameter.name]
    return active


def value_problem(parameter: Parameter, value: Any) -> tuple[Any, str | None]:
    """(``value`` cast to the parameter's kind, what is wrong with it or None)."""
    if parameter.choices is not None:
        for choice in parameter.choices:
            if same_value(value, choice):
                return choice, None
        return value, f"is not one of the choices {json.dumps(list(parameter.choices))}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return value, f"is not a finite number ({parameter.name} is {parameter.kind})"
    if parameter.kind == "int":
        if value != int(value):
            return value, f"is not an integer ({parameter.name} is int)"
        value = int(value)
    else:
        value = float(value)
    if value < parameter.low:
        return value, f"is below the search space's low {parameter.low:g}"
    if value > parameter.high:
        return value, f"is above the search space's high {parameter.high:g}"
    if parameter.step and not _on_grid(value, parameter.low, parameter.step):
        return value, f"is not on the grid {parameter.low:g} + k * {parameter.step:g}"
    return value, None


def _on_grid(value: float, low: float, step: float) -> bool:
    steps = (value - low) / step
    return abs(steps - round(steps)) <= _GRID_TOLERANCE * max(1.0, abs(steps))


def enqueue_trials(study: optuna.Study, entries: Sequence[Params]) -> tuple[int, int]:
    """Queue each entry to run first (Optuna's ``enqueue_trial``); (queued, already enqueued before).

    Optuna's own ``skip_if_exists`` compares with every trial, also those a sampler proposed or a warm
    start copied; here only trials that were enqueued count, so a best config can be run again on purpose.
    """
    earlier = [
        trial.system_attrs.get("fixed_params", trial.params)
        for trial in study.get_trials(deepcopy=False)
        if trial.user_attrs.get(ATTR_ENQUEUED)
    ]
    queued = 0
    for params in entries:
        if any(_same_params(params, old) for old in earlier):
            continue
        study.enqueue_trial(dict(params), user_attrs={ATTR_ENQUEUED: True})
        earlier.append(dict(params))
        queued += 1
    return queued, len(entries) - queued


def _same_params(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    return left.keys() == right.keys() and all(_same_number(left[name], right[name]) for name in left)


def _same_number(left: Any, right: Any) -> bool:
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (left, right))
    return math.isclose(left, right, rel_tol=1e-12, abs_tol=0.0) if numbers else same_value(left, right)
