"""``cnn``: a small convolutional classifier for 2-D inputs such as sklearn's 8×8 digits."""

from __future__ import annotations

import torch
from torch import nn

from tuner.train.errors import TrainConfigError
from tuner.train.models.base import Model, pop_activation, pop_dropout, pop_positive
from tuner.train.readers.base import DataInfo
from tuner.train.section import Section


class ImageCnnClassifier(Model):
    """Conv → activation → 2×2 max-pool per entry of ``channels``, then an MLP head.

    Args:
        input_shape: ``(H, W)`` or ``(C, H, W)`` of one example.
        channels: Output channels of each convolution block.
        kernel_size: Convolution kernel size (same padding).
        hidden_dim: Width of the hidden layer of the head (0: none).
        num_labels: Number of classes.
        activation: Activation module class.
        dropout: Dropout before each linear layer of the head.
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        channels: list[int],
        kernel_size: int,
        hidden_dim: int,
        num_labels: int,
        activation: type[nn.Module] = nn.ReLU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        first_channels = in_channels = 1 if len(input_shape) == 2 else input_shape[0]
        self.add_channel = len(input_shape) == 2
        blocks: list[nn.Module] = []
        size = min(input_shape[-2:])
        for out_channels in channels:
            blocks += [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), activation()]
            if size >= 2:
                blocks.append(nn.MaxPool2d(2))
                size //= 2
            in_channels = out_channels
        self.features = nn.Sequential(*blocks, nn.Flatten())
        with torch.no_grad():
            width = self.features(torch.zeros(1, first_channels, *input_shape[-2:])).shape[1]
        head: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_dim:
            head += [nn.Linear(width, hidden_dim), activation(), nn.Dropout(dropout)]
            width = hidden_dim
        self.head = nn.Sequential(*head, nn.Linear(width, num_labels))

    @classmethod
    def from_config(cls, cfg: Section, *, info: DataInfo) -> ImageCnnClassifier:
        if len(info.input_shape) not in (2, 3):
            raise TrainConfigError(
                f"{cfg.key_path('type')}: 'cnn' needs 2-D inputs (H, W) or (C, H, W), the data has shape "
                f"{info.input_shape}; "
                "use 'mlp' for flat features"
            )
        channels = cfg.pop_list("channels", int, [16, 32])
        if any(c <= 0 for c in channels):
            raise TrainConfigError(f"{cfg.key_path('channels')}: channel counts must be positive, got {channels}")
        return cls(
            input_shape=info.input_shape,
            channels=channels,
            kernel_size=pop_positive(cfg, "kernel_size", 3),
            hidden_dim=cfg.pop("hidden_dim", int, 64),
            num_labels=info.num_labels,
            activation=pop_activation(cfg),
            dropout=pop_dropout(cfg),
        )

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        images = inputs["features"]
        if self.add_channel:
            images = images.unsqueeze(1)
        return self.head(self.features(images))
