"""Jsonnet configs: capture a config with its imports, find its ext vars, render it.

A :class:`ConfigSnapshot` holds the source text of the config and every file it
imports, plus the fixed (not searched) ext vars, so a stored study can render
its best config long after the files on disk were edited or moved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.config import jsonnet_engine
from tuner.errors import ConfigError, TunerError

_IMPORT = re.compile(r"""\bimport(?:str|bin)?\s*(['"])(.+?)\1""")
_EXT_VAR = re.compile(r"""std\.extVar\(\s*(['"])(.+?)\1\s*\)""")
_STATIC_ERROR = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)(?:-\d+)? (?P<text>\S.*)$")
_ERROR_LOCATION = re.compile(r"^\t(?P<file>.+?):(?P<line>\d+):(?P<col>[\d()\-:]+)")
# Strings (kept, so that 'https://...' is no comment) or comments (blanked), leftmost first.
_STRING_OR_COMMENT = re.compile(
    r"""(?P<string>@'(?:[^']|'')*'|@"(?:[^"]|"")*"|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\|\|\|.*?\|\|\|)
    |(?P<comment>//[^\n]*|\#[^\n]*|/\*.*?\*/)""",
    re.DOTALL | re.VERBOSE,
)


@dataclass(frozen=True)
class ConfigSnapshot:
    """A Jsonnet config frozen in time: its files' text and the fixed ext vars."""

    entry: str
    files: Mapping[str, str]
    fixed_ext_vars: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A short content hash; equal snapshots share it."""
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
        return digest[:12]

    def ext_var_names(self) -> dict[str, str]:
        """Every ``std.extVar('name')`` written in the files, mapped to its first ``file:line``."""
        found: dict[str, str] = {}
        for path, text in self.files.items():
            text = without_comments(text)
            for match in _EXT_VAR.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(match.group(2), f"{path}:{line}")
        return found

    def render(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Render with ``params`` (sampled values) and the fixed ext vars; return plain JSON data."""
        ext_vars = self._ext_vars(params)
        try:
            return jsonnet_engine.parse_rendered(jsonnet_engine.render(self.entry, self.files, ext_vars))
        except jsonnet_engine.JsonnetError as error:
            raise ConfigError(self.describe_error(str(error), ext_vars)) from None

    def _ext_vars(self, params: Mapping[str, Any]) -> dict[str, str]:
        return {**self.fixed_ext_vars, **{name: ext_var_string(value) for name, value in params.items()}}

    def describe_error(self, message: str, ext_vars: Mapping[str, str]) -> str:
        """One line from a Jsonnet error: location, message, and the ext vars on that line."""
        text = jsonnet_error_line(message)
        location = _first_user_frame(message)
        if location is None:
            return text
        path, line = location
        source_lines = self.files.get(path, "").splitlines()
        if not 0 < line <= len(source_lines):
            return f"{path}:{line}: {text}"
        names = dict.fromkeys(match.group(2) for match in _EXT_VAR.finditer(source_lines[line - 1]))
        values = ", ".join(f"{name}={ext_vars[name]!r}" for name in names if name in ext_vars)
        suffix = f" (with {values})" if values else ""
        return f"{path}:{line}: {text}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "files": dict(self.files), "fixed_ext_vars": dict(self.fixed_ext_vars)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigSnapshot:
        return cls(entry=data["entry"], files=dict(data["files"]), fixed_ext_vars=dict(data["fixed_ext_vars"]))

    def with_fixed_ext_vars(self, fixed_ext_vars: Mapping[str, str]) -> ConfigSnapshot:
        return dataclasses.replace(self, fixed_ext_vars=dict(fixed_ext_vars))


TEXT_ENTRY = "<config>"  # the snapshot entry of a config given as text rather than a file


def capture_config(path: str | Path) -> ConfigSnapshot:
    """Read a config file and, recursively, every file it imports by a literal path."""
    entry = os.path.normpath(str(path))
    try:
        text = Path(entry).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{entry}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{entry}: cannot read config file ({reason})") from None
    return _with_imports(entry, text)


def config_from_text(text: str) -> ConfigSnapshot:
    """A snapshot of Jsonnet (or JSON) source given as text, entry ``<config>``; imports are relative to here."""
    return _with_imports(TEXT_ENTRY, text)


def _with_imports(entry: str, text: str) -> ConfigSnapshot:
    files: dict[str, str] = {entry: text}
    pending = _imports_of(entry, text)
    while pending:
        current = pending.pop()
        if current in files:
            continue
        try:
            files[current] = Path(current).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # the render reports the failing import with its location
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigError(f"{current}: cannot read config file ({reason})") from None
        pending.extend(_imports_of(current, files[current]))
    return ConfigSnapshot(entry=entry, files=files)


def _imports_of(path: str, text: str) -> list[str]:
    directory = os.path.dirname(path)
    return [
        os.path.normpath(os.path.join(directory, match.group(2))) for match in _IMPORT.finditer(without_comments(text))
    ]


def ext_var_string(value: Any) -> str:
    """Format a sampled value the way Jsonnet's casts expect it.

    ints as ``"128"``, floats in shortest round-trip form, bools as ``"true"``/
    ``"false"`` (for ``std.parseJson``), strings raw, anything else as JSON.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot pass non-finite value {value} to Jsonnet")
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value)


def evaluate_jsonnet_snippet(filename: str, text: str, *, error_class: type[TunerError] = ConfigError) -> str:
    """Evaluate Jsonnet source with no ext vars, turning errors into one-line ``error_class``."""
    try:
        return jsonnet_engine.render(filename, {filename: text}, {})
    except jsonnet_engine.JsonnetError as error:
        location = _first_user_frame(str(error))
        prefix = f"{location[0]}:{location[1]}: " if location else ""
        raise error_class(prefix + jsonnet_error_line(str(error))) from None


def jsonnet_error_line(message: str) -> str:
    """The first line of a Jsonnet error, without its stack of frames.

    go-jsonnet writes a syntax error as ``file:3:3-4 Expected ...``; it reads as the C++ engine's
    ``STATIC ERROR: file:3:3: expected ...``.
    """
    if not message.strip():
        return "Jsonnet error"
    first = message.strip().splitlines()[0].strip()
    static = _STATIC_ERROR.match(first)
    if static is None:
        return first
    file, line, column, text = static.group("file", "line", "col", "text")
    return f"STATIC ERROR: {file}:{line}:{column}: {text[0].lower()}{text[1:]}"


def without_comments(text: str) -> str:
    """Jsonnet source with comments blanked (newlines kept, so line numbers still hold)."""

    def blank(match: re.Match[str]) -> str:
        return match.group() if match.group("string") is not None else "\n" * match.group().count("\n")

    return _STRING_OR_COMMENT.sub(blank, text)


def _first_user_frame(message: str) -> tuple[str, int] | None:
    for line in message.splitlines()[1:]:
        match = _ERROR_LOCATION.match(line)
        if match and not match.group("file").endswith("std.jsonnet"):
            return match.group("file"), int(match.group("line"))
    return None
