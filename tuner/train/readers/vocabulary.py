"""Token and label namespaces, AllenNLP style: padding 0 and OOV 1 in padded ones."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PADDING_TOKEN = "@@PADDING@@"
OOV_TOKEN = "@@UNKNOWN@@"
LABELS = "labels"


class Vocabulary:
    """Index ↔ string maps per namespace; namespaces other than ``labels`` are padded."""

    def __init__(self, namespaces: dict[str, list[str]]) -> None:
        self._tokens = {name: list(tokens) for name, tokens in namespaces.items()}
        self._index = {name: {token: i for i, token in enumerate(tokens)} for name, tokens in self._tokens.items()}

    @classmethod
    def from_counts(
        cls,
        counters: dict[str, Counter[str]],
        labels: list[str],
        *,
        min_count: dict[str, int] | None = None,
        max_vocab_size: dict[str, int] | None = None,
    ) -> Vocabulary:
        """Build from token counts (most frequent first, ties by first occurrence) and labels."""
        namespaces: dict[str, list[str]] = {}
        for name, counter in counters.items():
            floor = (min_count or {}).get(name, 1)
            kept = [token for token, count in counter.most_common() if count >= floor]
            cap = (max_vocab_size or {}).get(name)
            namespaces[name] = [PADDING_TOKEN, OOV_TOKEN, *(kept[:cap] if cap else kept)]
        namespaces[LABELS] = list(dict.fromkeys(labels))
        return cls(namespaces)

    def size(self, namespace: str) -> int:
        """Number of entries in ``namespace`` (0 when absent)."""
        return len(self._tokens.get(namespace, ()))

    def tokens(self, namespace: str) -> list[str]:
        """The strings of ``namespace`` in index order."""
        return list(self._tokens.get(namespace, ()))

    def index(self, namespace: str) -> dict[str, int]:
        """The string → index map of ``namespace``."""
        return self._index[namespace]

    def save(self, directory: Path) -> None:
        """Write one ``<namespace>.txt`` per namespace, one entry per line."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, tokens in self._tokens.items():
            (directory / f"{name}.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls({p.stem: p.read_text(encoding="utf-8").split("\n")[:-1] for p in sorted(directory.glob("*.txt"))})
