"""Errors a user can cause (the CLI prints their message as one line and exits 2), the optional-dependency
check, and the one "did you mean" helper."""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Iterable


class TunerError(Exception):
    """Base class: the message says what is wrong, where, and how to fix it."""


class SearchSpaceError(TunerError):
    """The search-space file is malformed or describes an impossible range."""


class ConfigError(TunerError):
    """The Jsonnet config cannot be read, parsed or rendered."""


class StudyError(TunerError):
    """The study storage or a stored study cannot be used as asked."""


class OptionError(TunerError):
    """A command-line option or API argument has an invalid value."""


class OutputError(TunerError):
    """A file of the study's outputs (a trial folder, best_config.json) cannot be written."""


class TrialSetupError(TunerError):
    """A trial could not be sampled or prepared (the sampler failed on the stored study, say)."""


class MissingDependencyError(TunerError):
    """A command needs a package that is not installed."""


PLOTS_EXTRA = "plots"


def require(*modules: str, purpose: str, extra: str = PLOTS_EXTRA) -> None:
    """Raise :class:`MissingDependencyError` naming the install command if a module is missing."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingDependencyError(
            f"{purpose} needs {', '.join(missing)}; install it with: pip install 'tuner[{extra}]'"
        )


def closest(word: object, options: Iterable[object], *, cutoff: float = 0.6) -> str | None:
    """The option closest to ``word`` (as text), or None when none is close enough."""
    matches = difflib.get_close_matches(str(word), [str(option) for option in options], n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: object, options: Iterable[object], *, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``word``, or ``""`` when none is close."""
    match = closest(word, options, cutoff=cutoff)
    return f" (did you mean '{match}'?)" if match is not None else ""
