"""A Lightning callback that reports each validated epoch to `tune`: ``Trainer(callbacks=[TunerCallback()])``.

An epoch is reported once, at its end (``on_train_epoch_end``, so the epoch's own training metrics such
as ``train_loss_epoch`` are there too), if a validation ran in it: never for the sanity check, only while
fitting, from global rank 0 only, and nothing when not run by `tune`. Uses ``lightning.pytorch`` when
installed, else the older ``pytorch_lightning``.
"""

from __future__ import annotations

from typing import Any

from tuner.contract import report

try:
    from lightning.pytorch import Callback
except ImportError:  # the package's former name
    from pytorch_lightning import Callback


class TunerCallback(Callback):
    """Writes ``{"epoch": trainer.current_epoch, <each scalar callback metric>: value}`` once per validated epoch.

    Also says which epoch is the last (``max_epochs - 1``) so that `tune` never prunes there.
    """

    def __init__(self) -> None:
        self._validated = False  # a real validation ran in this epoch, not yet reported

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":  # a str enum
            self._validated = True

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._report(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._report(trainer)  # a run that stopped in the middle of an epoch (max_steps) after validating

    def _report(self, trainer: Any) -> None:
        if self._validated and trainer.is_global_zero:
            report(trainer.current_epoch, last_epoch=_last_epoch(trainer), **scalar_metrics(trainer.callback_metrics))
        self._validated = False


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The one-element tensors and plain numbers of Lightning's ``callback_metrics``, as floats."""
    scalars = {}
    for name, value in metrics.items():
        if hasattr(value, "numel") and value.numel() == 1:
            scalars[name] = float(value.item())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[name] = float(value)
    return scalars


def _last_epoch(trainer: Any) -> int | None:
    """The epoch the run will end with, when only ``max_epochs`` limits it."""
    max_epochs = trainer.max_epochs
    if max_epochs is None or max_epochs < 1 or (trainer.max_steps or -1) != -1:
        return None
    return max_epochs - 1
