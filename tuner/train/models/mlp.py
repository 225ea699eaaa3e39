"""``mlp``: a feed-forward classifier over flattened dense features (tabular data)."""

from __future__ import annotations

import math

import torch
from torch import nn

from tuner.train.models.base import Model, pop_activation, pop_dropout, pop_positive
from tuner.train.readers.base import DataInfo
from tuner.train.section import Section


class MlpClassifier(Model):
    """Linear → activation → dropout per hidden layer, then a linear output.

    Args:
        input_dim: Number of input features (inputs are flattened).
        hidden_dims: Width of each hidden layer (may be empty: logistic regression).
        num_labels: Number of classes.
        activation: Activation module class.
        dropout: Dropout after each hidden layer.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        hidden_dims: list[int],
        num_labels: int,
        activation: type[nn.Module] = nn.ReLU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = input_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), activation(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_labels))
        self.layers = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, cfg: Section, *, info: DataInfo) -> MlpClassifier:
        if "hidden_dims" in cfg:
            hidden = cfg.pop_list("hidden_dims", int)
        else:
            hidden = [pop_positive(cfg, "hidden_dim", 128)] * cfg.pop("num_layers", int, 1)
        return cls(
            input_dim=math.prod(info.input_shape),
            hidden_dims=hidden,
            num_labels=info.num_labels,
            activation=pop_activation(cfg),
            dropout=pop_dropout(cfg),
        )

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.layers(inputs["features"])
