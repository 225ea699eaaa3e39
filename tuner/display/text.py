"""Plain-text pieces every display shares: values, parameters, clocks, sparklines, escaped markup."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

_SPARKS = "▁▂▃▄▅▆▇█"


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return "-" if value is None else str(value)


def format_params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={format_value(value)}" for name, value in params.items())


def short_value(value: Any) -> str:
    """A parameter value for a table cell: 4 significant digits (CSV and JSON keep full precision)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return format_value(value)


def seconds_text(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def sparkline(values: Sequence[float]) -> str:
    """``▁▃▅█``: values scaled between their minimum and maximum."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    return "".join(
        _SPARKS[round((value - low) / span * (len(_SPARKS) - 1))] if math.isfinite(value) else "!" for value in values
    )


def escape(text: str) -> str:
    """``text`` shown as it is, not read as rich markup (a reason may hold ``[brackets]``)."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


def bytes_text(size: int | None) -> str:
    """``12.3 MB``: decimal units, as ``du --si`` and file managers show them."""
    if size is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
