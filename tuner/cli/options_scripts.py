"""``tune run`` options for scripts that take flags (README "Scripts that take flags").

``tune SPACE --command "python train.py --lr {lr}"`` (or ``--space SPACE``) runs a study without a
Jsonnet config; ``--trial-cwd trial`` runs each trial in its folder; ``--preload MODULE`` is imported
by the warm workers before they fork trials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def script_options(function: F) -> F:
    """The options of this module, as one decorator for ``run_command``."""
    options = [
        click.option(
            "--space",
            type=click.Path(dir_okay=False),
            help="The search space, for a study without CONFIG: tune run --space SPACE --command '... {lr} ...'.",
        ),
        click.option(
            "--trial-cwd",
            type=click.Choice(["tune", "trial"]),
            default="tune",
            show_default=True,
            help="Where each trial runs: tune's working directory, or the trial's own folder.",
        ),
        click.option(
            "--preload",
            multiple=True,
            metavar="MODULE",
            help="Module the warm workers import before forking trials (repeatable), e.g. lightning.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def script_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``--space`` and a lone positional argument: with ``--command`` or ``--module`` and no
    second argument, ``tune SPACE --command ...`` names the space, and the study has no config."""
    space = arguments.pop("space", None)
    if space is not None:
        if not space.strip():
            raise click.UsageError(
                "--space is empty; give the search-space file (tune run --space SPACE --command ...)"
            )
        if arguments.get("search_space") is not None:
            raise click.UsageError("give the search space as SEARCH_SPACE or as --space, not both")
        arguments["search_space"] = space
    elif arguments.get("search_space") is None and arguments.get("config") and {"command", "module"} & set(arguments):
        arguments["search_space"] = arguments.pop("config")
    if "preload" in arguments:
        arguments["preload"] = tuple(arguments["preload"])
    return arguments


def module_command(module: str, arguments: dict[str, Any]) -> str:
    """The ``--command`` that ``--module`` stands for.

    ``--module "my_pkg.train --lr {lr}"``: the module with its own argument template. A bare module
    gets ``{config} {serialization_dir}`` in a study with a config, and no arguments without one.
    """
    name, _, template = module.strip().partition(" ")
    if template.strip():
        return f"{{python}} -m {name} {template.strip()}"
    without_config = arguments.get("config") is None and arguments.get("search_space") is not None
    return f"{{python}} -m {name}" if without_config else f"{{python}} -m {name} {{config}} {{serialization_dir}}"
