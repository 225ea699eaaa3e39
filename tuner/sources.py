"""Configs and search spaces given as a file path, as Jsonnet/JSON text, or as Python data.

A string is a path when it names an existing file, or when it is one line without
braces or brackets ending in ``.json``/``.jsonnet``/``.libsonnet`` (then a missing file
is reported as such); any other string is Jsonnet (or JSON) text.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from tuner.config import ConfigSnapshot, capture_config, config_from_text
from tuner.errors import ConfigError, SearchSpaceError
from tuner.search_space import SearchSpace, load_search_space, parse_search_space, search_space_from_text

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


def load_config(config: Any) -> tuple[ConfigSnapshot, str]:
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
