"""The ``trainer`` section, parsed and checked before any data is read."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tuner.train.errors import TrainConfigError
from tuner.train.metric import ValidationMetric
from tuner.train.optim import ComponentSpec, optimizer_spec, scheduler_spec
from tuner.train.section import Section, unknown_name_message

# AllenNLP's Optuna pruning callback: accepted so that the tutorial's configs run unchanged.
ACCEPTED_CALLBACKS = ("optuna_pruner",)


@dataclass(frozen=True)
class TrainerSettings:
    """Everything the loop needs besides the model and the data."""

    num_epochs: int
    optimizer: ComponentSpec
    scheduler: ComponentSpec | None
    patience: int | None
    validation_metric: ValidationMetric
    grad_norm: float | None
    grad_clipping: float | None
    device: torch.device
    use_amp: bool
    num_threads: int | None
    notes: tuple[str, ...] = ()  # one line each, for the user: config that is accepted but has no effect

    @classmethod
    def from_config(cls, cfg: Section) -> TrainerSettings:
        num_epochs = cfg.pop("num_epochs", int, 20)
        if num_epochs <= 0:
            raise TrainConfigError(f"{cfg.key_path('num_epochs')}: must be a positive integer, got {num_epochs}")
        patience = cfg.pop("patience", int, None)
        if patience is not None and patience <= 0:
            raise TrainConfigError(f"{cfg.key_path('patience')}: must be a positive integer or null, got {patience}")
        optimizer = optimizer_spec(cfg.pop_section("optimizer", {"type": "adam"}))
        scheduler_cfg = cfg.pop("learning_rate_scheduler", dict, None)
        scheduler = (
            scheduler_spec(Section(scheduler_cfg, cfg.key_path("learning_rate_scheduler"))) if scheduler_cfg else None
        )
        metric = ValidationMetric.parse(cfg.pop("validation_metric", str, "-loss"), cfg.key_path("validation_metric"))
        device = _device(cfg.pop("cuda_device", int, None), cfg.key_path("cuda_device"))
        settings = cls(
            num_epochs=num_epochs,
            optimizer=optimizer,
            scheduler=scheduler,
            patience=patience,
            validation_metric=metric,
            grad_norm=_positive_or_none(cfg, "grad_norm"),
            grad_clipping=_positive_or_none(cfg, "grad_clipping"),
            device=device,
            use_amp=cfg.pop("use_amp", bool, False) and device.type == "cuda",  # AMP only pays off on GPUs
            num_threads=cfg.pop("num_threads", int, None),
            notes=_callback_notes(cfg),
        )
        cfg.assert_empty()
        return settings


def _callback_notes(cfg: Section) -> tuple[str, ...]:
    """Check ``trainer.callbacks``: only AllenNLP's ``optuna_pruner``, which tune makes unnecessary."""
    callbacks = cfg.pop_list("callbacks", dict, None) or []
    for index, callback in enumerate(callbacks):
        where = f"{cfg.key_path('callbacks')}[{index}]"
        name = callback.get("type")
        if name not in ACCEPTED_CALLBACKS:
            raise TrainConfigError(
                unknown_name_message(where, name, list(ACCEPTED_CALLBACKS))
                + " (the built-in trainer runs no callbacks)"
            )
        leftover = sorted(set(callback) - {"type"})
        if leftover:
            raise TrainConfigError(f"{where}: unknown key {', '.join(map(repr, leftover))}; allowed here: type")
    if not callbacks:
        return ()
    return (f"{cfg.key_path('callbacks')}: 'optuna_pruner' is not needed and is ignored: tune prunes trials by itself",)


def _positive_or_none(cfg: Section, key: str) -> float | None:
    value = cfg.pop(key, float, None)
    if value is not None and value <= 0:
        raise TrainConfigError(f"{cfg.key_path(key)}: must be positive or null, got {value}")
    return value


def _device(index: int | None, where: str) -> torch.device:
    """``None``: the first GPU if one is visible, else CPU; ``-1``: CPU; ``n``: GPU ``n``."""
    available = torch.cuda.is_available()
    if index is None:
        return torch.device("cuda", 0) if available else torch.device("cpu")
    if index < 0:
        return torch.device("cpu")
    count = torch.cuda.device_count() if available else 0
    if index >= count:
        raise TrainConfigError(
            f"{where}: GPU {index} requested but {count} visible; use -1 for CPU or null for automatic"
        )
    return torch.device("cuda", index)
