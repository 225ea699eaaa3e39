"""Errors a user can cause. The CLI prints their message as one line and exits 2."""

from __future__ import annotations


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
