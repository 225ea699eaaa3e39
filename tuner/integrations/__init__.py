"""Callbacks that make a Lightning or Hugging Face ``Trainer`` report to `tune` (one line each).

``tuner.integrations.lightning.TunerCallback`` and ``tuner.integrations.transformers.TunerCallback``
import their framework when imported; neither framework is a dependency of ``tuner``
(``pip install 'tuner[lightning]'`` or ``'tuner[transformers]'``).
"""
