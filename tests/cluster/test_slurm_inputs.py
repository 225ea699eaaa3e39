"""`tune slurm`'s bad inputs (one line, exit 2, nothing submitted) and the `tune run` line each task runs.

These need no SLURM: every check runs before sbatch is called. The refusals sbatch itself makes (an unknown
partition) are in test_slurm_cluster.py, against a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import Result

from tuner.cli.run import run_command
from tuner.cli.slurm import _run_argv, slurm_command

POSTGRES = "postgresql://user:secret@db-host/tuning"


def refusal(result: Result) -> str:
    """The one line a refused `tune slurm` printed (click's usage lines aside)."""
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith(("Usage: ", "Try '"))]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def slurm(study_files: Callable[..., list[str]], tune_cli: Callable[..., Result]) -> Callable[..., Result]:
    """`tune slurm` on the quadratic study with the given options (defaults: PostgreSQL, 2 workers, 1 h)."""
    files = study_files()

    def invoke(*options: str, storage: str | None = POSTGRES) -> Result:
        defaults = ["--workers", "2", "--time", "01:00:00", *(["--storage", storage] if storage else [])]
        return tune_cli("slurm", *files, *defaults, *options)

    return invoke


def nothing_submitted(tmp_path: Path) -> bool:
    """No results folder, hence no submitit folder or job pickle, was made."""
    return not (tmp_path / "results").exists()


def test_sqlite_is_refused_with_what_to_use_instead(slurm: Callable[..., Result], tmp_path: Path) -> None:
    for storage in (None, "sqlite:///shared.db"):
        line = refusal(slurm(storage=storage))
        assert "SQLite is not safe on the network file systems" in line
        assert "PostgreSQL (--storage postgresql://" in line and "journal file on a shared file system" in line
    assert nothing_submitted(tmp_path)


@pytest.mark.parametrize("limit", ["1h", "90", "25:61:00", "1:2:3", "00:00:00", "-1:00:00"])
def test_a_time_limit_not_in_hh_mm_ss_is_refused(slurm: Callable[..., Result], tmp_path: Path, limit: str) -> None:
    line = refusal(slurm("--time", limit))
    assert line.startswith("Error: --time ") and repr(limit) in line
    assert nothing_submitted(tmp_path)


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        ("qos", "--slurm takes KEY=VALUE"),
        ("=high", "--slurm takes KEY=VALUE"),
        ("Bad Key=1", "--slurm takes KEY=VALUE"),
        ("array=0-9", "sets --array itself; use --workers"),
        ("time=2:00:00", "sets --time itself; use --time"),
        ("gpus_per_node=4", "sets --gpus-per-node itself; use --gpus-per-worker"),
        ("signal=USR2@90", "sets --signal itself"),
    ],
)
def test_a_bad_sbatch_option_is_refused(slurm: Callable[..., Result], tmp_path: Path, pair: str, says: str) -> None:
    assert says in refusal(slurm("--slurm", "qos=high", "--slurm", pair))
    assert nothing_submitted(tmp_path)


def test_restart_and_gpus_without_gpus_per_worker_are_refused(slurm: Callable[..., Result], tmp_path: Path) -> None:
    assert "cannot --restart: every worker would start the study over" in refusal(slurm("--restart"))
    assert "--gpus needs --gpus-per-worker" in refusal(slurm("--gpus", "0"))
    assert nothing_submitted(tmp_path)


def test_the_study_is_checked_as_a_task_would_before_submitting(slurm: Callable[..., Result], tmp_path: Path) -> None:
    """A mistake tune run would make on the node is refused here: a task never starts to fail."""
    line = refusal(slurm("--gpus-per-worker", "2", "--gpus-per-trial", "3"))
    assert "--gpus-per-trial" in line
    assert "--n-trials must be at least 1" in refusal(slurm("--n-trials", "0"))
    assert nothing_submitted(tmp_path)


def test_without_sbatch_it_says_where_to_run(
    slurm: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    assert "needs SLURM's sbatch on PATH" in refusal(slurm())
    assert nothing_submitted(tmp_path)


def test_each_task_runs_the_same_tune_run_line() -> None:
    """The options given to `tune slurm` come back, parsed by `tune run`, as they were."""
    given = [
        "quad.jsonnet",
        "space.json",
        "--n-trials",
        "8",
        "--ext-var",
        "a=1",
        "--ext-var",
        "b=x y",
        "--grace",
        "5.5",
        "--launch",
        "plain",
        "--restart",
        "--storage",
        POSTGRES,
        "--command",
        "python train.py {config} {serialization_dir}",
    ]
    slurm_context = slurm_command.make_context("slurm", [*given, "--workers", "2", "--time", "1:00:00"])
    names = {param.name for param in run_command.params}
    sources = {name: slurm_context.get_parameter_source(name) for name in names}
    chosen = {name for name, source in sources.items() if source != click.core.ParameterSource.DEFAULT}
    argv = _run_argv(slurm_context.params, chosen)
    run_context = run_command.make_context("run", list(argv))  # click consumes the list it parses
    assert {name: run_context.params[name] for name in names} == {name: slurm_context.params[name] for name in names}
    assert argv[:2] == ["quad.jsonnet", "space.json"]
