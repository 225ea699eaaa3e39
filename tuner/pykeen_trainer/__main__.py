"""Entry point: run one PyKEEN pipeline, then leave without interpreter teardown."""

from __future__ import annotations

import os
import sys

from tuner.pykeen_trainer.cli import main

if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The run's files are written atomically and closed; teardown after torch+PyKEEN only costs time.
    os._exit(code)
