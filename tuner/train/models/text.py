"""``basic_classifier``: embed tokens, encode to a vector, dropout, linear (AllenNLP's)."""

from __future__ import annotations

import torch
from torch import nn

from tuner.train.errors import TrainConfigError
from tuner.train.models.base import Model, pop_dropout, pop_positive
from tuner.train.readers.base import DataInfo
from tuner.train.registry import SEQ2VEC_ENCODERS
from tuner.train.section import Section


class BasicClassifier(Model):
    """Text classifier over the ``tokens`` input (padding id 0).

    Args:
        vocab_size: Number of token ids, padding and OOV included.
        embedding_dim: Size of the token embeddings.
        encoder: A seq2vec encoder with an ``output_dim`` attribute.
        num_labels: Number of classes.
        dropout: Dropout on the encoded vector.
        trainable_embeddings: Whether embeddings are updated.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        embedding_dim: int,
        encoder: nn.Module,
        num_labels: int,
        dropout: float = 0.0,
        trainable_embeddings: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(trainable_embeddings)
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.output = nn.Linear(encoder.output_dim, num_labels)

    @classmethod
    def from_config(cls, cfg: Section, *, info: DataInfo) -> BasicClassifier:
        if info.vocab.size("tokens") == 0:
            raise TrainConfigError(f"{cfg.key_path('type')}: basic_classifier needs a text dataset_reader (no tokens)")
        embedders = cfg.pop_section("text_field_embedder").pop_section("token_embedders")
        tokens = embedders.pop_section("tokens")
        embedders.assert_empty()
        tokens.pop_choice("type", ["embedding"], "embedding")
        embedding_dim = pop_positive(tokens, "embedding_dim")
        trainable = tokens.pop("trainable", bool, True)
        tokens.assert_empty()
        encoder = SEQ2VEC_ENCODERS.build(cfg.pop_section("seq2vec_encoder"), embedding_dim=embedding_dim)
        return cls(
            vocab_size=info.vocab.size("tokens"),
            embedding_dim=embedding_dim,
            encoder=encoder,
            num_labels=info.num_labels,
            dropout=pop_dropout(cfg),
            trainable_embeddings=trainable,
        )

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = inputs["tokens"]
        mask = tokens != 0
        return self.output(self.dropout(self.encoder(self.embedding(tokens), mask)))
