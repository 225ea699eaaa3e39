"""The training loop: epochs, validation, early stopping, best-epoch bookkeeping."""

from __future__ import annotations

import contextlib
import datetime
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from tuner.train.distributed import Distributed
from tuner.train.loader import BatchLoader
from tuner.train.models.base import Model
from tuner.train.settings import TrainerSettings


class TrainingError(Exception):
    """Training cannot go on (the loss became NaN or infinite)."""


@dataclass
class Progress:
    """The loop's state between epochs: with the components' state, all a checkpoint must restore.

    ``last`` is the last epoch's metrics and ``best`` the best epoch's validation metrics: what the final
    metrics need. ``seconds`` counts the training time of earlier launches (a resumed run adds to it).
    """

    next_epoch: int = 0
    best_value: float | None = None
    best_epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    stopped: bool = False
    last: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def done(self, num_epochs: int) -> bool:
        """Whether no epoch is left: all ran, or early stopping ended the run."""
        return self.stopped or self.next_epoch >= num_epochs


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
        on_checkpoint: Called with the progress at the end of every epoch, before ``on_epoch``, so that
            an epoch is reported only once its checkpoint exists.
        distributed: The torchrun job, None when training alone.
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
        on_checkpoint: Callable[[Progress], None] | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.train_loader = train_loader
        self.validation_loader = validation_loader
        self.on_epoch = on_epoch
        self.on_best = on_best
        self.log = log
        self.on_checkpoint = on_checkpoint
        self.distributed = distributed
        # Training steps go through DDP (gradients averaged across ranks); evaluation uses the bare model,
        # which needs no collective, so ranks may hold different numbers of validation batches.
        self.network = distributed.wrap(model, settings.device) if distributed else model
        self.optimizer = settings.optimizer.build([p for p in model.parameters() if p.requires_grad])
        self.scheduler = settings.scheduler.build(self.optimizer) if settings.scheduler else None
        self.scaler = torch.amp.GradScaler("cuda") if settings.use_amp else None

    def train(self, progress: Progress | None = None) -> dict[str, Any]:
        """Run the epochs left in ``progress`` (all of them when None) and return AllenNLP-style final metrics."""
        progress = progress or Progress()
        started = time.perf_counter()
        start_epoch, seconds_before = progress.next_epoch, progress.seconds
        while not progress.done(self.settings.num_epochs):
            epoch = progress.next_epoch
            metrics = self._run_epoch(epoch)
            value = self._record(progress, epoch, metrics)
            self._step_scheduler(value)
            progress.seconds = seconds_before + time.perf_counter() - started
            if self.on_checkpoint is not None:
                self.on_checkpoint(progress)
            self.on_epoch(epoch, metrics)
            shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            self.log(f"epoch {epoch + 1}/{self.settings.num_epochs} {shown}")
            if progress.stopped:
                name = self.settings.validation_metric.name
                self.log(f"early stopping: no improvement of {name} for {progress.stale} epochs")
        progress.seconds = seconds_before + time.perf_counter() - started
        return self._final(progress, start_epoch)

    def _record(self, progress: Progress, epoch: int, metrics: dict[str, float]) -> float:
        """Book one epoch: best so far, patience; returns the selection metric's value."""
        prefix = "validation_" if self.validation_loader is not None else "training_"
        selector = self.settings.validation_metric
        value = metrics[prefix + selector.name]
        if selector.better(value, progress.best_value):
            progress.best_value, progress.best_epoch, progress.stale = value, epoch, 0
            progress.best = {k: v for k, v in metrics.items() if k.startswith("validation_")}
            self.on_best(epoch)
        else:
            progress.stale += 1
        progress.next_epoch, progress.last = epoch + 1, metrics
        progress.stopped = self.settings.patience is not None and progress.stale >= self.settings.patience
        return value

    def _final(self, progress: Progress, start_epoch: int) -> dict[str, Any]:
        final: dict[str, Any] = {
            "best_epoch": progress.best_epoch,
            "training_duration": str(datetime.timedelta(seconds=progress.seconds)),
            "training_duration_seconds": progress.seconds,
            "training_start_epoch": start_epoch,
            "training_epochs": progress.next_epoch,
            "epoch": progress.next_epoch - 1,
            **progress.last,
            **{f"best_{k}": v for k, v in progress.best.items()},
            "param_count": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
        }
        device = self.settings.device
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) / 2**20
            final["peak_gpu_memory_mb"] = self.distributed.maximum(peak, device) if self.distributed else peak
        return final

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
        return metrics

    def _pass(self, loader: BatchLoader, phase: str, *, train: bool) -> dict[str, float]:
        """One pass over ``loader``; sums stay on the device so no step waits on a sync.

        Under DDP the sums and counts of all ranks are added up, so every rank gets the metrics of the
        whole split (accuracy exactly; the loss up to the order of float additions).
        """
        self.model.train(train)
        device = self.settings.device
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        count = 0
        for inputs, labels, weight, counted in loader.shard_batches(training=train):
            loss, logits = (
                self._train_step(inputs, labels, weight) if train else self._forward(self.model, inputs, labels)
            )
            if counted:
                loss_sum += loss.detach() * counted
                correct += (logits.detach().argmax(dim=-1) == labels).sum()
                count += counted
        if self.distributed is not None:
            total_loss, total_correct, count = self.distributed.sum_counts(loss_sum, correct, count)
        else:
            total_loss, total_correct = loss_sum.item(), correct.item()
        metrics = {
            f"{phase}_loss": total_loss / max(count, 1),
            f"{phase}_accuracy": total_correct / max(count, 1),
        }
        metrics.update({f"{phase}_{k}": float(v) for k, v in self.model.get_metrics(reset=True).items()})
        return metrics

    def _forward(
        self, network: torch.nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context = torch.autocast("cuda", dtype=torch.float16) if self.settings.use_amp else contextlib.nullcontext()
        with context:
            logits = network(inputs)
            return F.cross_entropy(logits.float(), labels), logits

    def _train_step(
        self, inputs: dict[str, torch.Tensor], labels: torch.Tensor, weight: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, logits = self._forward(self.network, inputs, labels)
        # Alone, weight is 1 and untouched; under DDP it makes the ranks' average the whole batch's mean.
        objective = loss * weight if self.distributed is not None else loss
        if self.scaler is not None:
            self.scaler.scale(objective).backward()
            self.scaler.unscale_(self.optimizer)
            self._clip()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            objective.backward()
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
