"""The trainers' ``"+accuracy"`` / ``"-loss"`` validation metric: a name and whether higher is better.

``tune`` reads the same convention from a config with :func:`tuner.study.objective.parse_signed_metric`;
the trainers keep their own reading here because they stand alone (they share only the trial contract
with ``tune``). This module imports nothing heavy, so :mod:`tuner.pykeen_trainer` uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuner.train.errors import TrainConfigError


def signed_metric(value: Any) -> tuple[str, bool] | None:
    """``"+accuracy"`` -> ``("accuracy", True)`` (higher is better), ``"-loss"`` -> ``("loss", False)``; else None."""
    if not isinstance(value, str) or len(value) < 2 or value[0] not in "+-":
        return None
    return value[1:], value[0] == "+"


@dataclass(frozen=True)
class ValidationMetric:
    """``"+accuracy"``: the metric ``accuracy``, higher is better."""

    name: str
    higher_is_better: bool

    @classmethod
    def parse(cls, text: str, where: str) -> ValidationMetric:
        signed = signed_metric(text)
        if signed is None:
            raise TrainConfigError(f"{where}: expected '+name' or '-name' (e.g. '+accuracy', '-loss'), got {text!r}")
        return cls(*signed)

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` improves on ``best`` (None: nothing yet)."""
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best
