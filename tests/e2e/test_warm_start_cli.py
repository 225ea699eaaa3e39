"""`tune run` with --enqueue, --warm-start-from, --patience and --target: real studies, real trial processes."""

from __future__ import annotations

import json

import optuna
import pytest

STORAGE = "sqlite:///t.db"


@pytest.fixture
def run(study_files, tune_cli, quadratic_command):
    """``run(*options)``: `tune run` of the quadratic trainer (x in [0, 6], best 1.0 at x = 3) in tmp_path."""
    files = study_files()

    def invoke(*options: str, study: str = "quad"):
        base = ["run", *files, "--command", quadratic_command, "--storage", STORAGE, "--pruner", "none"]
        return tune_cli(*base, "--study-name", study, "--seed", "0", *options)

    return invoke


def load(name: str = "quad") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=STORAGE)


def own_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [trial for trial in study.trials if "warm_start_from" not in trial.user_attrs]


def test_enqueued_values_run_first_and_a_rerun_does_not_enqueue_them_again(run, tmp_path):
    (tmp_path / "first.json").write_text(json.dumps([{"x": 3.0}, {"x": 1.5}]))
    result = run("--n-trials", "3", "--enqueue", "first.json")
    assert result.exit_code == 0, result.output
    assert "Enqueued 2 trials to run first." in result.output
    trials = load().trials
    assert [trial.params["x"] for trial in trials[:2]] == [3.0, 1.5]
    assert [trial.user_attrs.get("enqueued", False) for trial in trials] == [True, True, False]

    again = run("--n-trials", "4", "--enqueue", "first.json")
    assert again.exit_code == 0, again.output
    assert "Enqueued 0 trials to run first (2 already enqueued, not again)." in again.output
    assert [trial.user_attrs.get("enqueued", False) for trial in load().trials] == [True, True, False, False]


def test_the_best_config_of_one_study_runs_first_in_another(run, tmp_path):
    assert run("--n-trials", "3").exit_code == 0
    best = load().best_trial
    (best_config,) = tmp_path.glob("results/quad*/best_config.json")
    result = run("--n-trials", "1", "--enqueue", str(best_config), study="other")
    assert result.exit_code == 0, result.output
    first = load("other").trials[0]
    assert first.params == best.params and first.user_attrs["enqueued"] is True
    assert first.value == best.value


def test_a_warm_start_informs_the_study_without_counting_and_is_added_once(run):
    assert run("--n-trials", "4", study="earlier").exit_code == 0
    result = run("--n-trials", "2", "--warm-start-from", "earlier", study="later")
    assert result.exit_code == 0, result.output
    assert "Warm start: 4 trials of study 'earlier' added;" in result.output
    assert "the study has its 2 trials" in result.output
    later = load("later")
    assert len(later.trials) == 6 and len(own_trials(later)) == 2
    assert sorted(t.user_attrs["warm_start_trial"] for t in later.trials if t.user_attrs.get("warm_start_from")) == [
        0,
        1,
        2,
        3,
    ]

    again = run("--n-trials", "3", "--warm-start-from", "earlier", study="later")
    assert again.exit_code == 0, again.output
    assert "0 trials of study 'earlier' added (4 added by an earlier run)" in again.output
    assert len(load("later").trials) == 7


def test_patience_stops_the_study_and_a_rerun_continues_counting(run, tmp_path):
    # Trial 0 finds the best (x = 3); the next two are worse, so patience 2 runs out after trial 2.
    (tmp_path / "order.json").write_text(json.dumps([{"x": 3.0}, {"x": 0.5}, {"x": 5.0}, {"x": 2.9}]))
    result = run("--n-trials", "10", "--patience", "2", "--enqueue", "order.json")
    assert result.exit_code == 0, result.output
    assert "Finished: --patience 2: no better value in the last 2 completed trials" in result.output
    assert "than trial 0's 1;" in result.output
    assert len(load().trials) == 4  # trial 3 still waits in the queue
    assert [trial.state.name for trial in load().trials].count("COMPLETE") == 3

    again = run("--n-trials", "10", "--patience", "2", "--enqueue", "order.json")
    assert again.exit_code == 0, again.output
    assert "Finished: --patience 2" in again.output and "this run: 0 complete" in again.output


def test_target_stops_once_a_trial_reaches_it_also_on_a_rerun(run, tmp_path):
    (tmp_path / "order.json").write_text(json.dumps([{"x": 0.0}, {"x": 3.0}, {"x": 2.0}]))
    result = run("--n-trials", "10", "--target", "0.9", "--enqueue", "order.json")
    assert result.exit_code == 0, result.output
    assert "Finished: --target 0.9 reached: trial 1 has 1; this run: 2 complete" in result.output

    again = run("--n-trials", "10", "--target", "0.9")
    assert "Finished: --target 0.9 reached: trial 1 has 1; this run: 0 complete" in again.output


BAD_INPUTS = {
    "unknown-parameter": (["--enqueue", "bad.json"], {"y": 1.0}, "unknown parameter 'y'"),
    "out-of-range": (["--enqueue", "bad.json"], {"x": 7.5}, "x=7.5 is above the search space's high 6"),
    "not-a-choice": (["--enqueue", "bad.json"], [{"x": 1.0}, {"x": "three"}], 'entry 2: x="three" is not a finite'),
    "no-such-study": (["--warm-start-from", "nope"], None, "--warm-start-from: no study 'nope' in"),
    "no-such-storage": (
        ["--warm-start-from", "quad", "--warm-start-storage", "sqlite:///missing.db"],
        None,
        "no study storage at missing.db",
    ),
    "patience-zero": (["--patience", "0"], None, "--patience must be at least 1, got 0"),
    "target-nan": (["--target", "nan"], None, "--target must be a finite number"),
    "storage-alone": (["--warm-start-storage", STORAGE], None, "give --warm-start-from STUDY too"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_changes_no_stored_study(run, tmp_path, case):
    assert run("--n-trials", "2").exit_code == 0
    before = [(trial.number, trial.state, trial.params) for trial in load().trials]
    options, enqueue, message = BAD_INPUTS[case]
    if enqueue is not None:
        (tmp_path / "bad.json").write_text(json.dumps(enqueue))
    for study in ("quad", "fresh"):
        result = run("--n-trials", "4", *options, study=study)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert result.output.count("Error:") == 1
    assert [(trial.number, trial.state, trial.params) for trial in load().trials] == before
    assert optuna.get_all_study_names(STORAGE) == ["quad"]
    assert not (tmp_path / "missing.db").exists()
