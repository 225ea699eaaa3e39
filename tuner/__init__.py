"""tuner: hyper-parameter tuning of Jsonnet-configured PyTorch training with Optuna.

Public API: :func:`tune`, :func:`tune_from_config`, :func:`tune_from_path`, :func:`report`
and :class:`TuneResult`. Importing this
package stays cheap (trainers import :func:`report` from here), so the Optuna
side is loaded only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuner.contract import report
from tuner.errors import ConfigError, OptionError, SearchSpaceError, StudyError, TunerError

if TYPE_CHECKING:
    from tuner.api import TuneResult, tune, tune_from_config, tune_from_path

__all__ = [
    "ConfigError",
    "OptionError",
    "SearchSpaceError",
    "StudyError",
    "TuneResult",
    "TunerError",
    "report",
    "tune",
    "tune_from_config",
    "tune_from_path",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("tune", "tune_from_config", "tune_from_path", "TuneResult"):
        from tuner import api

        return getattr(api, name)
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
