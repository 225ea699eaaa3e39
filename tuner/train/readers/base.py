"""What every dataset reader produces and the interface the pipeline calls."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuner.train.readers import paths

if TYPE_CHECKING:
    import torch

    from tuner.train.readers.vocabulary import Vocabulary


@dataclass
class RawSplit:
    """One split as read from its file, before indexing.

    Attributes:
        inputs: Reader-specific examples (token lists, feature rows, ...).
        labels: One label string per example.
        where: The config key the data came from (``train_data_path``), for messages.
    """

    inputs: Any
    labels: list[str]
    where: str


@dataclass
class TensorData:
    """A split as tensors, built once: ``inputs`` by name and integer ``labels``.

    ``trim_key``/``length_key`` name a padded sequence tensor and its lengths; the
    loader cuts each batch to its longest example so padding costs little.
    """

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    trim_key: str | None = None
    length_key: str | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device) -> TensorData:
        """Return a copy living on ``device``."""
        moved = {name: tensor.to(device) for name, tensor in self.inputs.items()}
        return TensorData(moved, self.labels.to(device), self.trim_key, self.length_key)


@dataclass
class DataInfo:
    """What a model builder may need to know about the data.

    Attributes:
        vocab: Token and label namespaces.
        num_labels: Number of classes.
        input_shape: Per-example shape of dense inputs (``(64,)``, ``(8, 8)``); ``()`` for text.
        extras: Anything else a reader wants to tell models.
    """

    vocab: Vocabulary
    num_labels: int
    input_shape: tuple[int, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)


class DatasetReader:
    """Base class: read a split, count tokens, fit statistics, tensorize."""

    def read(self, path: str, where: str) -> RawSplit:
        """Read the split at ``path`` (``where`` is its config key, for messages)."""
        raise NotImplementedError

    def check_path(self, path: str, where: str) -> None:
        """Check, without reading it, that ``path`` can be read (a URL is downloaded into the cache).

        Raises:
            DataError: It cannot.
        """
        paths.check_readable(path, where)

    def count_tokens(self, split: RawSplit, counters: dict[str, Counter[str]]) -> None:
        """Add this split's tokens to the per-namespace counters (text readers only)."""

    def fit(self, train: RawSplit) -> None:
        """Learn statistics (e.g. feature means) from the training split."""

    def tensorize(self, split: RawSplit, vocab: Vocabulary) -> dict[str, torch.Tensor]:
        """Return the split's inputs as tensors (labels are indexed by the pipeline)."""
        raise NotImplementedError

    def data_info(self, vocab: Vocabulary, train: TensorData) -> DataInfo:
        """Describe the data for model builders."""
        first = next(iter(train.inputs.values()))
        return DataInfo(vocab=vocab, num_labels=vocab.size("labels"), input_shape=tuple(first.shape[1:]))

    def trim_keys(self) -> tuple[str | None, str | None]:
        """Names of the padded sequence tensor and its lengths, if any."""
        return None, None
