"""Errors of the PyKEEN trainer that a user can cause; its CLI prints them as one line and exits 2."""

from __future__ import annotations

from tuner.train.errors import TrainConfigError, TrainerError

INSTALL_HINT = "pip install 'tuner[pykeen]'"


class PykeenConfigError(TrainConfigError):
    """A config key is unknown, ill-typed, or names a PyKEEN component that does not exist."""


class PykeenMissingError(TrainerError):
    """PyKEEN is not installed in the trainer's environment."""

    def __init__(self) -> None:
        super().__init__(f"PyKEEN is not installed; install it with: {INSTALL_HINT}")
