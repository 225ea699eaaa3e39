"""Shared by dense-feature readers: float tensors, optional standardization."""

from __future__ import annotations

import torch

from tuner.train.readers.base import DatasetReader, RawSplit
from tuner.train.readers.vocabulary import Vocabulary

FEATURES = "features"


class FeatureReader(DatasetReader):
    """A reader whose inputs are one float array per example (rows or images).

    Args:
        standardize: Scale each feature to zero mean, unit variance using training statistics.
    """

    def __init__(self, *, standardize: bool = True) -> None:
        self.standardize = standardize
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    def fit(self, train: RawSplit) -> None:
        if self.standardize:
            values = torch.as_tensor(train.inputs, dtype=torch.float32)
            self._mean = values.mean(dim=0)
            std = values.std(dim=0, unbiased=False)
            self._std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant pixels stay 0

    def tensorize(self, split: RawSplit, vocab: Vocabulary) -> dict[str, torch.Tensor]:
        values = torch.as_tensor(split.inputs, dtype=torch.float32)
        if self._mean is not None and self._std is not None:
            values = (values - self._mean) / self._std
        return {FEATURES: values.contiguous()}
