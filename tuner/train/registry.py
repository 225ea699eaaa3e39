"""Closed, explicit registries mapping a config ``type`` to a builder.

Built-in components are registered by import path and imported only when a config
chooses them, so a digits run never imports the text models (nor scikit-learn a
text run). Users add components from their own module, loaded with
``--include-package my_module``::

    from tuner.train import MODELS

    @MODELS.register("my_model")
    def build_my_model(cfg, info):
        return MyModel(hidden=cfg.pop("hidden", int, 64), num_labels=info.num_labels)

A builder takes the component's :class:`~tuner.train.section.Section` (with ``type``
already removed) plus keyword context, pops the keys it knows and returns the
component; leftover keys are then reported by name. A registered class is built
through its ``from_config`` classmethod.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tuner.train.errors import TrainConfigError
from tuner.train.section import Section, unknown_name_message

Builder = Callable[..., Any]


class Registry:
    """Names to builders for one kind of component (models, readers, ...).

    Args:
        kind: What the registry holds, for messages ("model", "seq2vec encoder").
        default: The ``type`` used when a section omits it, if any.
    """

    def __init__(self, kind: str, default: str | None = None) -> None:
        self.kind = kind
        self.default = default
        self._builders: dict[str, Builder] = {}
        self._lazy: dict[str, str] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator registering a builder function, or a class with ``from_config``."""

        def decorate(component: Any) -> Any:
            if name in self._builders or name in self._lazy:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._builders[name] = _builder_of(component)
            return component

        return decorate

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``module:attribute``, imported the first time ``name`` is built."""
        self._lazy[name] = target

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted({*self._builders, *self._lazy})

    def resolve(self, name: str, where: str) -> Builder:
        """Return the builder for ``name``.

        Raises:
            TrainConfigError: ``name`` is not registered; lists the alternatives.
        """
        if name not in self._builders:
            if name not in self._lazy:
                raise TrainConfigError(unknown_name_message(where, name, self.names()))
            module_name, attribute = self._lazy.pop(name).split(":")
            self._builders[name] = _builder_of(getattr(importlib.import_module(module_name), attribute))
        return self._builders[name]

    def build(self, cfg: Section, **context: Any) -> Any:
        """Build the component ``cfg`` describes, then reject its unused keys."""
        name = cfg.pop("type", str, self.default)
        if name is None:
            raise TrainConfigError(f"{cfg.key_path('type')}: missing; choose one of {', '.join(self.names())}")
        component = self.resolve(name, cfg.key_path("type"))(cfg, **context)
        cfg.assert_empty()
        return component


def _builder_of(component: Any) -> Builder:
    return getattr(component, "from_config", component)


READERS = Registry("dataset reader")
READERS.register_lazy("text_classification_json", "tuner.train.readers.text:TextClassificationJsonReader")
READERS.register_lazy("tabular", "tuner.train.readers.tabular:TabularReader")
READERS.register_lazy("sklearn", "tuner.train.readers.sklearn_datasets:SklearnDatasetReader")

TOKENIZERS = Registry("tokenizer", default="whitespace")
TOKENIZERS.register_lazy("whitespace", "tuner.train.readers.tokenizers:WhitespaceTokenizer")
TOKENIZERS.register_lazy("character", "tuner.train.readers.tokenizers:CharacterTokenizer")

MODELS = Registry("model")
MODELS.register_lazy("basic_classifier", "tuner.train.models.text:BasicClassifier")
MODELS.register_lazy("mlp", "tuner.train.models.mlp:MlpClassifier")
MODELS.register_lazy("cnn", "tuner.train.models.image_cnn:ImageCnnClassifier")

SEQ2VEC_ENCODERS = Registry("seq2vec encoder")
SEQ2VEC_ENCODERS.register_lazy("boe", "tuner.train.models.encoders:BagOfEmbeddingsEncoder")
SEQ2VEC_ENCODERS.register_lazy("cnn", "tuner.train.models.encoders:CnnEncoder")
SEQ2VEC_ENCODERS.register_lazy("lstm", "tuner.train.models.encoders:build_lstm")
SEQ2VEC_ENCODERS.register_lazy("gru", "tuner.train.models.encoders:build_gru")
