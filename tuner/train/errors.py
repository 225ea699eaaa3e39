"""Errors of the built-in trainer that a user can cause (bad config, missing data), and its "did you mean".

The trainer's CLI prints their message as one ``error: ...`` line and exits 2. The trainers stand
alone (they talk to ``tune`` through the trial contract only), so they have their own base class
and their own did-you-mean helper rather than :mod:`tuner.errors`'.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TrainerError(Exception):
    """Base class of the stand-alone trainers' user errors: the message says what is wrong and where."""


class TrainConfigError(TrainerError):
    """A config section has an unknown, missing or ill-typed key, or an unknown ``type``."""


class DataError(TrainConfigError):
    """A data file is missing, unreadable or inconsistent with the training data."""


def did_you_mean(word: object, options: Iterable[object], *, sentence: bool = False) -> str:
    """A hint naming the option closest to ``word``, or ``""`` when none is close.

    `` (did you mean 'x'?)`` to follow a name; with ``sentence``, `` Did you mean 'x'?`` to follow a full stop.
    """
    matches = difflib.get_close_matches(str(word), [str(option) for option in options], n=1)
    if not matches:
        return ""
    return f" Did you mean '{matches[0]}'?" if sentence else f" (did you mean '{matches[0]}'?)"
