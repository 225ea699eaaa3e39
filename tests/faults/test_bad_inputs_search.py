"""Bad inputs of the options of issues 15, 17 and 18: one line naming the value, exit 2, nothing stored changed.

The same catalogue as tests/faults/test_bad_inputs.py, with its project (study 'quad' in t.db, two completed
trials; the two-objective study 'mo' in mo.db) and its checks, for several objectives, constraints, warm
starts, stopping rules, metrics from framework logs, scripts that take flags, `tune status` and `tune
storage-proxy`. The cases that must run a trial to find the mistake are tests of their own below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tests.faults import test_bad_inputs as catalogue
from tests.faults.test_bad_inputs import (
    COMMAND,
    RUN,
    Case,
    assert_refused_in_one_line,
    postgres,
    snapshot,
)
from tuner import tune
from tuner.cli import main
from tuner.errors import TunerError

# The catalogue's project, as fixtures of this module: t.db with study 'quad', mo.db with study 'mo'.
stored_project = catalogue.stored_project
project = catalogue.project
TWO = ["--metric", "validation_loss", "--direction", "minimize"]  # with RUN's pair: two objectives
SCRIPT = "train.py"
SCRIPT_SPACE = {"lr": {"type": "float", "low": 0.001, "high": 0.1}, "hidden": {"type": "int", "low": 8, "high": 64}}
SCRIPT_RUN = ["run", "--space", "flags.json", "--storage", "sqlite:///t.db", "--n-trials", "3"]
SCRIPT_FILES: dict[str, str | bytes] = {"flags.json": json.dumps(SCRIPT_SPACE), SCRIPT: "print('never run')\n"}
# Appends one epoch to the trial's metrics file, as any trainer may.
REPORTING_SCRIPT = (
    "import json, os\n"
    "with open(os.environ['TUNER_METRICS_FILE'], 'a') as out:\n"
    "    out.write(json.dumps({'epoch': 0, 'accuracy': 0.5}) + '\\n')\n"
)
FLAGS = f"{sys.executable} {SCRIPT} --lr {{lr}} --hidden {{hidden}} --out {{serialization_dir}}"


def enqueue(data: object) -> dict[str, str | bytes]:
    return {"enqueue.json": json.dumps(data)}


def with_options(*options: str) -> list[str]:
    return [*RUN, *options]


def script_run(command: str, *options: str) -> list[str]:
    return [*SCRIPT_RUN, "--command", command, "--metric", "accuracy", "--direction", "maximize", *options]


CASES = {
    # Several objectives (issue 15).
    "two-metrics-one-direction": Case(
        with_options("--metric", "validation_loss"),
        ["--metric and --direction go in pairs", "got 2 --metric (best_validation_accuracy, validation_loss)", "1 --"],
    ),
    "one-metric-two-directions": Case(
        with_options("--direction", "minimize"),
        ["--metric and --direction go in pairs", "got 1 --metric (best_validation_accuracy) and 2 --direction"],
    ),
    "study-config-unpaired": Case(
        ["run", "--study-config", "study.json", "--command", COMMAND, "--storage", "sqlite:///t.db"],
        ["got 2 --metric (best_validation_accuracy, validation_loss) and 1 --direction"],
        {
            "study.json": json.dumps(
                {
                    "tune": {
                        "config": "quad.jsonnet",
                        "search_space": "space.json",
                        "metric": ["best_validation_accuracy", "validation_loss"],
                        "direction": ["maximize"],
                    }
                }
            )
        },
    ),
    "prune-on-not-an-objective": Case(
        with_options(*TWO, "--prune-on", "validation_acc"),
        ["--prune-on validation_acc is not an objective", "best_validation_accuracy, validation_loss"],
    ),
    "prune-on-one-objective": Case(
        with_options("--prune-on", "validation_loss"), ["--prune-on validation_loss is not an objective"]
    ),
    "constraint-double-operator": Case(
        with_options("--constraint", "param_count<<5"), ["--constraint 'param_count<<5'", "NAME<=VALUE"]
    ),
    "constraint-no-operator": Case(with_options("--constraint", "param_count"), ["--constraint 'param_count'"]),
    "constraint-no-name": Case(with_options("--constraint", "<=3"), ["--constraint '<=3'", "NAME<=VALUE"]),
    "constraint-bound-not-a-number": Case(
        with_options("--constraint", "x<=abc"), ["--constraint 'x<=abc'", "'abc' is not a number"]
    ),
    "constraint-bound-nan": Case(with_options("--constraint", "x<=nan"), ["--constraint 'x<=nan'", "finite"]),
    "constraint-twice": Case(
        with_options("--constraint", "x<=1", "--constraint", "x<=1.0"), ["--constraint 'x<=1' is given twice"]
    ),
    "resume-one-objective-study-with-two": Case(
        with_options(*TWO),
        ["study 'quad' has 1 objective", "not (maximize best_validation_accuracy, minimize validation_loss)"],
    ),
    "resume-two-objective-study-with-three": Case(
        [*with_options(*TWO, "--metric", "param_count", "--direction", "minimize"), "--storage", "sqlite:///mo.db"]
        + ["--study-name", "mo", "-s", "results/mo"],
        ["study 'mo' has 2 objectives", "minimize validation_loss, minimize param_count)"],
    ),
    # Warm starts (issue 15).
    "enqueue-missing-file": Case(with_options("--enqueue", "nowhere.json"), ["--enqueue nowhere.json: cannot read"]),
    "enqueue-invalid-json": Case(
        with_options("--enqueue", "enqueue.json"), ["--enqueue enqueue.json: not JSON"], {"enqueue.json": '{"x": '}
    ),
    "enqueue-unknown-parameter": Case(
        with_options("--enqueue", "enqueue.json"),
        ["unknown parameter 'y'", "the search space has x"],
        enqueue({"y": 1}),
    ),
    "enqueue-out-of-range": Case(
        with_options("--enqueue", "enqueue.json"), ["x=7.5 is above the search space's high 6"], enqueue({"x": 7.5})
    ),
    "enqueue-not-a-choice": Case(
        with_options("--enqueue", "enqueue.json"),
        ["x=2.5 is not one of the choices [1, 2, 4]"],
        {**enqueue({"x": 2.5}), "space.json": json.dumps({"x": {"type": "categorical", "choices": [1, 2, 4]}})},
    ),
    "enqueue-list-with-a-non-object": Case(
        with_options("--enqueue", "enqueue.json"),
        ["--enqueue enqueue.json entry 2: expected an object of parameter values, got 3"],
        enqueue([{"x": 1.0}, 3]),
    ),
    "enqueue-empty-list": Case(with_options("--enqueue", "enqueue.json"), ["the list is empty"], enqueue([])),
    "enqueue-a-number": Case(with_options("--enqueue", "enqueue.json"), ["expected an object"], enqueue(3)),
    "enqueue-a-folder": Case(with_options("--enqueue", "results"), ["--enqueue", "results"]),
    "enqueue-empty-name": Case(with_options("--enqueue", ""), ["--enqueue '': give a JSON file"]),
    "warm-start-unknown-study": Case(
        with_options("--warm-start-from", "qaud"), ["no study 'qaud' in", "did you mean 'quad'?"]
    ),
    "warm-start-unknown-study-elsewhere": Case(
        with_options("--warm-start-from", "quad", "--warm-start-storage", "sqlite:///mo.db"),
        ["no study 'quad' in", "mo.db", "studies there: mo"],
    ),
    "warm-start-storage-missing-file": Case(
        with_options("--warm-start-from", "quad", "--warm-start-storage", "sqlite:///missing.db"),
        ["--warm-start-from quad", "no study storage at missing.db"],
    ),
    "warm-start-storage-not-a-url": Case(
        with_options("--warm-start-from", "quad", "--warm-start-storage", "nonsense"), ["nonsense"]
    ),
    "warm-start-storage-port-not-a-number": Case(
        with_options("--warm-start-from", "quad", "--warm-start-storage", postgres("127.0.0.1:abc/db")),
        ["postgresql://tuner:***@127.0.0.1:abc/db"],
    ),
    "warm-start-storage-unreachable": Case(
        with_options("--warm-start-from", "quad", "--warm-start-storage", postgres("127.0.0.1:1/db")),
        ["postgresql://tuner:***@127.0.0.1:1/db"],
    ),
    "warm-start-from-empty": Case(with_options("--warm-start-from", ""), ["--warm-start-from '': give the name"]),
    "warm-start-storage-empty": Case(
        with_options("--warm-start-from", "quad", "--warm-start-storage", ""), ["--warm-start-storage '': give the URL"]
    ),
    "warm-start-storage-alone": Case(with_options("--warm-start-storage", "sqlite:///t.db"), ["--warm-start-from"]),
    "warm-start-from-itself": Case(with_options("--warm-start-from", "quad"), ["names the study being run"]),
    "warm-start-other-objectives": Case(
        with_options("--warm-start-from", "mo", "--warm-start-storage", "sqlite:///mo.db"),
        ["--warm-start-from mo", "maximize, minimize", "this one to maximize"],
    ),
    # Stopping (issue 15).
    "patience-zero": Case(with_options("--patience", "0"), ["--patience must be at least 1, got 0"]),
    "patience-negative": Case(with_options("--patience", "-3"), ["--patience must be at least 1, got -3"]),
    "patience-text": Case(with_options("--patience", "ten"), ["'ten' is not a valid integer"]),
    "target-text": Case(with_options("--target", "high"), ["--target", "'high'"]),
    "target-infinite": Case(with_options("--target", "inf"), ["--target must be a finite number"]),
    "target-with-two-objectives": Case(with_options(*TWO, "--target", "0.9"), ["--target needs a single objective"]),
    "terminator-with-two-objectives": Case(
        with_options(*TWO, "--terminator"), ["--terminator needs a single objective"]
    ),
    # Metrics from framework logs (issue 17).
    "metrics-from-unknown": Case(with_options("--metrics-from", "cvs"), ["--metrics-from 'cvs' is unknown", "csv"]),
    "metrics-from-regex-bad-pattern": Case(
        with_options("--metrics-from", "regex:acc=(?P<acc>[0-9.]+"), ["regex:acc=(?P<acc>[0-9.]+", "not a regular"]
    ),
    "metrics-from-regex-without-group": Case(
        with_options("--metrics-from", "regex:acc=([0-9.]+)"), ["regex:acc=([0-9.]+)", "name each value with a group"]
    ),
    "metrics-from-regex-empty": Case(with_options("--metrics-from", "regex:"), ["--metrics-from regex:"]),
    "metrics-file-unknown-placeholder": Case(
        with_options("--metrics-file", "{serialization_dir}/{epoch}.jsonl"), ["unknown placeholder {epoch}"]
    ),
    "metrics-file-empty": Case(with_options("--metrics-file", ""), ["--metrics-file is empty"]),
    "metrics-from-and-file": Case(
        with_options("--metrics-from", "csv", "--metrics-file", "log.jsonl"), ["name two sources"]
    ),
    # Scripts that take flags, --preload, --trial-cwd (issue 17).
    "preload-not-installed": Case(with_options("--preload", "no_such_module_here"), ["no_such_module_here"]),
    "preload-empty": Case(with_options("--preload", ""), ["--preload"]),
    "trial-cwd-unknown": Case(with_options("--trial-cwd", "here"), ["'here' is not one of 'tune', 'trial'"]),
    "space-without-command": Case(
        ["run", "--space", "flags.json", "--storage", "sqlite:///t.db"],
        ["no CONFIG for the search space flags.json", "--command with a placeholder for each parameter"],
        SCRIPT_FILES,
    ),
    "space-empty": Case(["run", "--space", "", "--command", FLAGS], ["--space is empty"]),
    "space-without-metric": Case(
        [*SCRIPT_RUN, "--command", FLAGS],
        ["no objective: pass --metric (a metric your script reports) and --direction"],
        SCRIPT_FILES,
    ),
    "space-positional-without-command": Case(
        ["run", "flags.json", "--storage", "sqlite:///t.db"],
        ["Missing argument 'SEARCH_SPACE'", "tune SPACE --command"],
        SCRIPT_FILES,
    ),
    "script-unknown-placeholder": Case(
        script_run(FLAGS.replace("{hidden}", "{hiden}")), ["unknown placeholder {hiden}"], SCRIPT_FILES
    ),
    "script-not-found": Case(
        script_run(FLAGS.replace(SCRIPT, "trian.py")), ["script 'trian.py' not found"], SCRIPT_FILES
    ),
    "script-with-ext-var": Case(script_run(FLAGS, "--ext-var", "a=1"), ["--ext-var"], SCRIPT_FILES),
    "script-space-and-positional-space": Case(
        [*script_run(FLAGS)[:1], "flags.json", "flags.json", *script_run(FLAGS)[1:]], ["not both"], SCRIPT_FILES
    ),
    # tune status and tune storage-proxy (issue 18).
    "status-unknown-study": Case(
        ["status", "--storage", "sqlite:///t.db", "--study-name", "qaud"], ["no study 'qaud'", "did you mean 'quad'"]
    ),
    "status-no-storage-here": Case(["status"], ["no study storage at tune.db"]),
    "status-missing-file": Case(["status", "--storage", "sqlite:///missing.db"], ["no study storage at missing.db"]),
    "status-unreachable": Case(
        ["status", "--storage", postgres("127.0.0.1:1/db")], ["postgresql://tuner:***@127.0.0.1:1/db"]
    ),
    "proxy-no-storage": Case(["storage-proxy"], ["--storage"]),
    "proxy-in-memory": Case(["storage-proxy", "--storage", "sqlite:///:memory:"], ["in-memory SQLite"]),
    "proxy-of-a-proxy": Case(["storage-proxy", "--storage", "grpc://localhost:13000"], ["not another proxy"]),
    "proxy-journal": Case(["storage-proxy", "--storage", "journal:run.log"], ["journal"]),
    "proxy-port-zero": Case(["storage-proxy", "--storage", "sqlite:///t.db", "--port", "0"], ["--port", "0"]),
    "proxy-port-text": Case(["storage-proxy", "--storage", "sqlite:///t.db", "--port", "http"], ["--port", "'http'"]),
    "proxy-unknown-host": Case(
        ["storage-proxy", "--storage", "sqlite:///t.db", "--host", "no-such-host.invalid"],
        ["--host no-such-host.invalid: cannot resolve it"],
    ),
}


def test_the_catalogue_covers_every_new_option() -> None:
    given = {word for case in CASES.values() for word in case.args if word.startswith("--")}
    new_options = {"--prune-on", "--constraint", "--enqueue", "--warm-start-from", "--warm-start-storage"}
    new_options |= {"--patience", "--target", "--terminator", "--metrics-from", "--metrics-file", "--preload"}
    new_options |= {"--trial-cwd", "--space", "--host", "--port"}
    assert new_options <= given


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_naming_it_and_changes_nothing_stored(project: Path, case: Case) -> None:
    assert_refused_in_one_line(project, case)


@pytest.mark.parametrize(
    ("metric", "direction"),
    [(["best_validation_accuracy", "validation_loss"], ["maximize"]), (["best_validation_accuracy"], ["maximize"] * 2)],
)
def test_the_api_refuses_unpaired_objectives_naming_both_counts(project: Path, metric: list, direction: list) -> None:
    before = snapshot(project)

    with pytest.raises(TunerError, match=rf"got {len(metric)} --metric .* and {len(direction)} --direction"):
        tune(
            config="quad.jsonnet",
            search_space="space.json",
            storage="sqlite:///t.db",
            study_name="quad",
            command=COMMAND,
            serialization_dir="results/quad",
            metric=metric,
            direction=direction,
            n_trials=3,
        )

    assert snapshot(project) == before


def fresh(*options: str) -> list[str]:
    """RUN's options on a new study 'fresh' (its own results folder), with ``options``."""
    return [*RUN, *options, "--study-name", "fresh", "-s", "results/fresh"]


def test_a_constraint_on_a_metric_no_trial_reports_stops_the_run_after_the_first_trial(project: Path) -> None:
    result = CliRunner().invoke(main, fresh("--constraint", "param_cont<=1e6"))

    assert result.exit_code == 1, result.output  # trials ran and failed: the run gave up (exit 2 is for nothing run)
    assert "Traceback" not in result.output
    trials = optuna.load_study(study_name="fresh", storage="sqlite:///t.db").trials
    assert [trial.state.name for trial in trials] == ["FAIL"]  # of the 3 asked for, only the first ran
    reason = "--constraint 'param_cont<=1e+06': metric 'param_cont' was not reported (metrics seen: "
    assert trials[0].user_attrs["reason"].startswith(reason)
    finished = [line for line in result.output.splitlines() if line.startswith("Finished: ")]
    assert len(finished) == 1 and finished[0].startswith(f"Finished: {reason}"), result.output
    assert "fix --constraint (every trial would fail the same way)" in finished[0]


def test_a_constraint_with_a_sampler_that_ignores_it_is_one_note_and_the_run_goes_on(project: Path) -> None:
    options = ["--constraint", "best_validation_accuracy>=0", "--sampler", "random"]
    result = CliRunner().invoke(main, fresh(*options, "--n-trials", "1"))

    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    note = "note: RandomSampler does not use constraints when sampling (TPE, NSGA-II and GP do); "
    assert notes == [note + "infeasible trials are still marked and kept off the best config and the Pareto front"]
    assert len(optuna.load_study(study_name="fresh", storage="sqlite:///t.db").trials) == 1


def test_a_script_parameter_without_a_placeholder_is_one_warning_and_the_run_goes_on(project: Path) -> None:
    (project / "flags.json").write_text(json.dumps(SCRIPT_SPACE))
    (project / SCRIPT).write_text(REPORTING_SCRIPT)
    command = FLAGS.replace(" --hidden {hidden}", "")
    result = CliRunner().invoke(main, script_run(command, "--n-trials", "1"))

    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    expected = "warning: parameter 'hidden' has no {hidden} in --command: the script gets it only as "
    assert warned == [expected + "$TUNER_PARAM_HIDDEN and in $TUNER_PARAMS"]
    (trial,) = optuna.load_study(study_name="flags", storage="sqlite:///t.db").trials
    assert trial.state.name == "COMPLETE" and set(trial.params) == {"lr", "hidden"}
