"""``stalling_classifier``: the basic classifier, which stops for good at a chosen training step.

Imported with ``--include-package tests.train.stalling_model``. With ``TEST_STALL_AT_STEP=N`` in the
environment its N-th training forward never returns, so a test can kill the run at a known point (after
the epochs before it, their lines and their checkpoints are written) instead of racing a fast run.
Numerically it is the basic classifier: runs with and without the variable train the same model.
"""

from __future__ import annotations

import os
import threading

import torch

from tuner.train import MODELS
from tuner.train.readers.base import DataInfo
from tuner.train.section import Section

STALL_ENV = "TEST_STALL_AT_STEP"


class StallingClassifier(torch.nn.Module):
    """Delegates to ``inner``; the ``stall_at``-th training forward blocks forever (0: never)."""

    def __init__(self, inner: torch.nn.Module, stall_at: int) -> None:
        super().__init__()
        self.inner = inner
        self.stall_at = stall_at
        self.steps = 0

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.training:
            self.steps += 1
            if self.steps == self.stall_at:
                threading.Event().wait()  # until the test kills the process
        return self.inner(inputs)

    def get_metrics(self, reset: bool = False) -> dict[str, float]:
        return self.inner.get_metrics(reset)


@MODELS.register("stalling_classifier")
def build(cfg: Section, info: DataInfo) -> StallingClassifier:
    inner = MODELS.build(Section({**cfg.rest(), "type": "basic_classifier"}, cfg.path), info=info)
    return StallingClassifier(inner, int(os.environ.get(STALL_ENV, "0")))
