"""Bad input on the command line: exit status 2, one ``Error:`` line, no traceback, nothing stored touched.

Every case runs against a copy of a real study (two completed quadratic trials, plus a study whose
only trial failed) and checks afterwards that no trial, study or stored attribute changed.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import working_copy
from tuner.cli import main

QUADRATIC = Path(__file__).resolve().parents[1] / "trainers" / "quadratic.py"
COMMAND = f"{sys.executable} {QUADRATIC} {{config}} {{serialization_dir}}"
STORAGE = "sqlite:///t.db"
POSTGRES_PASSWORD = "s3cret-pw"
READ_COMMANDS = ["show-trials", "dump-best"]

FILES = {
    "quad.jsonnet": "{\n  x: std.parseJson(std.extVar('x')),\n  epochs: 2,\n}\n",
    "failing.jsonnet": "{\n  x: std.parseJson(std.extVar('x')),\n  epochs: 2,\n  fail_at_epoch: 0,\n}\n",
    "hinted.jsonnet": "{\n  x: std.parseJson(std.extVar('x')),\n  trainer: { validation_metric: '+accuracy' },\n}\n",
    "syntax.jsonnet": "{\n  x: std.parseJson(std.extVar('x'))\n  epochs: 2,\n}\n",
    "runtime.jsonnet": "{\n  x: std.parseJson(std.extVar('x')),\n  data: error 'no dataset configured',\n}\n",
    "needs_data.jsonnet": "{\n  x: std.parseJson(std.extVar('x')),\n  data: std.extVar('data_path'),\n}\n",
    "cast.jsonnet": "{\n  x: std.parseInt(std.extVar('x')),\n}\n",
    "list.jsonnet": "[std.parseJson(std.extVar('x'))]\n",
    "space.json": '{"x": {"type": "float", "low": 0.0, "high": 6.0}}\n',
    "bad_space.json": '{"x": {"type": "flaot", "low": 0.0, "high": 6.0}}\n',
}

# A valid run that would add a trial to study 'quad' if the case's bad input were let through.
VALID_RUN = [
    "--storage",
    STORAGE,
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


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def stored_rows(directory: Path) -> list[str]:
    """Every row of every table in ``directory``/t.db: studies, trials, states, attributes."""
    with closing(sqlite3.connect(directory / "t.db")) as connection:
        return list(connection.iterdump())


def trial_states(directory: Path) -> dict[str, list[str]]:
    query = "SELECT study_name, state FROM trials JOIN studies USING (study_id) ORDER BY trial_id"
    states: dict[str, list[str]] = {}
    with closing(sqlite3.connect(directory / "t.db")) as connection:
        for study, state in connection.execute(query):
            states.setdefault(study, []).append(state)
    return states


def assert_user_error(result: Result, *fragments: str) -> str:
    """Exit status 2 and exactly one ``Error:`` line, holding every fragment; no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def stored_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the config files and t.db holding study 'quad' (2 complete) and 'broken' (1 failed)."""
    directory = tmp_path_factory.mktemp("project")
    for name, text in FILES.items():
        (directory / name).write_text(text)
    common = [
        "--storage",
        f"sqlite:///{directory / 't.db'}",
        "--command",
        COMMAND,
        "--metric",
        "best_validation_accuracy",
        "--direction",
        "maximize",
    ]
    for config, name, n_trials in (("quad.jsonnet", "quad", 2), ("failing.jsonnet", "broken", 1)):
        result = invoke(
            "run",
            str(directory / config),
            str(directory / "space.json"),
            *common,
            "--study-name",
            name,
            "--n-trials",
            str(n_trials),
            "-s",
            str(directory / "results" / name),
        )
        assert result.exit_code == (1 if name == "broken" else 0), result.output  # 1: every trial failed
    assert trial_states(directory) == {"quad": ["COMPLETE", "COMPLETE"], "broken": ["FAIL"]}
    return directory


@pytest.fixture
def project(stored_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the stored project, as the working directory."""
    return working_copy(stored_project, tmp_path, monkeypatch)


RUN_CASES = [
    pytest.param("missing.jsonnet", "space.json", [], ["missing.jsonnet: config file not found"], id="missing-config"),
    pytest.param("quad.jsonnet", "missing.json", [], ["missing.json: search-space file not found"], id="missing-space"),
    pytest.param(
        "syntax.jsonnet", "space.json", [], ["syntax.jsonnet:3", "expected a comma"], id="jsonnet-syntax-error"
    ),
    pytest.param(
        "runtime.jsonnet", "space.json", [], ["runtime.jsonnet:3", "no dataset configured"], id="jsonnet-runtime-error"
    ),
    pytest.param(
        "needs_data.jsonnet", "space.json", [], ["needs_data.jsonnet:3", "ext var 'data_path'"], id="ext-var-missing"
    ),
    pytest.param(
        "cast.jsonnet",
        "space.json",
        [],
        ["cast.jsonnet:2", "0.0 is not a base 10 integer", "x='0.0'"],
        id="cast-error-at-bounds",
    ),
    pytest.param("list.jsonnet", "space.json", [], ["a config must evaluate to an object"], id="config-not-an-object"),
    pytest.param(
        "quad.jsonnet",
        "bad_space.json",
        [],
        ["bad_space.json: parameter 'x'", "unknown type 'flaot'"],
        id="search-space-error",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--sampler", "grid"],
        ["parameter 'x': grid search needs a finite set"],
        id="grid-of-continuous-space",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--sampler", "tpee"],
        ["unknown sampler 'tpee'", "did you mean 'tpe'", "available: ", "random"],
        id="unknown-sampler",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--pruner", "medain"],
        ["unknown pruner 'medain'", "available: ", "median"],
        id="unknown-pruner",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--sampler-kwargs", "{seed: 1}"],
        ["--sampler-kwargs is not valid JSON"],
        id="malformed-sampler-kwargs",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--sampler-kwargs", '{"n_startup": 3}'],
        ["cannot create sampler TPESampler", "n_startup"],
        id="sampler-kwargs-not-accepted",
    ),
    pytest.param(
        "quad.jsonnet", "space.json", ["--direction", "up"], ["'--direction'", "'up'"], id="invalid-direction"
    ),
    pytest.param(
        "quad.jsonnet", "space.json", ["--n-trials", "0"], ["--n-trials must be at least 1, got 0"], id="zero-trials"
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--n-trials", "-3"],
        ["--n-trials must be at least 1, got -3"],
        id="negative-trials",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--n-trials", "2.5"],
        ["'--n-trials'", "'2.5' is not a valid integer"],
        id="fractional-trials",
    ),
    pytest.param(
        "quad.jsonnet", "space.json", ["--seed", "-1"], ["--seed must be at least 0, got -1"], id="negative-seed"
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--seed", str(2**32)],
        [f"--seed must be at most {2**32 - 1}"],
        id="seed-too-large",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--max-failures", "0"],
        ["--max-failures must be at least 1, got 0"],
        id="zero-max-failures",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--max-failure-rate", "0"],
        ["--max-failure-rate must be in (0, 1], got 0.0"],
        id="zero-failure-rate",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--max-failure-rate", "1.5"],
        ["--max-failure-rate must be in (0, 1], got 1.5"],
        id="failure-rate-above-one",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--ext-var", "epochs"],
        ["--ext-var", "expected NAME=VALUE, got 'epochs'"],
        id="malformed-ext-var",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["-s", "space.json"],
        ["'--serialization-dir'", "'space.json' is a file"],
        id="serialization-dir-is-a-file",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--command", "/no/such/trainer {config}"],
        ["program '/no/such/trainer' does not exist"],
        id="command-path-missing",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--command", "no-such-trainer {config}"],
        ["'no-such-trainer' was not found on PATH"],
        id="command-not-on-path",
    ),
    pytest.param(
        "hinted.jsonnet",
        "space.json",
        ["--direction", "minimize"],
        ["--direction minimize contradicts hinted.jsonnet's trainer.validation_metric"],
        id="direction-contradicts-config",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--direction", "minimize"],
        ["study 'quad' was created to maximize, not minimize"],
        id="resume-with-other-direction",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        # --metric is repeatable (several objectives): a second one with its --direction is a second objective
        ["--metric", "validation_loss", "--direction", "maximize"],
        ["study 'quad' has 1 objective (maximize best_validation_accuracy), not (maximize best_validation_accuracy,"],
        id="resume-with-other-objectives",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--metric", "validation_loss"],
        ["--metric and --direction go in pairs: got 2 --metric (best_validation_accuracy, validation_loss) and 1"],
        id="metric-without-its-direction",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--metric", "validation_loss", "--direction", "minimize", "--constraint", "param_count<1e6"],
        ["--constraint 'param_count<1e6': expected NAME<=VALUE or NAME>=VALUE"],
        id="constraint-malformed",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--constraint", "param_count<=lots"],
        ["--constraint 'param_count<=lots': 'lots' is not a number"],
        id="constraint-bound-not-a-number",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--storage", "sqlite:///no/such/folder/t.db"],
        ["folder no/such/folder does not exist"],
        id="storage-folder-missing",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--storage", "not-a-url"],
        ["cannot open storage not-a-url"],
        id="storage-url-malformed",
    ),
    pytest.param(
        "quad.jsonnet",
        "space.json",
        ["--storage", f"postgresql://tuner:{POSTGRES_PASSWORD}@127.0.0.1:1/studies"],
        ["cannot open storage postgresql://tuner:***@127.0.0.1:1/studies"],
        id="storage-unreachable",
    ),
]


@pytest.mark.parametrize("prefix", [["run"], []], ids=["run", "shorthand"])
@pytest.mark.parametrize(("config", "space", "extra", "fragments"), RUN_CASES)
def test_bad_run_input_is_one_error_line_and_changes_no_study(
    project: Path, prefix: list[str], config: str, space: str, extra: list[str], fragments: list[str]
) -> None:
    before = stored_rows(project)
    run = VALID_RUN
    if "--direction" in extra and "--metric" not in extra:  # the case's direction instead (two would be unpaired)
        run = [word for index, word in enumerate(VALID_RUN) if index not in (8, 9)]

    result = invoke(*prefix, config, space, *run, *extra)

    assert_user_error(result, *fragments)
    assert POSTGRES_PASSWORD not in result.output
    assert stored_rows(project) == before


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_unknown_study_name_is_an_error_listing_the_studies(project: Path, command: str) -> None:
    before = stored_rows(project)

    result = invoke(command, "--storage", STORAGE, "--study-name", "quadd")

    assert_user_error(result, "no study 'quadd'", "did you mean 'quad'?", "studies there: quad, broken")
    assert stored_rows(project) == before
    assert not (project / "best_config.json").exists()


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_no_study_name_with_several_studies_is_an_error_listing_them(project: Path, command: str) -> None:
    result = invoke(command, "--storage", STORAGE)

    assert_user_error(result, "several studies (quad, broken); pass --study-name")


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_folder_without_tune_db_is_an_error_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.chdir(tmp_path)

    result = invoke(command)

    assert_user_error(result, "no study storage at tune.db")
    assert sorted(tmp_path.iterdir()) == []


STUDY = ["--storage", STORAGE, "--study-name", "quad"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["dump-best", *STUDY, "--trial", "-1"], "--trial must be at least 0, got -1"),
        (["show-trials", *STUDY, "--trial", "-1"], "--trial must be at least 0, got -1"),
        (["show-trials", *STUDY, "--top", "0"], "--top must be at least 1, got 0"),
        (["plot", *STUDY, "--baseline", "nan"], "--baseline must be a finite number, got nan"),
        (["export", *STUDY, "--baseline", "inf"], "--baseline must be a finite number, got inf"),
        (["retrain", "quad.jsonnet", "--seeds", "0"], "--seeds must be at least 1, got 0"),
        (["compare", "quad.jsonnet", "quad.jsonnet", "--n-jobs", "0"], "--n-jobs must be at least 1, got 0"),
    ],
)
def test_bad_numbers_of_the_other_commands_are_refused_by_their_option_types(
    project: Path, args: list[str], fragment: str
) -> None:
    before = sorted(path.name for path in project.iterdir())

    assert_user_error(invoke(*args), fragment)
    assert sorted(path.name for path in project.iterdir()) == before


def test_dump_best_of_a_study_without_a_completed_trial_is_an_error(project: Path) -> None:
    before = stored_rows(project)

    result = invoke("dump-best", "--storage", STORAGE, "--study-name", "broken")

    assert_user_error(result, "study 'broken' has no completed trial yet")
    assert not (project / "best_config.json").exists()
    assert stored_rows(project) == before


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_unreachable_storage_is_an_error_that_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.chdir(tmp_path)

    result = invoke(command, "--storage", f"postgresql://tuner:{POSTGRES_PASSWORD}@127.0.0.1:1/studies")

    assert_user_error(result, "cannot open storage postgresql://tuner:***@127.0.0.1:1/studies")
    assert POSTGRES_PASSWORD not in result.output


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_malformed_storage_url_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.chdir(tmp_path)

    result = invoke(command, "--storage", "not-a-url")

    assert_user_error(result, "cannot open storage not-a-url")


def test_a_password_in_any_error_message_is_masked() -> None:
    from tuner.study.storage import mask_passwords

    text = f"cannot reach postgresql+psycopg://tuner:{POSTGRES_PASSWORD}@[::1/db or mysql://root:p%40ss@h/x"

    assert mask_passwords(text) == "cannot reach postgresql+psycopg://tuner:***@[::1/db or mysql://root:***@h/x"


def test_a_password_holding_an_at_sign_is_masked_whole() -> None:
    from tuner.study.storage import mask_passwords

    assert mask_passwords("postgresql://tuner:p@ss@127.0.0.1:abc/db") == "postgresql://tuner:***@127.0.0.1:abc/db"
