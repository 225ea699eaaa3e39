"""``python -m tuner.train.check CONFIG.json ...``: check rendered configs as the trainer would, without training.

``tune``'s pre-flight runs this once, in a trial's environment, on the configs it rendered at the
corners of the search space: unknown keys, a ``cuda_device`` that is not there and unreadable
data are then one error before any trial, not the same crash in every trial. Data at a URL
is downloaded into the cache here, once.

Prints one JSON object on stdout: ``{"notes": [...]}`` when every config passes, else
``{"error": message, "index": i}`` for the first that does not (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tuner.train.cli import EXIT_OK, EXIT_USAGE, _include


def main(argv: list[str] | None = None) -> int:
    """Check each config in order; the exit status is 0 when all pass, 2 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m tuner.train.check", description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path, help="rendered configs (JSON)")
    parser.add_argument("--include-package", action="append", default=[], metavar="MODULE")
    args = parser.parse_args(argv)
    from tuner.train.errors import TrainConfigError
    from tuner.train.pipeline import check

    notes: list[str] = []
    index = 0
    try:
        _include(args.include_package)
        for index, path in enumerate(args.configs):
            for note in check(json.loads(path.read_text(encoding="utf-8"))):
                if note not in notes:
                    notes.append(note)
    except TrainConfigError as error:
        print(json.dumps({"error": str(error), "index": index}))
        return EXIT_USAGE
    print(json.dumps({"notes": notes}))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
