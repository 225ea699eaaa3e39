"""Options of ``tune run`` for warm starts and stopping rules (README "Warm starts and stopping")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tuner.cli.common import AtLeast, Finite

F = TypeVar("F", bound=Callable[..., Any])


class _AnyFinite(Finite):
    """Any finite number; the help shows no range (a range without bounds reads ``x<=None``)."""

    def _describe_range(self) -> str:
        return ""


def search_options(function: F) -> F:
    """--enqueue, --warm-start-from, --warm-start-storage, --patience, --target and --terminator."""
    options = [
        click.option(
            "--enqueue",
            type=click.Path(dir_okay=False),
            help=(
                "JSON file of parameter values to run first: one object (name -> value), a list of them, "
                "or a best_config.json (its values read back through the search space)."
            ),
        ),
        click.option(
            "--warm-start-from",
            metavar="STUDY",
            help="Add the complete and pruned trials of this earlier study that fit the space (not counted).",
        ),
        click.option(
            "--warm-start-storage",
            metavar="URL",
            help="Storage of --warm-start-from's study (default: this study's --storage).",
        ),
        click.option(
            "--patience",
            type=AtLeast(1),
            metavar="N",
            help="Stop starting trials when the last N completed trials found no better value (earlier runs included).",
        ),
        click.option(
            "--target",
            type=_AnyFinite(),
            metavar="VALUE",
            help="Stop starting trials once a trial reaches this value (at least it to maximize, at most to minimize).",
        ),
        click.option(
            "--terminator",
            is_flag=True,
            help="Stop starting trials when Optuna's Terminator judges the regret bound below the error.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function
