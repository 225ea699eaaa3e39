"""The model interface the training loop relies on."""

from __future__ import annotations

import torch
from torch import nn

from tuner.train.section import Section

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


class Model(nn.Module):
    """Base of the built-in classifiers.

    ``forward`` takes the batch's input tensors by name and returns logits of shape
    ``(batch, num_labels)``; the loop computes cross-entropy loss and accuracy. A
    model may override :meth:`get_metrics` to report more metrics per epoch.
    """

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_metrics(self, reset: bool = False) -> dict[str, float]:
        """Extra metrics accumulated since the last reset (none by default)."""
        return {}


def pop_activation(cfg: Section, key: str = "activation", default: str = "relu") -> type[nn.Module]:
    """Pop an activation name and return its module class."""
    return ACTIVATIONS[cfg.pop_choice(key, sorted(ACTIVATIONS), default)]


def pop_dropout(cfg: Section, key: str = "dropout") -> float:
    """Pop a dropout probability in [0, 1)."""
    from tuner.train.errors import TrainConfigError

    value = cfg.pop(key, float, 0.0)
    if not 0.0 <= value < 1.0:
        raise TrainConfigError(f"{cfg.key_path(key)}: must be in [0, 1), got {value}")
    return value


def pop_positive(cfg: Section, key: str, default: int | None = None) -> int:
    """Pop a strictly positive integer."""
    from tuner.train.errors import TrainConfigError

    value = cfg.pop(key, int) if default is None else cfg.pop(key, int, default)
    if value <= 0:
        raise TrainConfigError(f"{cfg.key_path(key)}: must be a positive integer, got {value}")
    return value
