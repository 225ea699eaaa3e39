"""The built-in trainer: ``python -m tuner.train CONFIG -s DIR``.

It reads AllenNLP-shaped Jsonnet configs, trains one model and writes the trial
contract's files (see :mod:`tuner.contract`). It talks to the tuner only through
those files and never imports Optuna. Components come from small registries;
add your own with ``--include-package`` (see :mod:`tuner.train.registry`).
"""

from __future__ import annotations

from tuner.train.errors import DataError, TrainConfigError, TrainerError
from tuner.train.registry import MODELS, READERS, SEQ2VEC_ENCODERS, TOKENIZERS, Registry
from tuner.train.section import Section

__all__ = [
    "MODELS",
    "READERS",
    "SEQ2VEC_ENCODERS",
    "TOKENIZERS",
    "DataError",
    "Registry",
    "Section",
    "TrainConfigError",
    "TrainerError",
]
