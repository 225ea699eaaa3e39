"""Tokenizers for text readers (``dataset_reader.tokenizer``)."""

from __future__ import annotations

from tuner.train.section import Section


class WhitespaceTokenizer:
    """Split on runs of whitespace, as AllenNLP's ``whitespace`` tokenizer."""

    @classmethod
    def from_config(cls, cfg: Section) -> WhitespaceTokenizer:
        return cls()

    def tokenize(self, text: str) -> list[str]:
        return text.split()


class CharacterTokenizer:
    """One token per character (whitespace dropped)."""

    @classmethod
    def from_config(cls, cfg: Section) -> CharacterTokenizer:
        return cls()

    def tokenize(self, text: str) -> list[str]:
        return [c for c in text if not c.isspace()]
