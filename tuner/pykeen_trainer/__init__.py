"""A trainer that runs one PyKEEN ``pipeline()`` per trial: ``python -m tuner.pykeen_trainer CONFIG -s DIR``.

Like :mod:`tuner.train`, it talks to ``tune`` only through files (the trial contract in
:mod:`tuner.contract`). PyKEEN is an optional extra (``pip install 'tuner[pykeen]'``) and is
imported only when a run starts, so importing this package stays cheap.
"""

from __future__ import annotations

from tuner.pykeen_trainer.errors import PykeenConfigError, PykeenMissingError

__all__ = ["PykeenConfigError", "PykeenMissingError"]
