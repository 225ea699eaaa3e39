"""Samplers and pruners by name, driven as tune drives them (ask/tell) on an in-memory Optuna study.

Complements the name-spelling tests in tests/e2e/test_api.py; nothing here starts a process.
"""

from __future__ import annotations

import itertools
from typing import Any

import optuna
import pytest

from tuner.errors import OptionError
from tuner.space.parse import parse_search_space
from tuner.study.samplers import build_pruner, build_sampler, parse_kwargs

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = parse_search_space(
    {
        "units": {"type": "int", "low": 1, "high": 3},
        "encoder": {"type": "categorical", "choices": ["cnn", "lstm"]},
    }
)


def ask_tell(study: optuna.Study, n: int) -> list[dict[str, Any]]:
    """Ask and tell ``n`` trials as the runner does; the values each one got."""
    seen = []
    for _ in range(n):
        trial = study.ask()
        seen.append(SPACE.suggest(trial))
        study.tell(trial, float(seen[-1]["units"]))
    return seen


# --- samplers -----------------------------------------------------------------------------------


def test_grid_by_name_covers_the_whole_space_once_and_says_when_it_is_done() -> None:
    sampler = build_sampler("grid", None, seed=0, space=SPACE)
    study = optuna.create_study(sampler=sampler)

    seen = ask_tell(study, 6)

    assert sorted((v["units"], v["encoder"]) for v in seen) == sorted(itertools.product([1, 2, 3], ["cnn", "lstm"]))
    assert sampler.is_exhausted(study)
    assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE  # ask/tell: the grid never stops the study itself


def test_a_given_grid_is_used_instead_of_the_whole_space() -> None:
    sampler = build_sampler(
        "GridSampler", {"search_space": {"units": [2], "encoder": ["lstm"]}}, seed=None, space=SPACE
    )

    assert ask_tell(optuna.create_study(sampler=sampler), 1) == [{"units": 2, "encoder": "lstm"}]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            {"units": [1, 2]},
            "--sampler-kwargs search_space lacks encoder; it needs a list of values for every parameter",
        ),
        (
            {"units": [1], "encoder": ["cnn"], "depth": [2]},
            (
                "--sampler-kwargs search_space names depth, not in the space; it needs a list of values for every "
                "parameter"
            ),
        ),
        (
            {"units": [], "encoder": ["cnn"]},
            "--sampler-kwargs search_space: 'units' must be a non-empty list of values, got []",
        ),
    ],
)
def test_a_given_grid_must_list_values_for_exactly_the_spaces_parameters(grid: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError) as raised:
        build_sampler("grid", {"search_space": grid}, seed=None, space=SPACE)

    assert str(raised.value) == message


def test_the_seed_makes_the_samples_repeat() -> None:
    def samples(seed: int) -> list[dict[str, Any]]:
        return ask_tell(optuna.create_study(sampler=build_sampler("random", None, seed=seed, space=SPACE)), 8)

    assert samples(3) == samples(3)
    assert samples(3) != samples(4)


def test_a_sampler_instance_is_used_as_given() -> None:
    sampler = optuna.samplers.RandomSampler(seed=1)

    assert build_sampler(sampler, {"ignored": True}, seed=5, space=SPACE) is sampler


def test_keyword_arguments_the_sampler_does_not_take_are_an_error_naming_them() -> None:
    with pytest.raises(OptionError, match=r"^cannot create sampler RandomSampler with \{\"n_startup\": 5\}: "):
        build_sampler("random", {"n_startup": 5}, seed=None, space=SPACE)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("randm", "unknown sampler 'randm' (did you mean 'random'?); available: "),
        ("nonsense", "unknown sampler 'nonsense'; available: "),
    ],
)
def test_an_unknown_sampler_lists_those_there_are(name: str, message: str) -> None:
    with pytest.raises(OptionError) as raised:
        build_sampler(name, None, seed=None, space=SPACE)

    assert str(raised.value).startswith(message)
    assert "tpe" in str(raised.value).split("available: ")[1].split(", ")


def test_a_sampler_that_is_neither_a_name_nor_a_sampler_is_an_error() -> None:
    with pytest.raises(OptionError, match=r"^sampler must be a name, an Optuna sampler class or instance, got 3$"):
        build_sampler(3, None, seed=None, space=SPACE)


# --- pruners ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("median", optuna.pruners.MedianPruner),
        ("MedianPruner", optuna.pruners.MedianPruner),
        ("successive-halving", optuna.pruners.SuccessiveHalvingPruner),
        ("none", optuna.pruners.NopPruner),
        ("off", optuna.pruners.NopPruner),
    ],
)
def test_pruners_by_name(name: str, kind: type) -> None:
    assert type(build_pruner(name, None)) is kind


def test_a_median_pruner_prunes_a_trial_worse_than_the_median_at_that_step() -> None:
    study = optuna.create_study(pruner=build_pruner("median", {"n_startup_trials": 2, "n_warmup_steps": 0}))
    for value in (1.0, 2.0):
        trial = study.ask()
        trial.report(value, step=0)
        study.tell(trial, value)

    worse = study.ask()
    worse.report(5.0, step=0)

    assert worse.should_prune()


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_patient_pruner_wraps_a_pruner_given_by_name() -> None:
    study = optuna.create_study(pruner=build_pruner("patient", {"wrapped_pruner": "median", "patience": 0}))
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        trial = study.ask()
        trial.report(value, step=0)
        trial.report(value, step=1)
        study.tell(trial, value)

    # Both stopped improving, so the patient pruner asks the median pruner, which spares the good one.
    worse, good = study.ask(), study.ask()
    for trial, values in ((worse, (9.0, 9.5)), (good, (0.5, 0.6))):
        for step, value in enumerate(values):
            trial.report(value, step=step)

    assert worse.should_prune()
    assert not good.should_prune()


def test_an_unknown_pruner_suggests_the_closest() -> None:
    with pytest.raises(OptionError, match=r"^unknown pruner 'hyperbnd' \(did you mean 'hyperband'\?\); available: "):
        build_pruner("hyperbnd", None)


# --- keyword arguments from the command line ----------------------------------------------------


def test_keyword_arguments_are_a_json_object() -> None:
    assert parse_kwargs('{"n_startup_trials": 5, "multivariate": true}', "--sampler-kwargs") == {
        "n_startup_trials": 5,
        "multivariate": True,
    }
    assert parse_kwargs(None, "--sampler-kwargs") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{n: 5}",
            "--pruner-kwargs is not valid JSON (Expecting property name enclosed in double quotes at column 2): {n: 5}",
        ),
        ("[5]", "--pruner-kwargs must be a JSON object like '{\"name\": value}', got [5]"),
    ],
)
def test_keyword_arguments_that_are_not_a_json_object_are_an_error(text: str, message: str) -> None:
    with pytest.raises(OptionError) as raised:
        parse_kwargs(text, "--pruner-kwargs")

    assert str(raised.value) == message
