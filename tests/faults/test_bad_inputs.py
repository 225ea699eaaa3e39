"""The catalogue of bad inputs: each one is refused with exit status 2 and one line naming the problem.

Every case runs the real CLI against a private copy of a project holding a real study ('quad',
two completed trials) and a multi-objective study made by plain Optuna; afterwards no stored
study and no file of the project may have changed. Cases run in-process (click's CliRunner)
unless the process boundary is the point: a case that could exhaust memory or the stack if it
regressed runs as a `tune` process under a memory limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tests.conftest import TRAINERS, working_copy
from tests.faults.conftest import REPO
from tuner.cli import main

COMMAND = f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"
PASSWORD = "s3cret-pw"
MEMORY_LIMIT_BYTES = 4 * 2**30  # a regression that lists 10**15 grid points dies here, not the test runner
CONFIG = "{\n  x: std.parseJson(std.extVar('x')),\n  epochs: 2,\n}\n"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 6.0}}
# A valid run that would add a trial to study 'quad' if the case's bad input were let through.
RUN = [
    "run",
    "quad.jsonnet",
    "space.json",
    "--storage",
    "sqlite:///t.db",
    "--command",
    COMMAND,
    "-s",
    "results/quad",
    "--metric",
    "best_validation_accuracy",
    "--direction",
    "maximize",
    "--n-trials",
    "3",
]


@dataclass(frozen=True)
class Case:
    """Arguments for `tune`, files to write first, and the fragments the one error line must hold."""

    args: list[str]
    fragments: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    process: bool = False  # run `tune` as its own process, under MEMORY_LIMIT_BYTES


def space(data: object) -> dict[str, str | bytes]:
    return {"space.json": json.dumps(data)}


def space_text(text: str | bytes) -> dict[str, str | bytes]:
    return {"space.json": text}


def int_space(**strategy: object) -> dict[str, str | bytes]:
    return space({"x": {"type": "int", **strategy}})


def postgres(address: str) -> str:
    return f"postgresql://tuner:{PASSWORD}@{address}"


CORRUPT = "corrupt.db"  # tune.db of a real study with garbage pages, written by the fixture

CASES = {
    # Search-space files.
    "space-not-utf8": Case(
        RUN,
        ["space.json: the search-space file is not UTF-8 text", "byte 0xff"],
        space_text(b'{"x": {"type": "categorical", "choices": ["\xff"]}}'),
    ),
    "space-nested-100000-deep": Case(
        RUN,
        ["space.json: the search space is nested too deeply"],
        space_text("[" * 100_000 + "]" * 100_000),
        process=True,
    ),
    "int-bound-400-digits": Case(
        RUN,
        ["parameter 'x'", "'high' is 100000... (401 digits)", "2**53"],
        space_text('{"x": {"type": "int", "low": 0, "high": 1' + "0" * 400 + "}}"),
    ),
    "int-bound-5000-digits": Case(
        RUN,
        ["space.json: invalid number", "4300 digits"],
        space_text('{"x": {"type": "int", "low": 0, "high": 1' + "0" * 5000 + "}}"),
    ),
    "categorical-nan": Case(
        RUN,
        ["parameter 'x'", "choice nan is not a finite number"],
        space_text('{"x": {"type": "categorical", "choices": [1, NaN]}}'),
    ),
    "categorical-infinity": Case(
        RUN, ["choice inf is not a finite number"], space_text('{"x": {"type": "categorical", "choices": [Infinity]}}')
    ),
    "grid-over-10**15-ints": Case(
        [*RUN, "--sampler", "grid"],
        ["grid search over 1,000,000,000,000,001 points"],
        int_space(low=0, high=10**15),
        process=True,
    ),
    "grid-product-too-large": Case(
        [*RUN, "--sampler", "grid"],
        ["grid search over 10,000,000 points", "1,000,000"],
        {
            **space({"x": {"type": "int", "low": 0, "high": 999}, "y": {"type": "int", "low": 0, "high": 9999}}),
            "quad.jsonnet": "{ x: std.extVar('x'), y: std.extVar('y') }\n",
        },
    ),
    "power-exponents-0..10**8": Case(
        RUN,
        ["exponents 0..100000000 make 100,000,001 choices", "at most 10,000"],
        int_space(low=0, high=10**8, scale="power"),
        process=True,
    ),
    "power-beyond-2**53": Case(RUN, ["2**60 is beyond 2**53"], int_space(low=0, high=60, scale="power")),
    "unknown-type": Case(
        RUN,
        ["parameter 'x'", "unknown type 'flaot'", "did you mean 'float'"],
        space({"x": {"type": "flaot", "low": 0, "high": 1}}),
    ),
    "low-above-high": Case(RUN, ["low (5) is greater than high (1)"], int_space(low=5, high=1)),
    "missing-high": Case(RUN, ["missing 'high' for type 'int'"], int_space(low=5)),
    "log-from-zero": Case(
        RUN,
        ["low (0.0) must be greater than 0 when log is true"],
        space({"x": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}),
    ),
    "step-with-log": Case(
        RUN,
        ["'step' cannot be combined with 'log'"],
        space({"x": {"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}}),
    ),
    "step-zero": Case(RUN, ["'step' must be greater than 0"], int_space(low=0, high=4, step=0)),
    "bound-a-boolean": Case(RUN, ["'low' must be an integer for type 'int', got True"], int_space(low=True, high=4)),
    "bound-nan": Case(
        RUN,
        ["'low' must be a finite number for type 'float', got nan"],
        space_text('{"x": {"type": "float", "low": NaN, "high": 1}}'),
    ),
    "unknown-key": Case(RUN, ["unknown key(s) 'hihg' for type 'int'"], int_space(low=0, hihg=4)),
    "duplicate-key": Case(RUN, ["key 'x' appears twice"], space_text('{"x": {"type": "bool"}, "x": {"type": "bool"}}')),
    "empty-space": Case(RUN, ["the search space has no parameters"], space({})),
    "space-a-number": Case(RUN, ["a search space is a list", "not int"], space(3)),
    "invalid-json": Case(RUN, ["space.json:1:", "invalid JSON in search space"], space_text('{"x": ')),
    "empty-choices": Case(
        RUN, ["'choices' must be a non-empty list"], space({"x": {"type": "categorical", "choices": []}})
    ),
    "choice-an-object": Case(
        RUN,
        ['choice {"a": 1} is not a string, number, boolean or null'],
        space({"x": {"type": "categorical", "choices": [{"a": 1}]}}),
    ),
    "choice-twice": Case(
        RUN, ["choice 1 is listed more than once"], space({"x": {"type": "categorical", "choices": [1, 1]}})
    ),
    "condition-on-unknown-parameter": Case(
        RUN,
        ["condition names unknown parameter 'y'"],
        space({"x": {"type": "float", "low": 0, "high": 1, "condition": {"y": 1}}}),
    ),
    "space-file-missing": Case([*RUN[:2], "missing.json", *RUN[3:]], ["missing.json: search-space file not found"]),
    "jsonnet-space-error": Case(
        [*RUN[:2], "space.jsonnet", *RUN[3:]],
        ["space.jsonnet:1", "no space today"],
        {"space.jsonnet": "error 'no space today'\n"},
    ),
    # Options.
    "timeout-nan": Case([*RUN, "--timeout", "nan"], ["'--timeout'", "finite number of seconds above 0", "'nan'"]),
    "timeout-zero": Case([*RUN, "--timeout", "0"], ["'--timeout'", "finite number of seconds above 0"]),
    "trial-timeout-nan": Case([*RUN, "--trial-timeout", "nan"], ["'--trial-timeout'", "'nan'"]),
    "trial-timeout-text": Case([*RUN, "--trial-timeout", "soon"], ["'--trial-timeout'", "'soon' is not a number"]),
    "gpus-empty": Case([*RUN, "--gpus", ""], ["'--gpus'", "'' names no GPU"]),
    "gpus-comma": Case([*RUN, "--gpus", ","], ["'--gpus'", "',' names no GPU"]),
    "gpus-not-an-index": Case([*RUN, "--gpus", "first"], ["--gpus takes GPU indices", "'first'"]),
    "gpus-missing": Case([*RUN, "--gpus", "7"], ["--gpus names GPU 7, which does not exist"]),
    "trials-per-gpu-zero": Case([*RUN, "--trials-per-gpu", "0"], ["--trials-per-gpu must be at least 1"]),
    "n-jobs-zero": Case([*RUN, "--n-jobs", "0"], ["--n-jobs must be at least 1"]),
    "n-trials-zero": Case([*RUN, "--n-trials", "0"], ["--n-trials must be at least 1, got 0"]),
    "max-failure-rate-nan": Case([*RUN, "--max-failure-rate", "nan"], ["--max-failure-rate must be in (0, 1]"]),
    "unknown-sampler": Case([*RUN, "--sampler", "tpee"], ["unknown sampler 'tpee'", "did you mean 'tpe'"]),
    "unknown-pruner": Case([*RUN, "--pruner", "medain"], ["unknown pruner 'medain'", "median"]),
    "sampler-kwargs-not-json": Case([*RUN, "--sampler-kwargs", "{seed: 1}"], ["--sampler-kwargs is not valid JSON"]),
    "sampler-kwargs-unknown": Case(
        [*RUN, "--sampler-kwargs", '{"n_startup": 3}'], ["cannot create sampler TPESampler"]
    ),
    "grid-kwarg-a-list": Case(
        [*RUN, "--sampler", "grid", "--sampler-kwargs", '{"search_space": [1, 2]}'],
        ["--sampler-kwargs search_space must be an object mapping each parameter"],
    ),
    "grid-kwarg-values-a-number": Case(
        [*RUN, "--sampler", "grid", "--sampler-kwargs", '{"search_space": {"x": 5}}'],
        ["search_space: 'x' must be a non-empty list of values"],
    ),
    "grid-kwarg-other-names": Case(
        [*RUN, "--sampler", "grid", "--sampler-kwargs", '{"search_space": {"y": [1]}}'],
        ["search_space lacks x and names y, not in the space"],
    ),
    "grid-of-continuous-float": Case([*RUN, "--sampler", "grid"], ["parameter 'x': grid search needs a finite set"]),
    "ext-var-without-value": Case([*RUN, "--ext-var", "epochs"], ["expected NAME=VALUE, got 'epochs'"]),
    "resume-with-other-direction": Case([*RUN[:12], "minimize", *RUN[13:]], ["study 'quad' was created to maximize"]),
    "results-folder-of-another-study": Case(
        [*RUN, "--study-name", "other"], ["results/quad holds the trials of study 'quad'", "not of 'other'"]
    ),
    # Storages.
    "postgres-port-not-a-number": Case(
        [*RUN, "--storage", postgres("127.0.0.1:abc/db")],
        ["cannot open storage postgresql://tuner:***@127.0.0.1:abc/db"],
    ),
    "postgres-unclosed-bracket": Case(
        [*RUN, "--storage", postgres("[::1/db")], ["cannot open storage postgresql://tuner:***@[::1/db"]
    ),
    "postgres-unreachable": Case(
        [*RUN, "--storage", postgres("127.0.0.1:1/db")], ["postgresql://tuner:***@127.0.0.1:1/db"]
    ),
    "show-trials-postgres-port-not-a-number": Case(
        ["show-trials", "--storage", postgres("127.0.0.1:abc/db")],
        ["cannot open storage postgresql://tuner:***@127.0.0.1:abc/db"],
    ),
    "journal-garbage": Case(
        [*RUN, "--storage", "journal:garbage.log"],
        ["garbage.log is not a readable Optuna journal"],
        {"garbage.log": "garbage\n{not json\n"},
    ),
    "show-trials-journal-garbage": Case(
        ["show-trials", "--storage", "journal:garbage.log"],
        ["not a readable Optuna journal"],
        {"garbage.log": "garbage\n{not json\n"},
    ),
    "sqlite-garbage-pages": Case(
        [*RUN, "--storage", f"sqlite:///{CORRUPT}"], [f"{CORRUPT} is not a sound SQLite database", "left untouched"]
    ),
    "show-trials-sqlite-garbage-pages": Case(
        ["show-trials", "--storage", f"sqlite:///{CORRUPT}"], [f"{CORRUPT} is not a sound SQLite database"]
    ),
    "sqlite-random-bytes": Case(
        [*RUN, "--storage", "sqlite:///random.db"],
        ["random.db is not a sound SQLite database"],
        {"random.db": bytes(range(256)) * 40},
    ),
    "resume-multi-objective-study": Case(
        [*RUN, "--storage", "sqlite:///mo.db", "--study-name", "mo", "-s", "results/mo"],
        ["study 'mo' has 2 objectives", "not 1", "--metric/--direction pairs"],
    ),
    "storage-folder-missing": Case([*RUN, "--storage", "sqlite:///no/such/t.db"], ["folder no/such does not exist"]),
    "show-trials-unknown-study": Case(
        ["show-trials", "--storage", "sqlite:///t.db", "--study-name", "quadd"],
        ["no study 'quadd'", "did you mean 'quad'?"],
    ),
    "show-trials-no-storage-here": Case(["show-trials"], ["no study storage at tune.db"]),
    "dump-best-unknown-trial": Case(["dump-best", "--storage", "sqlite:///t.db", "--trial", "99"], ["99"]),
}


@pytest.fixture(scope="module")
def stored_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Config, space, t.db with study 'quad' (2 complete), mo.db (multi-objective) and a damaged copy of t.db."""
    directory = tmp_path_factory.mktemp("catalogue")
    (directory / "quad.jsonnet").write_text(CONFIG)
    (directory / "space.json").write_text(json.dumps(SPACE))
    os.chdir(directory)
    try:
        result = CliRunner().invoke(main, [*RUN[:-1], "2"], catch_exceptions=False)
    finally:
        os.chdir(REPO)
    assert result.exit_code == 0, result.output
    study = optuna.create_study(
        study_name="mo", storage=f"sqlite:///{directory / 'mo.db'}", directions=["maximize", "minimize"]
    )
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), [1.0, 2.0])
    damaged = (directory / "t.db").read_bytes()
    page = 4096
    (directory / CORRUPT).write_bytes(damaged[: 3 * page] + bytes([0xA5]) * 4 * page + damaged[7 * page :])
    return directory


@pytest.fixture
def project(stored_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the stored project, as the working directory."""
    return working_copy(stored_project, tmp_path, monkeypatch)


def snapshot(directory: Path) -> dict[str, object]:
    """Every stored row of every sound database, and the bytes of every other file (results excluded)."""
    state: dict[str, object] = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if not path.is_file() or name.endswith(("-wal", "-shm")):
            continue
        if name in ("t.db", "mo.db"):
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
                state[name] = list(connection.iterdump())
        elif not name.startswith("results/"):
            state[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def run_case(case: Case, directory: Path) -> tuple[int, str]:
    if not case.process:
        result = CliRunner().invoke(main, case.args, catch_exceptions=False)
        return result.exit_code, result.output

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run(
        [sys.executable, "-m", "tuner", *case.args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_memory,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def problem_lines(output: str) -> list[str]:
    """The output without click's usage preamble (its `Usage:` and `Try ... for help.` lines)."""
    return [line for line in output.splitlines() if line.strip() and not line.startswith(("Usage: ", "Try '"))]


def test_the_catalogue_is_broad() -> None:
    assert len(CASES) >= 40


def assert_refused_in_one_line(project: Path, case: Case) -> None:
    """Run ``case``: exit 2, one ``Error:`` line holding its fragments, no password, nothing stored changed."""
    for name, content in case.files.items():
        (project / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(project)

    exit_status, output = run_case(case, project)

    assert exit_status == 2, output
    assert "Traceback" not in output
    lines = problem_lines(output)
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    for fragment in case.fragments:
        assert fragment in lines[0], output
    assert PASSWORD not in output
    assert snapshot(project) == before


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_naming_it_and_changes_nothing_stored(project: Path, case: Case) -> None:
    assert_refused_in_one_line(project, case)


def read_only_folder_runner(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written: a read-only bind mount as root, else chmod."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    mount = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && cd "{folder}" && exec "$@"'
    probe = subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("running as root without a way to make a folder read-only (unshare -m)")
    return ["unshare", "-m", "sh", "-c", mount, "sh"]


def test_show_trials_reads_a_study_in_a_read_only_folder(project: Path) -> None:
    prefix = read_only_folder_runner(project)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        completed = subprocess.run(
            [*prefix, sys.executable, "-m", "tuner", "show-trials", "--storage", "sqlite:///t.db", "--format", "json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        project.chmod(0o755)

    assert completed.returncode == 0, completed.stderr
    assert [trial["state"] for trial in json.loads(completed.stdout)] == ["COMPLETE", "COMPLETE"]


def test_a_damaged_database_is_left_exactly_as_it_was(project: Path) -> None:
    damaged = project / "alone" / "tune.db"
    damaged.parent.mkdir()
    shutil.move(project / CORRUPT, damaged)
    before = damaged.read_bytes()
    (project / "alone" / "quad.jsonnet").write_text(CONFIG)
    (project / "alone" / "space.json").write_text(json.dumps(SPACE))
    os.chdir(damaged.parent)

    result = CliRunner().invoke(
        main, ["quad.jsonnet", "space.json", "--command", COMMAND, *RUN[9:13]], catch_exceptions=False
    )

    assert result.exit_code == 2, result.output
    assert len(problem_lines(result.output)) == 1
    assert problem_lines(result.output)[0].startswith("Error: tune.db is not a sound SQLite database (")
    assert damaged.read_bytes() == before
    assert sorted(path.name for path in damaged.parent.iterdir()) == ["quad.jsonnet", "space.json", "tune.db"]
