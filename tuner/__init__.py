"""tuner: hyper-parameter tuning of Jsonnet-configured PyTorch training with Optuna.

Public API: :func:`tune`, :func:`tune_from_config`, :func:`tune_from_path`, :class:`TuneResult`,
:func:`report`, :func:`retrain`, :func:`compare` and the error classes. Importing this package stays
cheap (trainers import :func:`report` from here), so the Optuna side is loaded only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuner import _aliases
from tuner.contract import report
from tuner.errors import ConfigError, OptionError, SearchSpaceError, StudyError, TunerError

if TYPE_CHECKING:
    from tuner.analysis.retrain import compare, retrain
    from tuner.api import TuneResult, tune, tune_from_config, tune_from_path

__all__ = [
    "ConfigError",
    "OptionError",
    "SearchSpaceError",
    "StudyError",
    "TuneResult",
    "TunerError",
    "compare",
    "report",
    "retrain",
    "tune",
    "tune_from_config",
    "tune_from_path",
]
__version__ = "0.1.0"

_LAZY = {
    "tune": "tuner.api",
    "tune_from_config": "tuner.api",
    "tune_from_path": "tuner.api",
    "TuneResult": "tuner.api",
    "retrain": "tuner.analysis.retrain",
    "compare": "tuner.analysis.retrain",
}
_aliases.install()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
