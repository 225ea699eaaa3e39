"""``tune run`` options for epoch metrics a trainer does not send through :func:`tuner.report` (README
"Lightning, Hugging Face and metrics from framework logs")."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def metrics_options(function: F) -> F:
    """``--metrics-from`` and ``--metrics-file``, passed to :func:`tuner.tune` under their own names."""
    function = click.option(
        "--metrics-file",
        metavar="TEMPLATE",
        help="A JSON-lines file the trainer writes, one object per epoch, e.g. '{serialization_dir}/log.jsonl' "
        "(placeholders as in --command; relative to the trial folder).",
    )(function)
    return click.option(
        "--metrics-from",
        metavar="csv|hf|regex:PATTERN",
        help="Read epoch metrics from what the framework writes in the trial folder: Lightning's CSVLogger "
        "metrics.csv (csv), Hugging Face's trainer_state.json (hf), or lines of the trial's output matching "
        "PATTERN, values in named groups: 'regex:val_acc=(?P<validation_accuracy>[0-9.]+)'.",
    )(function)
