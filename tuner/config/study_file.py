"""Study-config files: every argument of :func:`tuner.tune` in one JSON or Jsonnet file.

::

    {
      "tune": {"config": "configs/digits_optuna.jsonnet", "search_space": "search_spaces/digits.json",
               "n_trials": 20, "ext_vars": {"epochs": 5}},
      "optuna": {"sampler": "tpe", "sampler_kwargs": {"n_startup_trials": 5}, "pruner": "median", "seed": 0}
    }

``tune`` holds the study's inputs and budget, ``optuna`` the sampler and pruner; the keys
are :func:`tuner.tune`'s argument names. Relative paths (``config``, ``search_space``,
``serialization_dir``, an SQLite or journal ``storage``) are relative to the file's folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.config.snapshot import evaluate_jsonnet_snippet, ext_var_string
from tuner.config.sources import is_path
from tuner.errors import OptionError, did_you_mean
from tuner.space.parse import pykeen_hpo_translation

_TEXT, _INT, _NUMBER, _BOOL, _OBJECT = (str,), (int,), (int, float), (bool,), (dict,)
TUNE_KEYS: dict[str, tuple[type, ...]] = {
    "config": (str, dict),
    "search_space": (str, dict, list),
    "n_trials": _INT,
    "timeout": _NUMBER,
    "metric": (str, list),  # a list: several objectives, paired with direction's list
    "direction": (str, list),
    "storage": _TEXT,
    "study_name": _TEXT,
    "serialization_dir": _TEXT,
    "ext_vars": _OBJECT,
    "command": _TEXT,
    "gpus": (str, list, int),
    "trials_per_gpu": _INT,
    "gpus_per_trial": _INT,
    "busy_gpu_mb": _NUMBER,
    "gpu_hours": _NUMBER,
    "n_jobs": _INT,
    "trial_timeout": _NUMBER,
    "max_failures": _INT,
    "max_failure_rate": _NUMBER,
    "max_retries": _INT,
    "grace": _NUMBER,
    "keep_checkpoints": _TEXT,
    "warm_launch": _BOOL,
    "metrics_from": _TEXT,
    "metrics_file": _TEXT,
    "trial_cwd": _TEXT,  # scripts that take flags (README "Scripts that take flags")
    "preload": (list,),
    "enqueue": (str, list, dict),
    "warm_start_from": _TEXT,
    "warm_start_storage": _TEXT,
    "patience": _INT,
    "target": _NUMBER,
    "terminator": _BOOL,
    "prune_on": _TEXT,
    "constraints": (str, list),
}
OPTUNA_KEYS: dict[str, tuple[type, ...]] = {
    "sampler": _TEXT,
    "sampler_kwargs": _OBJECT,
    "pruner": _TEXT,
    "pruner_kwargs": _OBJECT,
    "seed": _INT,
}
SECTIONS = {"tune": TUNE_KEYS, "optuna": OPTUNA_KEYS}


def load_study_config(path: str | Path) -> dict[str, Any]:
    """Read a ``.json`` or ``.jsonnet`` study config; return :func:`tuner.tune` keyword arguments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OptionError(f"{path}: cannot read study config ({error.strerror})") from None
    if path.suffix in (".jsonnet", ".libsonnet"):
        text = evaluate_jsonnet_snippet(str(path), text, error_class=OptionError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise OptionError(f"{path}:{error.lineno}:{error.colno}: invalid JSON in study config: {error.msg}") from None
    return study_config_kwargs(data, source=str(path), base_dir=path.parent)


def study_config_kwargs(data: Any, *, source: str = "<study config>", base_dir: Path | None = None) -> dict[str, Any]:
    """Check a parsed study config and turn it into :func:`tuner.tune` keyword arguments.

    With ``base_dir``, relative paths in it are taken relative to that folder.
    """
    if not isinstance(data, Mapping):
        raise OptionError(f"{source}: a study config is an object with sections 'tune' and 'optuna'")
    translation = pykeen_hpo_translation(data)
    if translation:
        raise OptionError(f"{source}: {translation}")
    _check_keys(data, SECTIONS, source, "section")
    kwargs: dict[str, Any] = {}
    for section, schema in SECTIONS.items():
        values = data.get(section, {})
        if not isinstance(values, Mapping):
            raise OptionError(f"{source}: section '{section}' must be an object, got {json.dumps(values)}")
        _check_keys(values, schema, source, f"key in '{section}'")
        for key, value in values.items():
            kwargs[key] = _checked(value, schema[key], f"{source}: {section}.{key}")
    if isinstance(kwargs.get("gpus"), int):
        kwargs["gpus"] = str(kwargs["gpus"])
    if kwargs.get("ext_vars") is not None:
        kwargs["ext_vars"] = {str(name): ext_var_string(value) for name, value in kwargs["ext_vars"].items()}
    if base_dir is not None:
        _resolve_paths(kwargs, base_dir)
    return kwargs


def _check_keys(values: Mapping[str, Any], known: Mapping[str, Any], source: str, what: str) -> None:
    for key in values:
        if key not in known:
            raise OptionError(f"{source}: unknown {what} '{key}'{did_you_mean(key, known)}; known: {', '.join(known)}")


def _checked(value: Any, types: tuple[type, ...], where: str) -> Any:
    if value is None:
        return None  # null: the default, as if the key were left out
    if isinstance(value, bool) and bool not in types:
        valid = False
    else:
        valid = isinstance(value, types)
    if not valid:
        expected = " or ".join(
            {
                str: "a string",
                int: "an integer",
                float: "a number",
                bool: "true or false",
                dict: "an object",
                list: "a list",
            }[kind]
            for kind in types
        )
        raise OptionError(f"{where} must be {expected}, got {json.dumps(value)}")
    return value


def _resolve_paths(kwargs: dict[str, Any], base_dir: Path) -> None:
    for key in ("config", "search_space"):
        if is_path(kwargs.get(key)):
            kwargs[key] = str(base_dir / kwargs[key])
    if isinstance(kwargs.get("enqueue"), str):
        kwargs["enqueue"] = str(base_dir / kwargs["enqueue"])
    if kwargs.get("serialization_dir"):
        kwargs["serialization_dir"] = str(base_dir / kwargs["serialization_dir"])
    storage = kwargs.get("storage")
    for prefix in ("sqlite:///", "journal:"):
        if storage and storage.startswith(prefix) and storage != "sqlite:///:memory:":
            location = storage[len(prefix) :]
            kwargs["storage"] = prefix + str(base_dir / location)
