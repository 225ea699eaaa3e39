"""Several objectives end to end: real `tune` runs (in-process CLI, trials as real subprocesses) of a
two-objective study, its Pareto files, show-trials, dump-best, constraints, pruning and resume rules."""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import optuna
import pytest

from tests.conftest import invoke_tune
from tuner.api import tune

TRAINER = Path(__file__).parent / "multi_objective_trainer.py"
COMMAND = f"{sys.executable} {TRAINER} {{config}} {{serialization_dir}}"
CONFIG = "{\n  x: std.parseJson(std.extVar('x')),\n  epochs: 3,\n}\n"
TWO = ["--metric", "best_validation_accuracy", "--direction", "maximize", "--metric", "size", "--direction", "minimize"]
RESULTS = Path("results/mo")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mo.jsonnet").write_text(CONFIG)
    space(tmp_path, 0.0, 6.0)
    return tmp_path


def space(folder: Path, low: float, high: float) -> None:
    (folder / "space.json").write_text(json.dumps({"x": {"type": "float", "low": low, "high": high}}))


def run(*extra: str, n_trials: int = 8) -> object:
    args = ["mo.jsonnet", "space.json", "--command", COMMAND, "--n-trials", str(n_trials), "--seed", "0", *extra]
    return invoke_tune(*args)


def load() -> optuna.Study:
    return optuna.load_study(study_name="mo", storage="sqlite:///tune.db")


def stored_rows(project: Path) -> list[tuple]:
    with closing(sqlite3.connect(project / "tune.db")) as connection:
        tables = ["trials", "trial_values", "trial_user_attributes", "study_user_attributes", "study_directions"]
        return [row for table in tables for row in connection.execute(f"SELECT * FROM {table}").fetchall()]


def front_numbers(study: optuna.Study) -> list[int]:
    return sorted(trial.number for trial in study.best_trials)


def test_a_two_objective_run_keeps_the_front_as_files_and_writes_no_best_config(project: Path) -> None:
    result = run(*TWO)

    assert result.exit_code == 0, result.output
    study = load()
    assert [direction.name for direction in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    front = front_numbers(study)
    assert front and len(front) < 8
    files = sorted(int(path.stem.removeprefix("trial_")) for path in (RESULTS / "pareto").glob("trial_*.json"))
    assert files == front
    for number in front:
        ran = json.loads((RESULTS / f"trial_{number}" / "config.json").read_text())
        assert json.loads((RESULTS / "pareto" / f"trial_{number}.json").read_text()) == ran
    lines = (RESULTS / "pareto" / "front.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["number", "best_validation_accuracy", "size"]
    assert [int(line.split("\t")[0]) for line in lines[1:]] == front
    assert not (RESULTS / "best_config.json").exists()
    assert f"Pareto front {len(front)}:" in result.output
    assert "pareto/trial_<N>.json" in result.output


def test_show_trials_marks_the_front_and_pareto_shows_only_it(project: Path) -> None:
    assert run(*TWO).exit_code == 0
    front = front_numbers(load())

    everything = json.loads(invoke_tune("show-trials", "--format", "json").stdout)
    only = json.loads(invoke_tune("show-trials", "--pareto", "--format", "json").stdout)
    table = invoke_tune("show-trials", "--pareto").output

    assert sorted(row["number"] for row in everything if row["pareto"]) == front
    assert sorted(row["number"] for row in only) == front
    assert all(row["value_best_validation_accuracy"] is not None and row["value_size"] for row in only)
    assert "best_validation_accuracy" in table and "size" in table and "front" in table
    csv_header = invoke_tune("show-trials", "--format", "csv").output.splitlines()[0].split(",")
    assert {"value_best_validation_accuracy", "value_size", "pareto"} <= set(csv_header)


def test_dump_best_needs_a_trial_with_several_objectives(project: Path, tmp_path: Path) -> None:
    assert run(*TWO).exit_code == 0
    number = front_numbers(load())[0]

    refused = invoke_tune("dump-best", "-o", "best.json")
    written = invoke_tune("dump-best", "--trial", str(number), "-o", "chosen.json")

    assert refused.exit_code == 2 and "no single best trial" in refused.output and "--trial N" in refused.output
    assert not (tmp_path / "best.json").exists()
    assert written.exit_code == 0, written.output
    ran = json.loads((RESULTS / f"trial_{number}" / "config.json").read_text())
    assert json.loads((tmp_path / "chosen.json").read_text()) == ran


@pytest.mark.parametrize(
    ("again", "fragment"),
    [
        (TWO[4:] + TWO[:4], "not (minimize size, maximize best_validation_accuracy)"),
        (TWO[:4], "has 2 objectives (maximize best_validation_accuracy, minimize size), not 1"),
        (TWO + ["--metric", "validation_accuracy", "--direction", "maximize"], "has 2 objectives"),
    ],
    ids=["other-order", "fewer", "more"],
)
def test_resuming_with_other_objectives_is_one_line_and_changes_nothing(
    project: Path, again: list[str], fragment: str
) -> None:
    assert run(*TWO, n_trials=3).exit_code == 0
    before = stored_rows(project)

    result = run(*again, n_trials=5)

    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fragment in errors[0], result.output
    assert "Traceback" not in result.output
    assert stored_rows(project) == before


def test_a_clearly_bad_trial_is_pruned_in_a_two_objective_study(project: Path) -> None:
    assert run(*TWO, n_trials=5).exit_code == 0  # x in [0, 6]: the median pruner needs 5 completed trials
    assert all(trial.state.name == "COMPLETE" for trial in load().trials)
    space(project, 40.0, 50.0)  # accuracy about 1/2000 of the others' at every epoch

    result = run(*TWO, n_trials=6)

    assert result.exit_code == 0, result.output
    bad = load().trials[5]
    assert bad.state.name == "PRUNED"
    assert bad.user_attrs["pruned_epoch"] == 0
    assert bad.user_attrs["prune_values"] == {"0": pytest.approx(1 / (1 + (bad.params["x"] - 3) ** 2) / 3)}
    assert "trial 5    pruned at epoch 0" in result.output


def test_prune_on_the_second_objective_needs_its_per_epoch_values(project: Path) -> None:
    result = run(*TWO, "--prune-on", "size", n_trials=6)

    assert result.exit_code == 0, result.output
    assert load().user_attrs["prune_on"] == {"metric": "size", "index": 1}
    assert all(trial.state.name == "COMPLETE" for trial in load().trials)  # size is in metrics.json only


def test_constraints_keep_infeasible_trials_off_the_front(project: Path) -> None:
    result = run(*TWO, "--constraint", "size<=31", "--pruner", "none")

    assert result.exit_code == 0, result.output
    study = load()
    complete = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    infeasible = {trial.number for trial in complete if trial.params["x"] > 3.0}
    assert infeasible and len(infeasible) < len(complete)
    assert all(trial.constraints == {"size<=31": pytest.approx(10 * trial.params["x"] + 1 - 31)} for trial in complete)
    assert set(front_numbers(study)).isdisjoint(infeasible)
    rows = json.loads(invoke_tune("show-trials", "--format", "json").stdout)
    assert {row["number"] for row in rows if row["feasible"] is False} == infeasible
    assert "infeasible" in result.output


def test_a_constraint_on_a_metric_no_trial_reports_fails_the_trials_naming_it(project: Path) -> None:
    result = run(*TWO, "--constraint", "param_count<=1e6", n_trials=2)

    assert result.exit_code == 1, result.output
    reasons = {trial.user_attrs["reason"] for trial in load().trials}
    expected = (
        "--constraint 'param_count<=1e+06': metric 'param_count' was not reported "
        "(metrics seen: best_validation_accuracy, size, validation_accuracy)"
    )
    assert reasons == {expected}


def test_a_constrained_single_objective_study_takes_its_best_config_from_feasible_trials(project: Path) -> None:
    single = ["--metric", "best_validation_accuracy", "--direction", "maximize", "--pruner", "none"]
    result = run(*single, "--constraint", "size<=33")  # x <= 3.2; the accuracy peaks at x = 3

    assert result.exit_code == 0, result.output
    best = load().best_trial
    assert best.params["x"] <= 3.2
    assert json.loads((RESULTS / "best_config.json").read_text())["x"] == best.params["x"]
    better = [trial for trial in load().trials if trial.value > best.value]
    assert better and all(trial.params["x"] > 3.2 for trial in better)


def test_the_api_and_a_study_config_take_lists_of_objectives(project: Path) -> None:
    (project / "study.json").write_text(
        json.dumps(
            {
                "tune": {
                    "config": "mo.jsonnet",
                    "search_space": "space.json",
                    "command": COMMAND,
                    "n_trials": 4,
                    "metric": ["best_validation_accuracy", "size"],
                    "direction": ["maximize", "minimize"],
                    "constraints": ["size<=50"],
                },
                "optuna": {"sampler": "nsgaii", "seed": 0},
            }
        )
    )
    from tuner.api import tune_from_path

    result = tune_from_path(project / "study.json")

    assert [trial.number for trial in result.pareto_trials] == front_numbers(result.study)
    assert result.pareto_dir == RESULTS / "pareto" and result.best_config is None
    assert type(result.study.sampler).__name__ == "NSGAIISampler"
    again = tune(
        config="mo.jsonnet",
        search_space="space.json",
        command=COMMAND,
        n_trials=5,
        metric=["best_validation_accuracy", "size"],
        direction=["maximize", "minimize"],
        sampler="gp",
        seed=0,
    )
    assert len(again.study.trials) == 5 and again.pareto_trials
