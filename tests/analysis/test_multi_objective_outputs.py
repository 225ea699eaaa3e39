"""What a study of several objectives leaves a user: `tune export`, `TuneResult.save_to_directory`,
`tune plot` (per objective, the Pareto front, the prune-on objective's learning curves) and `tune status`.

Every study is made by running `tune` (in-process CLI or the API, trials as real subprocesses) on the
two-objective test trainer: accuracy peaks at x = 3, size = 10 x + 1 grows with x.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from tests.conftest import invoke_tune

TRAINER = Path(__file__).parents[1] / "e2e" / "multi_objective_trainer.py"
COMMAND = f"{sys.executable} {TRAINER} {{config}} {{serialization_dir}}"
CONFIG = "{\n  x: std.parseJson(std.extVar('x')),\n  epochs: 3,\n}\n"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 6.0}}
TWO = ["--metric", "best_validation_accuracy", "--direction", "maximize", "--metric", "size", "--direction", "minimize"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_project(folder: Path, *extra: str, n_trials: int = 8) -> Path:
    """``folder`` with tune.db holding study 'mo', made by a real `tune` run of the two-objective trainer."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mo.jsonnet").write_text(CONFIG)
    (folder / "space.json").write_text(json.dumps(SPACE))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        args = ["mo.jsonnet", "space.json", "--command", COMMAND, "--n-trials", str(n_trials), "--seed", "0"]
        result = invoke_tune(*args, *TWO, *extra)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def two_objective(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("two"))


@pytest.fixture(scope="module")
def constrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("constrained"), "--constraint", "size<=31", "--pruner", "none")


@pytest.fixture
def inside(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory: the project of the fixture named by the test's ``project`` parameter."""
    folder = request.getfixturevalue(request.param)
    monkeypatch.chdir(folder)
    yield folder


def load(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name="mo", storage=f"sqlite:///{folder / 'tune.db'}")


def front_numbers(study: optuna.Study) -> list[int]:
    return sorted(trial.number for trial in study.best_trials)


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))


@pytest.mark.parametrize("inside", ["two_objective"], indirect=True)
def test_export_writes_the_front_and_every_objective_instead_of_a_best_config(inside: Path, tmp_path: Path) -> None:
    study = load(inside)
    front = front_numbers(study)
    assert 0 < len(front) < len(study.trials)

    result = invoke_tune("export", "-o", str(tmp_path / "shared"), "--no-plots")

    assert result.exit_code == 0, result.output
    shared = tmp_path / "shared"
    assert not (shared / "best_config.json").exists()
    assert "pareto/front.tsv" in result.output and "best_config.json" not in result.output
    rows = read_table(shared / "trials.tsv")
    assert {"value_best_validation_accuracy", "value_size", "pareto"} <= set(rows[0])
    assert sorted(int(row["number"]) for row in rows if row["pareto"] == "True") == front
    for row, trial in zip(rows, study.trials):
        if trial.state.name == "COMPLETE":
            assert float(row["value_best_validation_accuracy"]) == trial.values[0]
            assert float(row["value_size"]) == trial.values[1]
    configs = sorted(int(path.stem.removeprefix("trial_")) for path in (shared / "pareto").glob("trial_*.json"))
    assert configs == front
    for number in front:
        ran = json.loads((inside / "results" / "mo" / f"trial_{number}" / "config.json").read_text())
        assert json.loads((shared / "pareto" / f"trial_{number}.json").read_text()) == ran
    lines = (shared / "pareto" / "front.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["number", "best_validation_accuracy", "size"]
    assert [int(line.split("\t")[0]) for line in lines[1:]] == front


@pytest.mark.parametrize("inside", ["two_objective"], indirect=True)
def test_export_summary_names_the_objectives_the_front_and_each_best(inside: Path, tmp_path: Path) -> None:
    study = load(inside)
    on_front = [trial for trial in study.trials if trial.number in front_numbers(study)]

    assert invoke_tune("export", "-o", "shared", "--no-plots").exit_code == 0

    summary = json.loads((inside / "shared" / "study.json").read_text())
    assert summary["direction"] is None and summary["best_trial"] is None
    assert summary["objectives"] == [
        {"metric": "best_validation_accuracy", "direction": "maximize"},
        {"metric": "size", "direction": "minimize"},
    ]
    assert summary["prune_on"] == "best_validation_accuracy"
    assert [entry["number"] for entry in summary["pareto_front"]] == [trial.number for trial in on_front]
    assert summary["pareto_front"][0]["values"] == {
        "best_validation_accuracy": on_front[0].values[0],
        "size": on_front[0].values[1],
    }
    most_accurate = max(on_front, key=lambda trial: trial.values[0])
    smallest = min(on_front, key=lambda trial: trial.values[1])
    assert summary["best_per_objective"] == {
        "best_validation_accuracy": {"number": most_accurate.number, "value": most_accurate.values[0]},
        "size": {"number": smallest.number, "value": smallest.values[1]},
    }


@pytest.mark.parametrize("inside", ["two_objective"], indirect=True)
def test_export_draws_the_front_and_one_plot_per_objective_where_optuna_plots_one_value(
    inside: Path, tmp_path: Path
) -> None:
    result = invoke_tune("export", "-o", str(tmp_path / "shared"))

    assert result.exit_code == 0, result.output
    plots = {path.name: path for path in (tmp_path / "shared" / "plots").iterdir()}
    for stem in ("optimization_history", "slice", "parallel_coordinate"):
        assert {f"{stem}_best_validation_accuracy.png", f"{stem}_size.png"} <= set(plots), sorted(plots)
        assert f"{stem}.png" not in plots
    assert {"pareto_front.png", "param_importances.png", "intermediate_values.png", "timeline.png"} <= set(plots)
    assert all(path.read_bytes()[:8] == PNG_MAGIC for path in plots.values())
    assert "plots/pareto_front.png" in result.output


@pytest.mark.parametrize("inside", ["two_objective"], indirect=True)
def test_plot_lists_each_objective_and_labels_the_curves_with_the_prune_on_metric(inside: Path) -> None:
    study = load(inside)
    with_epochs = [trial.number for trial in study.trials if trial.user_attrs.get("prune_values")]
    assert with_epochs and not any(trial.intermediate_values for trial in study.trials)  # Optuna keeps none

    result = invoke_tune("plot", "history", "intermediate", "pareto", "-o", "shown")

    assert result.exit_code == 0, result.output
    assert "history (best_validation_accuracy)" in result.output and "history (size)" in result.output
    assert "left out" not in result.output
    html = (inside / "shown" / "intermediate_values.html").read_text()
    assert '"yaxis":{"title":{"text":"best_validation_accuracy (per epoch)"}}' in html
    pruned = {trial.number for trial in study.trials if trial.state.name == "PRUNED"}
    names = [f'"name":"trial {number}{" (pruned)" if number in pruned else ""}"' for number in with_epochs]
    assert all(name in html for name in names), names
    history = (inside / "shown" / "optimization_history_size.html").read_text()
    assert '"yaxis":{"title":{"text":"size"}}' in history
    drawn = json.loads(history.split('"y":', 1)[1].split("]", 1)[0] + "]")  # the first curve: each trial's value
    assert drawn == [trial.values[1] for trial in study.trials if trial.state.name == "COMPLETE"]
    assert (inside / "shown" / "pareto_front.html").stat().st_size > 5000


def test_curves_of_a_prune_on_objective_with_no_per_epoch_values_are_left_out_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_project(tmp_path / "by-size", "--prune-on", "size", n_trials=3)
    monkeypatch.chdir(folder)

    result = invoke_tune("plot", "intermediate", "pareto", "-o", "shown")

    assert result.exit_code == 0, result.output
    assert "intermediate  left out: no trial reported per-epoch values of size" in result.output
    assert (folder / "shown" / "pareto_front.html").is_file()
    assert not (folder / "shown" / "intermediate_values.html").exists()


@pytest.mark.parametrize("inside", ["constrained"], indirect=True)
def test_export_of_a_constrained_study_marks_infeasible_trials_and_keeps_them_off_the_front(
    inside: Path, tmp_path: Path
) -> None:
    study = load(inside)
    infeasible = {trial.number for trial in study.trials if trial.state.name == "COMPLETE" and trial.params["x"] > 3}
    assert infeasible and front_numbers(study)

    result = invoke_tune("export", "-o", str(tmp_path / "shared"), "--plot-format", "html")

    assert result.exit_code == 0, result.output
    shared = tmp_path / "shared"
    rows = read_table(shared / "trials.tsv")
    assert {int(row["number"]) for row in rows if row["feasible"] == "False"} == infeasible
    assert not any(row["pareto"] == "True" for row in rows if int(row["number"]) in infeasible)
    assert sorted(int(row["number"]) for row in rows if row["pareto"] == "True") == front_numbers(study)
    on_front = {int(line.split("\t")[0]) for line in (shared / "pareto" / "front.tsv").read_text().splitlines()[1:]}
    assert on_front == set(front_numbers(study)) and on_front.isdisjoint(infeasible)
    summary = json.loads((shared / "study.json").read_text())
    complete = sum(1 for trial in study.trials if trial.state.name == "COMPLETE")
    assert summary["constraints"] == {
        "names": ["size<=31"],
        "feasible": complete - len(infeasible),
        "infeasible": len(infeasible),
    }
    assert (shared / "plots" / "pareto_front.html").stat().st_size > 5000


def test_save_to_directory_of_a_two_objective_result_writes_the_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.api import tune

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mo.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    result = tune(
        config="mo.jsonnet",
        search_space="space.json",
        command=COMMAND,
        n_trials=5,
        metric=["best_validation_accuracy", "size"],
        direction=["maximize", "minimize"],
        seed=0,
        storage="sqlite:///api.db",
    )

    export = result.save_to_directory(tmp_path / "saved", plots=False)

    saved = tmp_path / "saved"
    front = sorted(trial.number for trial in result.pareto_trials)
    assert front and not (saved / "best_config.json").exists()
    assert sorted(path.name for path in export.files) == sorted(
        ["trials.tsv", "study.json", "front.tsv", *(f"trial_{number}.json" for number in front)]
    )
    rows = read_table(saved / "trials.tsv")
    assert sorted(int(row["number"]) for row in rows if row["pareto"] == "True") == front
    assert [entry["number"] for entry in json.loads((saved / "study.json").read_text())["pareto_front"]] == front


@pytest.mark.parametrize("inside", ["two_objective"], indirect=True)
def test_status_shows_the_front_size_and_each_objectives_best(inside: Path) -> None:
    study = load(inside)
    on_front = [trial for trial in study.trials if trial.number in front_numbers(study)]
    most_accurate = max(on_front, key=lambda trial: trial.values[0])
    smallest = min(on_front, key=lambda trial: trial.values[1])

    table = invoke_tune("status")
    data = invoke_tune("status", "--format", "json")

    assert table.exit_code == 0 and data.exit_code == 0, table.output + data.output
    line = table.output.splitlines()[0]
    assert "(maximize best_validation_accuracy, minimize size)" in line
    assert f"Pareto front {len(on_front)}: " in line
    assert f"best_validation_accuracy {most_accurate.values[0]:.6g} (trial {most_accurate.number})" in line
    assert f"size {smallest.values[1]:.6g} (trial {smallest.number})" in line
    assert "best trial" not in line
    status = json.loads(data.stdout)
    assert status["best"] is None and status["pareto_front_size"] == len(on_front)
    assert status["objectives"] == [
        {
            "metric": "best_validation_accuracy",
            "direction": "maximize",
            "best": {"number": most_accurate.number, "value": most_accurate.values[0]},
        },
        {"metric": "size", "direction": "minimize", "best": {"number": smallest.number, "value": smallest.values[1]}},
    ]
