"""Errors of the built-in trainer that a user can cause (bad config, missing data).

The trainer's CLI prints their message as one ``error: ...`` line and exits 2.
"""

from __future__ import annotations

from tuner.errors import ConfigError


class TrainConfigError(ConfigError):
    """A config section has an unknown, missing or ill-typed key, or an unknown ``type``."""


class DataError(TrainConfigError):
    """A data file is missing, unreadable or inconsistent with the training data."""
