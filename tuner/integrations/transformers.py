"""A Hugging Face callback that reports each evaluation to `tune`: ``Trainer(..., callbacks=[TunerCallback()])``.

Each evaluation during training is one epoch line, numbered as ``--metrics-from hf`` numbers the
entries of ``trainer_state.json`` (:func:`tuner.integrations.history.evaluation_epochs`): with
``eval_strategy="epoch"`` HF's epoch 1.0 is epoch 0. Every number of the evaluation's metrics is
reported under its own name (``eval_loss``, ``eval_accuracy``, ...); HF's float ``epoch`` is not.
Only the main process reports, and nothing is written when not run by `tune`.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

from tuner.contract import report
from tuner.integrations.history import evaluation_epochs, scalar_metrics


class TunerCallback(TrainerCallback):
    """Reports the metrics of each evaluation once; an ``evaluate()`` at a step already reported adds nothing."""

    def __init__(self) -> None:
        self._reported_step: int | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **_: Any) -> None:
        if not state.is_world_process_zero or state.global_step == self._reported_step:
            return
        self._reported_step = state.global_step
        epochs = evaluation_epochs(state.log_history)  # this evaluation is its last entry
        epoch = epochs[-1]["epoch"] if epochs else 0
        report(epoch, last_epoch=_last_epoch(args), **scalar_metrics(metrics or {}))


def _last_epoch(args: Any) -> int | None:
    """The last evaluation's epoch when the run evaluates once per epoch and only ``num_train_epochs`` limits it."""
    if getattr(args, "eval_strategy", None) != "epoch" or (args.max_steps or -1) > 0:  # a str enum
        return None
    return max(0, math.ceil(args.num_train_epochs) - 1)
