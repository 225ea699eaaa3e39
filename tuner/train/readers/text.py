"""``text_classification_json``: JSON lines ``{"text": ..., "label": ...}`` (AllenNLP's IMDb files)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import torch

from tuner.train.errors import DataError
from tuner.train.readers import paths
from tuner.train.readers.base import DatasetReader, RawSplit
from tuner.train.readers.vocabulary import OOV_TOKEN, Vocabulary
from tuner.train.registry import TOKENIZERS
from tuner.train.section import Section

TOKENS = "tokens"


class TextClassificationJsonReader(DatasetReader):
    """Read whitespace-tokenized texts; token ids are padded once per split.

    Args:
        tokenizer: Object with ``tokenize(text) -> list[str]``.
        lowercase_tokens: Lowercase tokens before indexing (``token_indexers.tokens``).
        max_sequence_length: Truncate texts to this many tokens (None: keep all).
        text_key: JSON key holding the text.
        label_key: JSON key holding the label.
    """

    def __init__(
        self,
        *,
        tokenizer: Any,
        lowercase_tokens: bool = False,
        max_sequence_length: int | None = None,
        text_key: str = "text",
        label_key: str = "label",
    ) -> None:
        self.tokenizer = tokenizer
        self.lowercase_tokens = lowercase_tokens
        self.max_sequence_length = max_sequence_length
        self.text_key = text_key
        self.label_key = label_key

    @classmethod
    def from_config(cls, cfg: Section) -> TextClassificationJsonReader:
        tokenizer = TOKENIZERS.build(cfg.pop_section("tokenizer", {}))
        indexers = cfg.pop_section("token_indexers", {TOKENS: {"type": "single_id"}})
        tokens = indexers.pop_section(TOKENS, {"type": "single_id"})
        indexers.assert_empty()
        tokens.pop_choice("type", ["single_id"], "single_id")
        lowercase = tokens.pop("lowercase_tokens", bool, False)
        tokens.assert_empty()
        return cls(
            tokenizer=tokenizer,
            lowercase_tokens=lowercase,
            max_sequence_length=cfg.pop("max_sequence_length", int, None),
            text_key=cfg.pop("text_key", str, "text"),
            label_key=cfg.pop("label_key", str, "label"),
        )

    def read(self, path: str, where: str) -> RawSplit:
        texts: list[list[str]] = []
        labels: list[str] = []
        local = paths.resolve(path, where)
        with open(local, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                tokens, label = self._parse(line, f"{where}: {path} line {number}")
                texts.append(tokens)
                labels.append(label)
        if not texts:
            raise DataError(f"{where}: {path} holds no examples")
        return RawSplit(texts, labels, where)

    def _parse(self, line: str, where: str) -> tuple[list[str], str]:
        try:
            example = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(example, dict) or self.text_key not in example or self.label_key not in example:
            raise DataError(f"{where}: expected an object with '{self.text_key}' and '{self.label_key}'")
        tokens = self.tokenizer.tokenize(str(example[self.text_key]))
        if self.lowercase_tokens:
            tokens = [t.lower() for t in tokens]
        if self.max_sequence_length is not None:
            tokens = tokens[: self.max_sequence_length]
        return tokens, str(example[self.label_key])

    def count_tokens(self, split: RawSplit, counters: dict[str, Counter[str]]) -> None:
        counter = counters.setdefault(TOKENS, Counter())
        for tokens in split.inputs:
            counter.update(tokens)

    def tensorize(self, split: RawSplit, vocab: Vocabulary) -> dict[str, torch.Tensor]:
        index = vocab.index(TOKENS)
        oov = index[OOV_TOKEN]
        lengths = [max(len(tokens), 1) for tokens in split.inputs]
        # int32 halves memory; nn.Embedding accepts it. Padding id is 0.
        ids = torch.zeros(len(lengths), max(lengths), dtype=torch.int32)
        for row, tokens in enumerate(split.inputs):
            if tokens:
                ids[row, : len(tokens)] = torch.tensor([index.get(t, oov) for t in tokens], dtype=torch.int32)
        return {TOKENS: ids, "lengths": torch.tensor(lengths)}

    def trim_keys(self) -> tuple[str | None, str | None]:
        return TOKENS, "lengths"
