"""Pruning in a study of several objectives: Optuna's pruners judge the prune-on objective's epochs.

Real Optuna studies in SQLite, real pruners; trials are driven with ask/tell as the runner does, and
their epochs reported through tuner.trials.prune_judge as TrialRun reports them.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tuner.study.records import remember_prune_on
from tuner.trials.prune_judge import prune_values, report, should_prune

GOOD_CURVE = [0.6, 0.8, 0.9]


def two_objective_study(tmp_path: Path, pruner: optuna.pruners.BasePruner, prune_index: int = 0) -> optuna.Study:
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'mo.db'}",
        study_name="mo",
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
        pruner=pruner,
    )
    remember_prune_on(study, ["accuracy", "loss"][prune_index], prune_index)
    return study


def complete_trials(study: optuna.Study, count: int, curve: list[float] = GOOD_CURVE) -> None:
    """``count`` trials that ran every epoch of ``curve`` and completed (with a second, conflicting value)."""
    for index in range(count):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        for step, value in enumerate(curve):
            report(trial, value + 0.01 * index, step)
            assert not should_prune(trial)
        study.tell(trial, [curve[-1] + 0.01 * index, 10.0 - index])


def test_a_clearly_bad_trial_is_pruned_by_the_median_of_the_prune_on_objective(tmp_path: Path) -> None:
    study = two_objective_study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=5))
    complete_trials(study, 5)

    bad = study.ask()
    report(bad, 0.05, 0)

    assert should_prune(bad)
    assert prune_values(study.get_trials(deepcopy=False)[bad.number]) == {0: 0.05}


def test_a_good_trial_is_not_pruned_and_none_is_before_the_startup_trials(tmp_path: Path) -> None:
    study = two_objective_study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=5))
    complete_trials(study, 4)
    early_bad = study.ask()
    report(early_bad, 0.05, 0)
    assert not should_prune(early_bad)  # 4 completed trials: still within n_startup_trials
    study.tell(early_bad, [0.05, 1.0])

    good = study.ask()
    report(good, 0.99, 0)

    assert not should_prune(good)


def test_pruning_follows_the_direction_of_the_prune_on_objective(tmp_path: Path) -> None:
    study = two_objective_study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=5), prune_index=1)
    complete_trials(study, 5, curve=[0.5, 0.4, 0.3])  # a loss: lower is better

    low = study.ask()
    report(low, 0.1, 0)
    high = study.ask()
    report(high, 0.9, 0)

    assert not should_prune(low)
    assert should_prune(high)


@pytest.mark.parametrize(
    "pruner",
    [
        optuna.pruners.PercentilePruner(25.0, n_startup_trials=5),
        optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
        optuna.pruners.ThresholdPruner(lower=0.2),
        optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(n_startup_trials=5), patience=0),
    ],
    ids=["percentile", "successive-halving", "threshold", "patient"],
)
def test_any_optuna_pruner_prunes_a_clearly_bad_trial(tmp_path: Path, pruner: optuna.pruners.BasePruner) -> None:
    study = two_objective_study(tmp_path, pruner)
    complete_trials(study, 6)

    bad = study.ask()
    for step, value in enumerate([0.05, 0.04, 0.03]):  # far below, and getting worse
        report(bad, value, step)
        if should_prune(bad):
            break
    else:
        pytest.fail(f"{type(pruner).__name__} never pruned a trial far below every other")


def test_successive_halving_rungs_are_stored_on_the_real_trials(tmp_path: Path) -> None:
    study = two_objective_study(tmp_path, optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2))
    complete_trials(study, 3)

    rungs = [key for trial in study.get_trials(deepcopy=False) for key in trial.system_attrs if "rung" in key]

    assert rungs, "the rung records of successive halving stayed on the shadow study"


def test_tpe_samples_on_after_pruned_trials_of_a_two_objective_study(tmp_path: Path) -> None:
    study = two_objective_study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=2))
    complete_trials(study, 3)
    for _ in range(3):
        bad = study.ask()
        bad.suggest_float("x", 0.0, 1.0)
        report(bad, 0.01, 0)
        assert should_prune(bad)
        study.tell(bad, state=optuna.trial.TrialState.PRUNED)

    following = study.ask()  # TPE reads pruned trials' intermediate values as single-objective: none are there
    following.suggest_float("x", 0.0, 1.0)

    assert all(not trial.intermediate_values for trial in study.get_trials(deepcopy=False))


def test_one_objective_still_uses_optunas_own_report(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'so.db'}", direction="maximize")
    trial = study.ask()

    report(trial, 0.5, 0)

    assert study.get_trials(deepcopy=False)[0].intermediate_values == {0: 0.5}
    assert not should_prune(trial)
