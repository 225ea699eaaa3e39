"""``python -m tuner.pykeen_trainer CONFIG -s DIR``: one PyKEEN pipeline run, reported through the trial contract."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tuner.contract import ENV_METRICS_FILE
from tuner.train.errors import TrainerError

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The adapter's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m tuner.pykeen_trainer",
        description="Run one PyKEEN pipeline() from a JSON/Jsonnet config, reporting per-epoch validation metrics.",
    )
    parser.add_argument("config", type=Path, help="config file (.jsonnet, or rendered .json)")
    parser.add_argument("-s", "--serialization-dir", type=Path, required=True, help="folder for the run's files")
    # No --ext-var: `tune` hands trials rendered JSON; for a run by hand, Jsonnet ext vars come from the environment.
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the adapter; return the exit status (0 ok, 2 bad config or PyKEEN missing, 130 interrupted).

    A failure inside PyKEEN's training is left to raise: its traceback in the trial's log is
    what the user needs, and the exit status is 1.
    """
    args = build_parser().parse_args(argv)
    try:
        from tuner.pykeen_trainer.run import run
        from tuner.train.render import render_config_file

        config = render_config_file(args.config)
        metrics_file = os.environ.get(ENV_METRICS_FILE)
        run(config, args.serialization_dir, metrics_file=Path(metrics_file) if metrics_file else None)
    except TrainerError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; no metrics.json written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
