"""Hugging Face ``log_history`` as epoch lines, shared by the callback and ``--metrics-from hf``.

No import of transformers: ``tune`` reads ``trainer_state.json`` files with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tuner.contract import EPOCH_KEY

EVALUATION_PREFIX = "eval_"  # Trainer.evaluate's default metric_key_prefix
_NOT_METRICS = (EPOCH_KEY, "step", "total_flos")


def is_evaluation(entry: Any) -> bool:
    """Whether a ``log_history`` entry holds an evaluation's metrics (``eval_loss``, ...)."""
    return isinstance(entry, Mapping) and any(str(key).startswith(EVALUATION_PREFIX) for key in entry)


def scalar_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """The plain numbers of ``values`` under their own names; HF's float ``epoch`` and ``step`` left out."""
    return {
        str(name): value
        for name, value in values.items()
        if name not in _NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def evaluation_epochs(log_history: Iterable[Any]) -> list[dict[str, Any]]:
    """One line per evaluation: the n-th global step with an evaluation is epoch n - 1.

    With ``eval_strategy="epoch"``, HF's epoch 1.0 is epoch 0, as in the built-in trainer and Lightning.
    Evaluations at the same step (several eval datasets, an ``evaluate()`` after training) merge into one.
    """
    by_step: dict[Any, dict[str, Any]] = {}
    for entry in log_history:
        if is_evaluation(entry):
            by_step.setdefault(entry.get("step"), {}).update(scalar_metrics(entry))
    return [{EPOCH_KEY: index, **metrics} for index, metrics in enumerate(by_step.values())]
