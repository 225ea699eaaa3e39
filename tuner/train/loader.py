"""Batches over a pre-tensorized split: index, trim padding, no per-example Python."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch

from tuner.train.errors import TrainConfigError
from tuner.train.readers.base import TensorData
from tuner.train.section import Section

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


class ShardBatch(NamedTuple):
    """This rank's part of one batch.

    ``weight`` scales the batch's mean loss so that DistributedDataParallel's average over ranks is the
    mean over the whole batch, whatever the parts' sizes; ``count`` is how many examples count towards
    metrics (0 for the stand-in example a rank trains on when its part of the last batch is empty).
    """

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    weight: float
    count: int


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
        generator: Random generator for shuffling (seeded by the caller, the same on every rank).
        shard: ``(rank, world_size)``: under DDP each rank takes every ``world_size``-th example of each
            batch, so that the ranks together see the batches one process would (``batch_size`` is global).
    """

    def __init__(
        self,
        data: TensorData,
        settings: LoaderSettings,
        generator: torch.Generator | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.data = data
        self.settings = settings
        self.generator = generator
        self.shard = shard

    def __len__(self) -> int:
        n, size = len(self.data), self.settings.batch_size
        return n // size if self.settings.drop_last else -(-n // size)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.shard_batches(training=False):
            yield batch.inputs, batch.labels

    def shard_batches(self, *, training: bool) -> Iterator[ShardBatch]:
        """This rank's part of every batch; in ``training`` every rank gets one part per batch.

        Every rank draws the same permutation (same generator state), so the parts never overlap.
        """
        n, size = len(self.data), self.settings.batch_size
        order = (
            torch.randperm(n, generator=self.generator).to(self.data.labels.device) if self.settings.shuffle else None
        )
        stop = n - n % size if self.settings.drop_last else n
        rank, world = self.shard
        for start in range(0, stop, size):
            end = min(start + size, n)
            if world == 1:
                inputs, labels = self._batch(start, end, order)
                yield ShardBatch(inputs, labels, 1.0, end - start)
                continue
            rows = order[start:end] if order is not None else torch.arange(start, end, device=self.data.labels.device)
            part = rows[rank::world]
            if len(part) == 0 and not training:
                continue
            # DDP needs every rank in every backward: a rank with nothing left trains on a stand-in, weighted 0.
            weight, count = (world * len(part) / len(rows), len(part)) if len(part) else (0.0, 0)
            inputs, labels = self._batch(0, len(part) or 1, part if len(part) else rows[:1])
            yield ShardBatch(inputs, labels, weight, count)

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
