"""The ``tune`` command line: each command parses its options, calls the library and prints.

``group`` holds the click group (``tune CONFIG SPACE`` is short for ``tune run``), ``common`` the
option types and the one place user errors become ``Error: ...`` with exit 2, ``run`` the commands
that run and read a study, ``analysis`` those that look at a finished one.
"""

from __future__ import annotations

from tuner.cli.analysis import (
    compare_command,
    export_command,
    importance_command,
    plot_command,
    retrain_command,
    show_trials_command,
)
from tuner.cli.group import main
from tuner.cli.run import dump_best_command, init_space_command, run_command, train_command
from tuner.cli.status import status_command, storage_proxy_command

for _command in (
    run_command,
    dump_best_command,
    show_trials_command,
    init_space_command,
    plot_command,
    importance_command,
    export_command,
    retrain_command,
    compare_command,
    train_command,
    status_command,
    storage_proxy_command,
):
    main.add_command(_command)

__all__ = ["main"]
