"""Batches over a pre-tensorized split: index, trim padding, no per-example Python."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from tuner.train.errors import TrainConfigError
from tuner.train.readers.base import TensorData
from tuner.train.section import Section

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LoaderSettings:
    """``data_loader`` section: ``batch_size``, ``shuffle``, ``drop_last``."""

    batch_size: int = 32
    shuffle: bool = True
    drop_last: bool = False

    @classmethod
    def from_config(cls, cfg: Section, *, shuffle: bool = True) -> LoaderSettings:
        size = cfg.pop("batch_size", int, 32)
        if size <= 0:
            raise TrainConfigError(f"{cfg.key_path('batch_size')}: must be a positive integer, got {size}")
        settings = cls(size, cfg.pop("shuffle", bool, shuffle), cfg.pop("drop_last", bool, False))
        cfg.assert_empty()
        return settings


class BatchLoader:
    """Iterate ``(inputs, labels)`` batches of ``data``, reshuffled each epoch.

    Args:
        data: The split, already on the training device.
        settings: Batch size and order.
        generator: Random generator for shuffling (seeded by the caller).
    """

    def __init__(self, data: TensorData, settings: LoaderSettings, generator: torch.Generator | None = None) -> None:
        self.data = data
        self.settings = settings
        self.generator = generator

    def __len__(self) -> int:
        n, size = len(self.data), self.settings.batch_size
        return n // size if self.settings.drop_last else -(-n // size)

    def __iter__(self) -> Iterator[Batch]:
        n, size = len(self.data), self.settings.batch_size
        order = (
            torch.randperm(n, generator=self.generator).to(self.data.labels.device) if self.settings.shuffle else None
        )
        stop = n - n % size if self.settings.drop_last else n
        for start in range(0, stop, size):
            yield self._batch(start, min(start + size, n), order)

    def _batch(self, start: int, end: int, order: torch.Tensor | None) -> Batch:
        data = self.data
        tensors = dict(data.inputs)
        index = None if order is None else order[start:end]
        if data.trim_key is not None and data.length_key is not None:
            lengths = tensors[data.length_key]
            lengths = lengths[start:end] if index is None else lengths.index_select(0, index)
            # Cut the padding before copying rows, so a batch of short texts stays cheap.
            tensors[data.trim_key] = tensors[data.trim_key][:, : int(lengths.max())]
        if index is None:  # contiguous slices are views: no copy at all
            return {k: v[start:end] for k, v in tensors.items()}, data.labels[start:end]
        return {k: v.index_select(0, index) for k, v in tensors.items()}, data.labels.index_select(0, index)
