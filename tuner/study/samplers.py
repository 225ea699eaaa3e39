"""Optuna samplers and pruners by name (``"tpe"``, ``"TPESampler"``, ``"hyperband"``, any case),
class or instance, with keyword arguments from the command line."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tuner.errors import OptionError, did_you_mean
from tuner.space.parameters import SearchSpace

if TYPE_CHECKING:
    import optuna


def build_sampler(
    name_or_sampler: Any,
    kwargs: Mapping[str, Any] | None,
    *,
    seed: int | None,
    space: SearchSpace,
    parallel: bool = False,
) -> optuna.samplers.BaseSampler:
    """A sampler from a name (``"tpe"``, ``"TPESampler"``, any case), a class or an instance.

    With ``parallel`` slots, TPE gets the constant-liar setting, so that trials running
    at the same time are not all sampled at the same point.
    """
    import optuna

    if isinstance(name_or_sampler, optuna.samplers.BaseSampler):
        return name_or_sampler
    cls = _resolve(name_or_sampler, optuna.samplers, optuna.samplers.BaseSampler, "Sampler", "sampler")
    _check_installed(cls)
    options = dict(kwargs or {})
    if seed is not None and "seed" in inspect.signature(cls).parameters:
        options.setdefault("seed", seed)
    if parallel and issubclass(cls, optuna.samplers.TPESampler):
        options.setdefault("constant_liar", True)
    if issubclass(cls, optuna.samplers.GridSampler):
        cls = _ask_tell_grid_sampler()
        if "search_space" not in options:
            options["search_space"] = space.grid()
        _check_grid_kwarg(options["search_space"], space)
    return _construct(cls, options, "sampler")


def build_pruner(name_or_pruner: Any, kwargs: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    """A pruner from a name (``"median"``, ``"HyperbandPruner"``, ``"none"``), a class or an instance."""
    import optuna

    if isinstance(name_or_pruner, optuna.pruners.BasePruner):
        return name_or_pruner
    if isinstance(name_or_pruner, str) and name_or_pruner.lower() in ("none", "off"):
        name_or_pruner = "nop"
    cls = _resolve(name_or_pruner, optuna.pruners, optuna.pruners.BasePruner, "Pruner", "pruner")
    options = dict(kwargs or {})
    if issubclass(cls, optuna.pruners.PatientPruner):
        wrapped = options.get("wrapped_pruner")
        options["wrapped_pruner"] = build_pruner(wrapped, None) if wrapped is not None else None
    return _construct(cls, options, "pruner")


def parse_kwargs(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object given on the command line (``--sampler-kwargs '{"n_startup_trials": 5}'``)."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise OptionError(f"{option} is not valid JSON ({error.msg} at column {error.colno}): {text}") from None
    if not isinstance(value, dict):
        raise OptionError(f"{option} must be a JSON object like '{{\"name\": value}}', got {text}")
    return value


def available_names(module: Any, base: type, suffix: str) -> dict[str, type]:
    """Short lower-case names (``tpe``, ``hyperband``) of the concrete classes in an Optuna module."""
    names: dict[str, type] = {}
    for attribute in dir(module):
        value = getattr(module, attribute)
        if (
            inspect.isclass(value)
            and issubclass(value, base)
            and not attribute.startswith("Base")
            and attribute.endswith(suffix)
        ):
            if attribute in ("PartialFixedSampler",):
                continue  # wraps another sampler; not usable by name
            names[attribute[: -len(suffix)].lower()] = value
    return names


def _resolve(name_or_class: Any, module: Any, base: type, suffix: str, what: str) -> type:
    if inspect.isclass(name_or_class) and issubclass(name_or_class, base):
        return name_or_class
    if not isinstance(name_or_class, str):
        raise OptionError(f"{what} must be a name, an Optuna {what} class or instance, got {name_or_class!r}")
    choices = available_names(module, base, suffix)
    key = name_or_class.lower()
    key = key[: -len(suffix)] if key.endswith(suffix.lower()) else key
    key = key.replace("-", "").replace("_", "")
    if key not in choices:
        listing = ", ".join(sorted(choices))
        raise OptionError(f"unknown {what} '{name_or_class}'{did_you_mean(key, choices)}; available: {listing}")
    return choices[key]


def _construct(cls: type, options: Mapping[str, Any], what: str) -> Any:
    try:
        return cls(**options)
    except (TypeError, ValueError, ImportError, ModuleNotFoundError) as error:
        raise OptionError(
            f"cannot create {what} {cls.__name__} with {json.dumps(dict(options), default=str)}: {error}"
        ) from None


# Packages that Optuna samplers import only when they first sample (after the first trial, for CMA-ES).
SAMPLER_PACKAGES = {"CmaEsSampler": ("cmaes",), "GPSampler": ("torch", "scipy"), "QMCSampler": ("scipy",)}


def _check_installed(cls: type) -> None:
    """Refuse a sampler whose optional packages are missing, before any trial is asked."""
    import importlib.util

    missing = [name for name in SAMPLER_PACKAGES.get(cls.__name__, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise OptionError(
            f"sampler {cls.__name__} needs {', '.join(missing)}, which is not installed: pip install "
            f"{' '.join(missing)}"
        )


def _check_grid_kwarg(grid: Any, space: SearchSpace) -> None:
    """The grid sampler's ``search_space``: a list of values for each parameter of the space, and no other."""
    import math

    from tuner.space.parameters import MAX_GRID_POINTS

    where = "--sampler-kwargs search_space"
    if not isinstance(grid, Mapping):
        raise OptionError(
            f"{where} must be an object mapping each parameter to a list of values, got "
            f"{json.dumps(grid, default=repr)[:80]}"
        )
    for name, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise OptionError(
                f"{where}: '{name}' must be a non-empty list of values, got {json.dumps(values, default=repr)[:80]}"
            )
    missing = [name for name in space.names if name not in grid]
    unknown = [name for name in grid if name not in space.names]
    if missing or unknown:
        problems = [
            f"lacks {', '.join(missing)}" if missing else "",
            f"names {', '.join(unknown)}, not in the space" if unknown else "",
        ]
        raise OptionError(
            f"{where} {' and '.join(filter(None, problems))}; it needs a list of values for every parameter"
        )
    points = math.prod(len(values) for values in grid.values())
    if points > MAX_GRID_POINTS:
        raise OptionError(f"{where} has {points:,} points, more than the {MAX_GRID_POINTS:,} a grid may hold")


def _ask_tell_grid_sampler() -> type:
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        """GridSampler whose end-of-grid ``study.stop()`` is left out.

        Optuna's version only works inside ``study.optimize``; tune drives the
        study with ask/tell and checks ``is_exhausted`` itself before each trial.
        """

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGridSampler
