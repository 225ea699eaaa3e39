"""The training loop: epochs, validation, early stopping, best-epoch bookkeeping."""

from __future__ import annotations

import contextlib
import datetime
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from tuner.train.loader import BatchLoader
from tuner.train.models.base import Model
from tuner.train.settings import TrainerSettings


class TrainingError(Exception):
    """Training cannot go on (the loss became NaN or infinite)."""


class Trainer:
    """Train ``model`` for up to ``settings.num_epochs`` epochs.

    Args:
        model: Returns logits from a dict of input tensors.
        settings: The parsed ``trainer`` section.
        train_loader: Training batches.
        validation_loader: Validation batches, or None to select on training metrics.
        on_epoch: Called with ``(epoch, metrics)`` after every epoch.
        on_best: Called with the epoch whenever the validation metric improves.
        log: Called with one human-readable line per epoch.
    """

    def __init__(
        self,
        *,
        model: Model,
        settings: TrainerSettings,
        train_loader: BatchLoader,
        validation_loader: BatchLoader | None,
        on_epoch: Callable[[int, dict[str, float]], None],
        on_best: Callable[[int], None],
        log: Callable[[str], None],
    ) -> None:
        self.model = model
        self.settings = settings
        self.train_loader = train_loader
        self.validation_loader = validation_loader
        self.on_epoch = on_epoch
        self.on_best = on_best
        self.log = log
        self.optimizer = settings.optimizer.build([p for p in model.parameters() if p.requires_grad])
        self.scheduler = settings.scheduler.build(self.optimizer) if settings.scheduler else None
        self.scaler = torch.amp.GradScaler("cuda") if settings.use_amp else None

    def train(self) -> dict[str, Any]:
        """Run the epochs and return AllenNLP-style final metrics."""
        started = time.perf_counter()
        prefix = "validation_" if self.validation_loader is not None else "training_"
        selector = self.settings.validation_metric
        best_value: float | None = None
        best: dict[str, float] = {}
        best_epoch = 0
        stale = 0
        for epoch in range(self.settings.num_epochs):
            metrics = self._run_epoch(epoch)
            value = metrics[prefix + selector.name]
            if selector.better(value, best_value):
                best_value, best_epoch, stale = value, epoch, 0
                best = {k: v for k, v in metrics.items() if k.startswith("validation_")}
                self.on_best(epoch)
            else:
                stale += 1
            self._step_scheduler(value)
            if self.settings.patience is not None and stale >= self.settings.patience:
                self.log(f"early stopping: no improvement of {selector.name} for {stale} epochs")
                break
        duration = time.perf_counter() - started
        return {
            "best_epoch": best_epoch,
            "training_duration": str(datetime.timedelta(seconds=duration)),
            "training_duration_seconds": duration,
            "training_start_epoch": 0,
            "training_epochs": epoch + 1,
            "epoch": epoch,
            **metrics,
            **{f"best_{k}": v for k, v in best.items()},
        }

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        metrics = self._pass(self.train_loader, "training", train=True)
        if not math.isfinite(metrics["training_loss"]):
            self.on_epoch(epoch, metrics)
            raise TrainingError(
                f"training loss is {metrics['training_loss']} at epoch {epoch}; try a lower learning rate"
            )
        if self.validation_loader is not None:
            with torch.inference_mode():
                metrics.update(self._pass(self.validation_loader, "validation", train=False))
        if self.settings.validation_metric.name not in {k.split("_", 1)[1] for k in metrics}:
            available = sorted({k.split("_", 1)[1] for k in metrics})
            raise TrainingError(
                f"trainer.validation_metric: the model reports no '{self.settings.validation_metric.name}'"
                f" (available: {', '.join(available)})"
            )
        self.on_epoch(epoch, metrics)
        shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        self.log(f"epoch {epoch + 1}/{self.settings.num_epochs} {shown}")
        return metrics

    def _pass(self, loader: BatchLoader, phase: str, *, train: bool) -> dict[str, float]:
        """One pass over ``loader``; sums stay on the device so no step waits on a sync."""
        self.model.train(train)
        device = self.settings.device
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        count = 0
        step = self._train_step if train else self._forward
        for inputs, labels in loader:
            loss, logits = step(inputs, labels)
            loss_sum += loss.detach() * labels.shape[0]
            correct += (logits.detach().argmax(dim=-1) == labels).sum()
            count += labels.shape[0]
        metrics = {
            f"{phase}_loss": loss_sum.item() / max(count, 1),
            f"{phase}_accuracy": correct.item() / max(count, 1),
        }
        metrics.update({f"{phase}_{k}": float(v) for k, v in self.model.get_metrics(reset=True).items()})
        return metrics

    def _forward(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        context = torch.autocast("cuda", dtype=torch.float16) if self.settings.use_amp else contextlib.nullcontext()
        with context:
            logits = self.model(inputs)
            return F.cross_entropy(logits.float(), labels), logits

    def _train_step(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, logits = self._forward(inputs, labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            self._clip()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self._clip()
            self.optimizer.step()
        return loss, logits

    def _clip(self) -> None:
        if self.settings.grad_clipping is not None:
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.settings.grad_clipping)
        if self.settings.grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_norm)

    def _step_scheduler(self, value: float) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(value)
        else:
            self.scheduler.step()
