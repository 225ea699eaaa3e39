"""Read-only commands load only what they need: no torch, no live view, no plotting, no trial machinery;
on a SQLite study not even Optuna (the fast reader, tuner.study.sqlite_reader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Run a command in a fresh interpreter, then list the modules it imported and the processes it left.
PROBE = """
import json, os, sys
from tuner.cli import main
try:
    main(sys.argv[1:], prog_name="tune", standalone_mode=False)
finally:
    stats = {}
    for p in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            stats[p] = open(f"/proc/{p}/stat").read()
        except OSError:
            pass  # another program's process, gone meanwhile
    children = [p for p, stat in stats.items() if stat.rsplit(")", 1)[1].split()[1] == str(os.getpid())]
    sys.stderr.write("\\nPROBE " + json.dumps({"modules": sorted(sys.modules), "children": children}) + "\\n")
"""

# What no read-only command needs (a module or the start of a dotted name).
NEVER = (
    "torch",
    "tuner.train",
    "tuner.api",
    "tuner.plan",
    "tuner.trials.runner",
    "tuner.trials.worker",
    "tuner.display.progress",
    "rich.live",
    "rich.progress",
    "plotly",
    "matplotlib",
    "sklearn",
    "optuna.visualization",
    "optuna.importance",
)


@pytest.fixture
def finished_study(study_files, tune_cli, quadratic_command):
    result = tune_cli(*study_files(), "--n-trials", "3", "--command", quadratic_command)
    assert result.exit_code == 0, result.output


def loaded_by(*command: str, env: dict[str, str] | None = None) -> tuple[set[str], list[str]]:
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command], capture_output=True, text=True, check=False, env=environment
    )
    assert done.returncode == 0, done.stdout + done.stderr
    probe = json.loads(done.stderr.rsplit("PROBE ", 1)[1])
    return set(probe["modules"]), probe["children"]


@pytest.mark.parametrize(
    "command",
    [
        ["show-trials"],
        ["show-trials", "--format", "json"],
        ["show-trials", "--trial", "1"],
        ["dump-best", "-o", "best.json"],
        ["export", "--no-plots", "-o", "exported"],
        ["status"],
    ],
    ids=" ".join,
)
def test_a_read_only_command_imports_no_training_nor_display_machinery(finished_study, command):
    modules, _ = loaded_by(*command)
    unwanted = sorted(name for name in modules if any(name == top or name.startswith(top + ".") for top in NEVER))
    assert unwanted == []


@pytest.mark.parametrize("command", [["show-trials"], ["show-trials", "--trial", "1"]], ids=" ".join)
def test_show_trials_starts_no_jsonnet_engine(finished_study, command):
    modules, children = loaded_by(*command)
    assert not {"_jsonnet", "_gojsonnet", "rjsonnet"} & modules
    assert children == []  # no render process (dump-best and export render: they start one)


READ_ONLY = [
    ["show-trials"],
    ["show-trials", "--format", "csv"],
    ["show-trials", "--top", "2"],
    ["show-trials", "--trial", "1"],
    ["dump-best", "-o", "best.json"],
    ["dump-best", "--trial", "0", "-o", "t0.json"],
    ["export", "--no-plots", "-o", "exported"],
    ["status"],
    ["status", "--format", "json"],
    ["show-trials", "--sort", "value"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_reads_a_sqlite_study_without_optuna(finished_study, command):
    modules, _ = loaded_by(*command)
    assert not {name.split(".")[0] for name in modules} & {"optuna", "sqlalchemy", "alembic", "numpy"}
    # Through Optuna on request (the fast reader's fallback): the probe sees Optuna then.
    modules, _ = loaded_by(*command, env={"TUNER_READ_WITH_OPTUNA": "1"})
    assert {"optuna", "sqlalchemy"} <= modules
