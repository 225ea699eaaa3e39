"""Typed, path-aware access to one section of a config, with leftover-key checks.

Components build themselves from a :class:`Section` by popping the keys they know;
:meth:`Section.assert_empty` then reports any key nobody consumed, by its full path
(``model.seq2vec_encoder.num_filter``), so typos never pass silently.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tuner.train.errors import TrainConfigError, did_you_mean

T = TypeVar("T")
_REQUIRED: Any = object()
_KIND_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


class Section:
    """A config object (``dict``) plus its dotted path, consumed key by key.

    Args:
        data: The raw mapping from the rendered config.
        path: Dotted path of this section, used in error messages ("" for the root).
    """

    def __init__(self, data: dict[str, Any], path: str = "") -> None:
        if not isinstance(data, dict):
            raise TrainConfigError(f"{path or 'config'}: expected an object, got {_show(data)}")
        self._data = dict(data)
        self.path = path
        self._known: set[str] = set()

    def key_path(self, key: str) -> str:
        """Return the dotted path of ``key`` inside this section."""
        return f"{self.path}.{key}" if self.path else key

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def pop(self, key: str, kind: type[T], default: Any = _REQUIRED) -> T:
        """Remove and return ``key``, checked to be of ``kind`` (ints accepted for floats).

        Raises:
            TrainConfigError: The key is missing without a default, or has the wrong type.
        """
        self._known.add(key)
        if key not in self._data:
            if default is _REQUIRED:
                raise TrainConfigError(f"{self.key_path(key)}: missing required key")
            return default
        value = self._data.pop(key)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        return _check(value, kind, self.key_path(key))

    def pop_section(self, key: str, default: dict[str, Any] | None = None) -> Section:
        """Remove ``key`` and return it as a nested :class:`Section` (``default`` if absent)."""
        value = self.pop(key, dict, _REQUIRED if default is None else default)
        return Section(value, self.key_path(key))

    def pop_list(self, key: str, kind: type[T], default: Any = _REQUIRED) -> list[T]:
        """Remove ``key`` as a list whose items are all of ``kind``."""
        values = self.pop(key, list, default)
        if values is None:
            return values  # type: ignore[return-value]
        return [_check(v, kind, f"{self.key_path(key)}[{i}]") for i, v in enumerate(values)]

    def pop_choice(self, key: str, choices: list[str], default: Any = _REQUIRED) -> str:
        """Remove ``key``, a string that must be one of ``choices``."""
        value = self.pop(key, str, default)
        if value not in choices:
            raise TrainConfigError(unknown_name_message(self.key_path(key), value, choices))
        return value

    def rest(self) -> dict[str, Any]:
        """Remove and return every remaining key (for pass-through kwargs)."""
        data, self._data = self._data, {}
        return data

    def assert_empty(self) -> None:
        """Raise if keys remain that no component consumed.

        Raises:
            TrainConfigError: Naming each leftover key and, when close, the key meant.
        """
        if not self._data:
            return
        parts = []
        for key in sorted(self._data):
            parts.append(f"'{self.key_path(key)}'{did_you_mean(key, sorted(self._known))}")
        allowed = ", ".join(sorted(self._known)) or "none"
        raise TrainConfigError(f"unknown key {', '.join(parts)}; allowed here: {allowed}")


def unknown_name_message(where: str, name: str, available: list[str]) -> str:
    """Build the "Unknown X. Did you mean Y? Available: ..." message."""
    hint = did_you_mean(name, available, sentence=True)
    return f"{where}: unknown type '{name}'.{hint} Available: {', '.join(sorted(available))}"


def _check(value: Any, kind: type[T], where: str) -> T:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)  # type: ignore[return-value]
    if kind is not bool and isinstance(value, bool) and kind is not object:
        raise TrainConfigError(f"{where}: expected {_KIND_NAMES.get(kind, kind.__name__)}, got {_show(value)}")
    if kind is object or isinstance(value, kind):
        return value
    raise TrainConfigError(f"{where}: expected {_KIND_NAMES.get(kind, kind.__name__)}, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
