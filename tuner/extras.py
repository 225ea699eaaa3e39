"""Optional dependencies: plotting and analysis libraries come with ``pip install 'tuner[plots]'``."""

from __future__ import annotations

import importlib.util

from tuner.errors import TunerError

EXTRA = "plots"


class MissingDependencyError(TunerError):
    """A command needs a package that is not installed."""


def require(*modules: str, purpose: str) -> None:
    """Raise :class:`MissingDependencyError` naming the install command if a module is missing."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingDependencyError(
            f"{purpose} needs {', '.join(missing)}; install it with: pip install 'tuner[{EXTRA}]'"
        )
