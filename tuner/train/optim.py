"""Optimizers and learning-rate schedulers by name: any ``torch.optim`` class, kwargs checked.

Names are matched case-insensitively and without underscores (``sgd``, ``adamw``,
``step_lr``); a few AllenNLP scheduler names are accepted as aliases.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from tuner.train.errors import TrainConfigError
from tuner.train.section import Section, unknown_name_message

SCHEDULER_ALIASES = {
    "reduceonplateau": "ReduceLROnPlateau",
    "step": "StepLR",
    "multistep": "MultiStepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
}


@dataclass
class ComponentSpec:
    """A validated ``torch`` class plus the keyword arguments from its config section."""

    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    def build(self, *args: Any) -> Any:
        """Instantiate; torch's own value checks become config errors."""
        try:
            return self.cls(*args, **self.kwargs)
        except (ValueError, TypeError) as error:
            raise TrainConfigError(f"{self.where}: {self.cls.__name__} rejected its arguments: {error}") from None


def optimizer_spec(cfg: Section) -> ComponentSpec:
    """Parse ``trainer.optimizer`` into a class of ``torch.optim`` and its kwargs."""
    classes = {
        _key(name): cls
        for name, cls in vars(torch.optim).items()
        if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer
    }
    return _spec(cfg, classes, skip=("params",))


def scheduler_spec(cfg: Section) -> ComponentSpec:
    """Parse ``trainer.learning_rate_scheduler`` into a ``torch.optim.lr_scheduler`` class and kwargs."""
    module = torch.optim.lr_scheduler
    base = getattr(module, "LRScheduler", getattr(module, "_LRScheduler", object))
    classes = {
        _key(name): cls
        for name, cls in vars(module).items()
        if inspect.isclass(cls)
        and not name.startswith("_")
        and (issubclass(cls, base) or cls is module.ReduceLROnPlateau)
        and cls is not base
    }
    for alias, name in SCHEDULER_ALIASES.items():
        classes.setdefault(alias, getattr(module, name))
    return _spec(cfg, classes, skip=("optimizer",))


def _spec(cfg: Section, classes: dict[str, type], *, skip: tuple[str, ...]) -> ComponentSpec:
    name = cfg.pop("type", str)
    cls = classes.get(_key(name))
    if cls is None:
        names = sorted({c.__name__ for c in classes.values()})
        raise TrainConfigError(unknown_name_message(cfg.key_path("type"), name, names))
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *skip)]
    kwargs = cfg.rest()
    for key in kwargs:
        if key not in accepted:
            raise TrainConfigError(
                f"{cfg.key_path(key)}: not an argument of torch's {cls.__name__} (arguments: {', '.join(accepted)})"
            )
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}  # betas=(0.9, 0.999)
    return ComponentSpec(cls, kwargs, cfg.path)


def trainable(parameters: Iterable[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """The parameters an optimizer should update."""
    return [p for p in parameters if p.requires_grad]


def _key(name: str) -> str:
    return name.lower().replace("_", "")
