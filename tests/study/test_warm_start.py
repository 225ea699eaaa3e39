"""--warm-start-from: an earlier study's fitting finished trials, read from a real SQLite storage and added once."""

from __future__ import annotations

import optuna
import pytest

from tuner.errors import OptionError
from tuner.space.parse import parse_search_space
from tuner.study.records import ATTR_WARM_START_FROM, ATTR_WARM_START_TRIAL
from tuner.study.warm_start import WarmStartWarning, find_warm_start, fitting_params, seed_study

SPACE = parse_search_space(
    {
        "x": {"type": "float", "low": 0.0, "high": 6.0},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99, "condition": {"optimizer": "sgd"}, "default": 0.0},
    }
)
WIDE = {
    "x": optuna.distributions.FloatDistribution(-10.0, 10.0),
    "optimizer": optuna.distributions.CategoricalDistribution(["sgd", "adam", "rmsprop"]),
    "momentum": optuna.distributions.FloatDistribution(0.0, 0.99),
}


@pytest.fixture
def storage(tmp_path) -> str:
    """An SQLite storage holding study 'earlier' (maximize): 3 complete trials that fit, 2 that do not,
    1 pruned that fits and 1 failed."""
    url = f"sqlite:///{tmp_path / 'earlier.db'}"
    study = optuna.create_study(study_name="earlier", storage=url, direction="maximize")
    rows = [
        ({"x": 1.0, "optimizer": "adam"}, 0.5),
        ({"x": 3.0, "optimizer": "sgd", "momentum": 0.9}, 0.9),
        ({"x": 2.0, "optimizer": "adam"}, 0.7),
        ({"x": 8.0, "optimizer": "adam"}, 0.1),  # x out of the current range
        ({"x": 2.5, "optimizer": "rmsprop"}, 0.6),  # not a current choice
    ]
    for params, value in rows:
        distributions = {name: WIDE[name] for name in params}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    pruned = optuna.trial.create_trial(
        params={"x": 4.0, "optimizer": "adam"},
        distributions={"x": WIDE["x"], "optimizer": WIDE["optimizer"]},
        state=optuna.trial.TrialState.PRUNED,
        intermediate_values={0: 0.2, 1: 0.3},
    )
    study.add_trial(pruned)
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 5.0, "optimizer": "adam"},
            distributions={"x": WIDE["x"], "optimizer": WIDE["optimizer"]},
            state=optuna.trial.TrialState.FAIL,
        )
    )
    return url


def find(storage: str, name: str = "earlier", directions=("maximize",)):
    return find_warm_start(
        name,
        storage,
        study_name="now",
        own_storage_url=storage,
        space=SPACE,
        directions=directions,
        metric=None,
    )


def test_fitting_trials_are_kept_and_the_others_counted_with_one_warning(storage):
    with pytest.warns(
        WarmStartWarning, match=r"2 of its 6 complete and pruned trials do not fit.*trial 3: x=8.0 is above"
    ):
        warm = find(storage)
    assert [trial.user_attrs[ATTR_WARM_START_TRIAL] for trial in warm.trials] == [0, 1, 2, 5]
    assert warm.skipped == 2
    pruned = warm.trials[-1]
    assert pruned.state == optuna.trial.TrialState.PRUNED and pruned.intermediate_values == {0: 0.2, 1: 0.3}
    assert pruned.distributions["x"] == optuna.distributions.FloatDistribution(0.0, 6.0)  # the current space's


def test_the_trials_are_added_once_and_inform_the_sampler(storage):
    with pytest.warns(WarmStartWarning):
        warm = find(storage)
    study = optuna.create_study(direction="maximize")
    lines = seed_study(study, warm, [])
    assert lines == [
        (
            "Warm start: 4 trials of study 'earlier' added; 2 did not fit the search space; "
            "they inform the sampler and do not count towards --n-trials."
        )
    ]
    assert study.best_value == 0.9 and study.best_trial.user_attrs[ATTR_WARM_START_FROM] == "earlier"
    assert study.best_trial.params == {"x": 3.0, "optimizer": "sgd", "momentum": 0.9}

    again = seed_study(study, warm, [])
    assert "0 trials of study 'earlier' added (4 added by an earlier run)" in again[0]
    assert len(study.trials) == 4


def test_a_study_that_does_not_exist_is_one_line_listing_those_there(storage):
    with pytest.raises(
        OptionError,
        match=r"^--warm-start-from: no study 'earler' in .*\(did you mean 'earlier'\?\); studies there: earlier$",
    ):
        find(storage, "earler")


def test_a_storage_that_does_not_exist_is_one_line(tmp_path):
    with pytest.raises(OptionError, match=r"^--warm-start-from earlier: no study storage at"):
        find(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_a_study_of_another_direction_or_the_study_itself_is_refused(storage):
    with pytest.raises(OptionError, match="that study is to maximize, this one to minimize"):
        find(storage, directions=("minimize",))
    with pytest.raises(OptionError, match="names the study being run"):
        find_warm_start(
            "now",
            storage,
            study_name="now",
            own_storage_url=storage,
            space=SPACE,
            directions=("maximize",),
            metric=None,
        )


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"x": 1.0, "optimizer": "adam", "y": 1}, "parameter 'y' is not in the search space"),
        ({"x": 1.0}, "it has no value for 'optimizer'"),
        ({"x": 1.0, "optimizer": "adam", "momentum": 0.5}, "'momentum' is inactive under its condition here"),
        ({"x": 1.0, "optimizer": "sgd"}, "it has no value for 'momentum'"),
        ({"x": -1.0, "optimizer": "sgd", "momentum": 0.5}, "x=-1.0 is below the search space's low 0"),
    ],
)
def test_parameters_fit_only_as_the_space_would_sample_them(params, problem):
    assert fitting_params(params, SPACE)[1] == problem


def test_fitting_parameters_come_back_in_the_space_kinds():
    assert fitting_params({"x": 2, "optimizer": "adam"}, SPACE) == ({"x": 2.0, "optimizer": "adam"}, None)
