"""``tune run`` options for several objectives and constraints (README "Several objectives").

``--metric`` and ``--direction`` themselves are repeatable in :mod:`tuner.cli.run`; these add which
objective pruning follows and the constraints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def objective_options(function: F) -> F:
    """``--prune-on NAME`` and ``--constraint "NAME<=VALUE"`` (repeatable)."""
    options = [
        click.option(
            "--prune-on",
            metavar="NAME",
            help="With several --metric: the objective pruning follows (default: the first).",
        ),
        click.option(
            "--constraint",
            "constraints",
            multiple=True,
            metavar="NAME<=VALUE",
            help=(
                "Only trials with this reported metric within the bound count as best or on the front "
                "(NAME<=VALUE or NAME>=VALUE, e.g. 'param_count<=1e6'); repeatable."
            ),
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function
