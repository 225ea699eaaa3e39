"""Configs and search spaces given as a file path, as Jsonnet/JSON text, or as Python data.

A string is a path when it names an existing file, or when it is one line without
braces or brackets ending in ``.json``/``.jsonnet``/``.libsonnet`` (then a missing file
is reported as such); any other string is Jsonnet (or JSON) text.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.config.snapshot import ConfigSnapshot, capture_config, config_from_text
from tuner.errors import ConfigError, SearchSpaceError
from tuner.space.parameters import SearchSpace
from tuner.space.parse import parse_search_space

_FILE_SUFFIXES = (".json", ".jsonnet", ".libsonnet")


def is_path(value: Any) -> bool:
    """Whether ``value`` names a file rather than holding Jsonnet/JSON text (see the module docstring)."""
    if isinstance(value, os.PathLike):
        return True
    if not isinstance(value, str):
        return False
    if "\n" not in value and Path(value).is_file():
        return True
    return not any(mark in value for mark in "\n{}[]") and value.strip().endswith(_FILE_SUFFIXES)


def snapshot_and_study_name(config: Any) -> tuple[ConfigSnapshot, str]:
    """The config's snapshot and the default study name.

    A file's study name is its stem (``configs/imdb.jsonnet`` -> ``imdb``); text or a dict
    has no name, so it gets ``config-`` and 8 hex digits of its content's hash: the same
    config resumes the same study, an edited one starts a new study.
    """
    if is_path(config):
        return capture_config(config), Path(config).stem
    if isinstance(config, Mapping):
        text = json.dumps(config, indent=2)  # JSON is valid Jsonnet
    elif isinstance(config, str):
        text = config
    else:
        raise ConfigError(f"config must be a path, Jsonnet text or a dict, got {type(config).__name__}")
    return config_from_text(text), "config-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def load_space(search_space: Any) -> SearchSpace:
    """A validated search space from a path, JSON/Jsonnet text, a mapping or a list."""
    if is_path(search_space):
        return load_search_space(search_space)
    if isinstance(search_space, str):
        return search_space_from_text(search_space, source="<search_space argument>")
    if isinstance(search_space, SearchSpace):
        return search_space
    if isinstance(search_space, (Mapping, Sequence)):
        return parse_search_space(search_space, source="<search_space argument>")
    raise SearchSpaceError(
        f"search_space must be a path, JSON/Jsonnet text, a dict or a list, got {type(search_space).__name__}"
    )


def load_search_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space file (``.json``, or ``.jsonnet`` evaluated first)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SearchSpaceError(f"{path}: search-space file not found") from None
    except UnicodeDecodeError as error:
        raise SearchSpaceError(
            f"{path}: the search-space file is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start})"
        ) from None
    except OSError as error:
        raise SearchSpaceError(f"{path}: cannot read search-space file ({error.strerror})") from None
    return search_space_from_text(text, source=str(path), jsonnet=path.suffix in (".jsonnet", ".libsonnet"))


def search_space_from_text(text: str, *, source: str = "<search space>", jsonnet: bool | None = None) -> SearchSpace:
    """Validate a search space given as JSON or Jsonnet text (``jsonnet=None``: Jsonnet unless it is JSON)."""
    if jsonnet is None:
        jsonnet = not _is_json(text)
    if jsonnet:
        from tuner.config.snapshot import evaluate_jsonnet_snippet

        text = evaluate_jsonnet_snippet(source, text, error_class=SearchSpaceError)
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise SearchSpaceError(
            f"{source}:{error.lineno}:{error.colno}: invalid JSON in search space: {error.msg}"
        ) from None
    except _DuplicateKey as duplicate:
        raise SearchSpaceError(
            f"{source}: key '{duplicate.key}' appears twice in one object; names must be unique"
        ) from None
    except RecursionError:
        raise SearchSpaceError(f"{source}: the search space is nested too deeply to read") from None
    except ValueError as error:  # an integer of more than 4300 digits
        raise SearchSpaceError(f"{source}: invalid number in search space: {str(error).split(';')[0]}") from None
    try:
        return parse_search_space(data, source=source)
    except RecursionError:
        raise SearchSpaceError(f"{source}: the search space is nested too deeply to check") from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    except Exception:  # noqa: BLE001 - valid JSON with another flaw: let the JSON path report it
        return True
    return True


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: a repeated key is an error, not a silently dropped parameter."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result
