"""Seq2vec encoders: ``(embedded (B, L, D), mask (B, L)) -> (B, output_dim)``, AllenNLP's semantics."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tuner.train.errors import TrainConfigError
from tuner.train.models.base import ACTIVATIONS, pop_activation, pop_positive
from tuner.train.section import Section


def _pop_input_dim(cfg: Section, key: str, embedding_dim: int) -> int:
    """The encoder's input size must match the embedder's; it may be omitted."""
    value = cfg.pop(key, int, embedding_dim)
    if value != embedding_dim:
        raise TrainConfigError(
            f"{cfg.key_path(key)}: {value} does not match the token embedder's embedding_dim {embedding_dim}"
        )
    return value


class BagOfEmbeddingsEncoder(nn.Module):
    """Sum (or average, ``averaged: true``) of the unpadded embeddings."""

    def __init__(self, embedding_dim: int, averaged: bool = False) -> None:
        super().__init__()
        self.output_dim = embedding_dim
        self.averaged = averaged

    @classmethod
    def from_config(cls, cfg: Section, *, embedding_dim: int) -> BagOfEmbeddingsEncoder:
        return cls(_pop_input_dim(cfg, "embedding_dim", embedding_dim), cfg.pop("averaged", bool, False))

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        summed = (embedded * mask.unsqueeze(-1)).sum(dim=1)
        if self.averaged:
            summed = summed / mask.sum(dim=1, keepdim=True).clamp(min=1)
        return summed


class CnnEncoder(nn.Module):
    """One 1-D convolution per n-gram size, max-pooled over time, concatenated, optionally projected."""

    def __init__(
        self,
        embedding_dim: int,
        num_filters: int,
        ngram_filter_sizes: tuple[int, ...] = (2, 3, 4, 5),
        activation: type[nn.Module] = nn.ReLU,
        output_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.convolutions = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, size) for size in ngram_filter_sizes)
        self.activation = activation()
        self.min_length = max(ngram_filter_sizes)
        pooled = num_filters * len(ngram_filter_sizes)
        self.projection = nn.Linear(pooled, output_dim) if output_dim else None
        self.output_dim = output_dim or pooled

    @classmethod
    def from_config(cls, cfg: Section, *, embedding_dim: int) -> CnnEncoder:
        sizes = cfg.pop_list("ngram_filter_sizes", int, [2, 3, 4, 5])
        if not sizes or min(sizes) < 1:
            raise TrainConfigError(
                f"{cfg.key_path('ngram_filter_sizes')}: needs one or more positive sizes, got {sizes}"
            )
        return cls(
            embedding_dim=_pop_input_dim(cfg, "embedding_dim", embedding_dim),
            num_filters=pop_positive(cfg, "num_filters"),
            ngram_filter_sizes=tuple(sizes),
            activation=pop_activation(cfg, "conv_layer_activation"),
            output_dim=cfg.pop("output_dim", int, None),
        )

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        tokens = (embedded * mask.unsqueeze(-1)).transpose(1, 2)
        if tokens.shape[-1] < self.min_length:  # a batch of short texts: pad so every filter fits
            tokens = F.pad(tokens, (0, self.min_length - tokens.shape[-1]))
        pooled = [self.activation(conv(tokens)).amax(dim=2) for conv in self.convolutions]
        features = torch.cat(pooled, dim=1) if len(pooled) > 1 else pooled[0]
        return self.projection(features) if self.projection is not None else features


class RnnEncoder(nn.Module):
    """Final hidden state of an LSTM/GRU over the unpadded tokens (both directions if bidirectional)."""

    def __init__(
        self,
        cell: type[nn.RNNBase],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.rnn = cell(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.is_lstm = cell is nn.LSTM
        self.output_dim = hidden_size * (2 if bidirectional else 1)

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        hidden = state[0] if self.is_lstm else state
        if self.rnn.bidirectional:
            return torch.cat([hidden[-2], hidden[-1]], dim=1)
        return hidden[-1]


def _build_rnn(cell: type[nn.RNNBase], cfg: Section, embedding_dim: int) -> RnnEncoder:
    from tuner.train.models.base import pop_dropout

    return RnnEncoder(
        cell,
        input_size=_pop_input_dim(cfg, "input_size", embedding_dim),
        hidden_size=pop_positive(cfg, "hidden_size"),
        num_layers=pop_positive(cfg, "num_layers", 1),
        bidirectional=cfg.pop("bidirectional", bool, False),
        dropout=pop_dropout(cfg),
    )


def build_lstm(cfg: Section, *, embedding_dim: int) -> RnnEncoder:
    """``lstm``: ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout``."""
    return _build_rnn(nn.LSTM, cfg, embedding_dim)


def build_gru(cfg: Section, *, embedding_dim: int) -> RnnEncoder:
    """``gru``: ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout``."""
    return _build_rnn(nn.GRU, cfg, embedding_dim)


__all__ = ["ACTIVATIONS", "BagOfEmbeddingsEncoder", "CnnEncoder", "RnnEncoder", "build_gru", "build_lstm"]
