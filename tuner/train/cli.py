"""``python -m tuner.train CONFIG -s DIR``: one training run with fixed values."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from tuner.contract import ENV_METRICS_FILE, ENV_RESUME, is_resumed

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The trainer's argument parser (``tune train`` forwards the same arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m tuner.train",
        description="Train one model from an AllenNLP-style Jsonnet/JSON config.",
    )
    parser.add_argument("config", type=Path, help="config file (.jsonnet, or rendered .json)")
    parser.add_argument("-s", "--serialization-dir", type=Path, required=True, help="folder for the run's files")
    parser.add_argument(
        "--include-package",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first so its registered components can be used (repeatable)",
    )
    parser.add_argument(
        "--ext-var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Jsonnet external variable (repeatable); unset ones come from the environment",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"go on from the folder's checkpoint.pt if it has one (also when ${ENV_RESUME}=1); else start over",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the trainer; return the exit status (0 ok, 1 failed, 2 bad config, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    from tuner.train.errors import TrainConfigError
    from tuner.train.loop import TrainingError

    try:
        ext_vars = parse_ext_vars(args.ext_var)
        _include(args.include_package)
        from tuner.train.pipeline import train
        from tuner.train.render import render_config_file

        config = render_config_file(args.config, ext_vars)
        metrics_file = os.environ.get(ENV_METRICS_FILE)
        train(
            config,
            args.serialization_dir,
            metrics_file=Path(metrics_file) if metrics_file else None,
            resume=args.resume or is_resumed(),
        )
    except TrainConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted; no metrics.json written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def parse_ext_vars(pairs: list[str]) -> dict[str, str]:
    """``--ext-var NAME=VALUE`` pairs as a dict.

    ``tune``'s own reader (:mod:`tuner.cli.common`) is not used: the trainer stands alone and
    imports nothing of ``tune`` but the trial contract.
    """
    from tuner.train.errors import TrainConfigError

    ext_vars = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise TrainConfigError(f"--ext-var: expected NAME=VALUE, got {pair!r}")
        ext_vars[name] = value
    return ext_vars


def _include(modules: list[str]) -> None:
    from tuner.train.errors import TrainConfigError

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise TrainConfigError(f"--include-package: cannot import {module!r}: {error}") from None
