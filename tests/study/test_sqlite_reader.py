"""The SQLite reader gives exactly what Optuna's storage gives, on studies made by Optuna itself.

Every distribution kind, every trial state, values and curves with infinities and NaN, nested user
attributes, system attributes, conditional parameters, ties for the best trial; and it hands every
study it does not know (another schema revision, several objectives, constraints) back to Optuna.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
import time
import warnings
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    UniformDistribution,
)
from optuna.trial import TrialState, create_trial

from tuner.study import sqlite_reader
from tuner.study.sqlite_files import read_only_uri

FLOATS = {
    "plain": FloatDistribution(-2.0, 3.5),
    "log": FloatDistribution(1e-5, 1.0, log=True),
    "step": FloatDistribution(0.0, 1.0, step=0.125),
}
INTS = {
    "i": IntDistribution(-3, 40),
    "ilog": IntDistribution(1, 1024, log=True),
    "istep": IntDistribution(0, 60, step=4),
}
CHOICES = {
    "word": CategoricalDistribution(["relu", "tanh", "ünïcode"]),
    "mixed": CategoricalDistribution([None, True, False, 0, 1, 2.5, "1", 1.0]),
}


@pytest.fixture(autouse=True)
def away_from_utc(monkeypatch: pytest.MonkeyPatch):
    """Local time 3.5 hours behind UTC: stored times are UTC, shown ones local, as Optuna converts them."""
    monkeypatch.setenv("TZ", "America/St_Johns")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def objective(trial: optuna.Trial) -> float:
    """Samples every kind, a conditional branch, a curve, attributes; fails, prunes or completes."""
    x = trial.suggest_float("plain", -2.0, 3.5) + math.log(trial.suggest_float("log", 1e-5, 1.0, log=True))
    x += trial.suggest_float("step", 0.0, 1.0, step=0.125) + trial.suggest_int("i", -3, 40)
    x += trial.suggest_int("ilog", 1, 1024, log=True) / 100 + trial.suggest_int("istep", 0, 60, step=4)
    word = trial.suggest_categorical("word", ["relu", "tanh", "ünïcode"])
    mixed = trial.suggest_categorical("mixed", [None, True, False, 0, 1, 2.5, "1", 1.0])
    if word == "relu":  # conditional parameters
        x += trial.suggest_float("relu_slope", 0.0, 0.3)
    trial.set_user_attr("nested", {"list": [1, 2.5, None, {"deep": ["x", True]}], "text": 'ä\n"q"', "mixed": mixed})
    trial.set_user_attr("number", trial.number)
    trial.storage.set_trial_system_attr(trial._trial_id, "tag", {"n": [trial.number]})
    for step, value in enumerate([x, math.nan, math.inf, -math.inf, x / 2]):
        trial.report(value, step * 3)
    if trial.number % 7 == 3:
        raise ValueError("a failing trial")
    if trial.number % 7 == 5:
        raise optuna.TrialPruned()
    return x if trial.number % 11 != 4 else (math.inf if trial.number % 2 else -math.inf)


def build(path: Path, direction: str = "maximize", trials: int = 30) -> str:
    url = f"sqlite:///{path}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="every-kind", storage=url, direction=direction, sampler=optuna.samplers.RandomSampler(seed=3)
    )
    study.set_user_attr("search_space", {"nested": [1, {"a": None}]})
    study.set_user_attr("config_snapshot:abc", {"entry": "c.jsonnet", "files": {"c.jsonnet": "{}"}})
    study._storage.set_study_system_attr(study._study_id, "note", "kept")
    study.optimize(objective, n_trials=trials, catch=(ValueError,))
    for value in (10.0, 10.0):  # a tie for the best, added last
        study.add_trial(create_trial(params={"plain": 1.0}, distributions={"plain": FLOATS["plain"]}, value=value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated distribution class, as an old study has it
        study.add_trial(create_trial(params={"u": 0.25}, distributions={"u": UniformDistribution(0, 1)}, value=-1.0))
    study.ask()  # RUNNING
    study.enqueue_trial({"plain": 0.5, "word": "tanh"}, user_attrs={"queued": True})  # WAITING
    return url


def shown(trial) -> str:
    """Everything the commands read of a trial, with types and order (repr tells 1 from 1.0 from True)."""
    return repr(
        (
            trial.number,
            trial.state.name,
            int(trial.state),
            trial.state.is_finished(),
            trial.values,
            trial.value,
            trial.datetime_start,
            trial.datetime_complete,
            trial.duration,
            list(trial.params.items()),
            list(trial.user_attrs.items()),
            list(trial.system_attrs.items()),
            list(trial.intermediate_values.items()),
            trial.last_step,
            trial._trial_id,
        )
    )


def read(url: str, name: str | None = None) -> sqlite_reader.StoredStudy | None:
    return sqlite_reader.read_study(read_only_uri(Path(url[len("sqlite:///") :])), name)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_reader_yields_exactly_what_optuna_yields(tmp_path, direction):
    url = build(tmp_path / "s.db", direction)
    expected = optuna.load_study(study_name="every-kind", storage=url)
    fast = read(url)
    assert fast is not None
    assert (fast.study_name, fast.direction.name, [d.name for d in fast.directions]) == (
        expected.study_name,
        expected.direction.name,
        [d.name for d in expected.directions],
    )
    assert repr(list(fast.user_attrs.items())) == repr(list(expected.user_attrs.items()))
    assert repr(list(fast.system_attrs.items())) == repr(
        list(expected._storage.get_study_system_attrs(expected._study_id).items())
    )
    mine, theirs = fast.get_trials(deepcopy=False), expected.get_trials(deepcopy=False)
    assert [shown(trial) for trial in mine] == [shown(trial) for trial in theirs]
    assert [trial.distributions for trial in mine] == [trial.distributions for trial in theirs]
    states = (TrialState.COMPLETE, TrialState.PRUNED)  # Optuna's states select the reader's trials too
    assert [t.number for t in fast.get_trials(states=states)] == [t.number for t in expected.get_trials(states=states)]
    assert shown(fast.best_trial) == shown(expected.best_trial)
    assert len(fast.trials) == len(expected.trials)
    assert {trial.state.name for trial in mine} == {"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"}


def test_a_study_without_complete_trials_has_no_best_trial_either_way(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="empty", storage=url)
    study.ask()
    with pytest.raises(ValueError):
        _ = optuna.load_study(study_name="empty", storage=url).best_trial
    fast = read(url)
    assert fast is not None
    with pytest.raises(ValueError):
        _ = fast.best_trial


def test_reading_changes_nothing_in_the_file(tmp_path):
    url = build(tmp_path / "s.db", trials=5)
    optuna.storages.RDBStorage(url).engine.dispose()
    digest = hashlib.sha256((tmp_path / "s.db").read_bytes()).hexdigest()
    assert read(url) is not None
    assert hashlib.sha256((tmp_path / "s.db").read_bytes()).hexdigest() == digest


def test_a_study_is_chosen_by_name_and_ambiguity_is_left_to_optuna(tmp_path):
    url = build(tmp_path / "s.db", trials=3)
    optuna.create_study(study_name="other", storage=url).optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=2)
    assert read(url) is None  # two studies: Optuna's way names them
    assert read(url, "missing") is None  # Optuna's way says "did you mean"
    other = read(url, "other")
    assert other is not None and [t.number for t in other.trials] == [0, 1]
    assert repr([t.params for t in other.trials]) == repr(
        [t.params for t in optuna.load_study(study_name="other", storage=url).trials]
    )


def test_studies_it_does_not_know_are_left_to_optuna(tmp_path):
    url = f"sqlite:///{tmp_path / 'multi.db'}"
    optuna.create_study(study_name="m", storage=url, directions=["minimize", "maximize"]).optimize(
        lambda t: (t.suggest_float("a", 0, 1), 1.0), n_trials=2
    )
    assert read(url) is None  # several objectives
    url = f"sqlite:///{tmp_path / 'constrained.db'}"

    def constrained(trial: optuna.Trial) -> float:
        trial.set_constraint("half", trial.suggest_float("a", 0, 1) - 0.5)
        return trial.params["a"]

    study = optuna.create_study(study_name="c", storage=url)
    study.optimize(constrained, n_trials=3)
    assert all("constraints:half" in trial.system_attrs for trial in study.trials)
    assert read(url) is None  # constraints: Optuna picks the best feasible trial


def test_another_schema_revision_is_left_to_optuna(tmp_path):
    url = build(tmp_path / "s.db", trials=2)
    optuna.storages.RDBStorage(url).engine.dispose()
    for statement in (
        "UPDATE alembic_version SET version_num = 'v9.9.9.z'",
        "UPDATE version_info SET schema_version = 13",
    ):
        copy = tmp_path / "copy.db"
        shutil.copyfile(tmp_path / "s.db", copy)
        with closing(sqlite3.connect(copy)) as connection:
            connection.execute(statement)
            connection.commit()
        assert sqlite_reader.read_study(read_only_uri(copy), None) is None


def test_an_unknown_distribution_or_value_type_is_left_to_optuna(tmp_path):
    url = build(tmp_path / "s.db", trials=2)
    optuna.storages.RDBStorage(url).engine.dispose()
    for statement in (
        'UPDATE trial_params SET distribution_json = \'{"name": "NewDistribution", "attributes": {}}\'',
        "UPDATE trial_values SET value_type = 'COMPLEX'",
        "UPDATE trial_values SET objective = 1",
    ):
        copy = tmp_path / "copy.db"
        shutil.copyfile(tmp_path / "s.db", copy)
        with closing(sqlite3.connect(copy)) as connection:
            connection.execute(statement)
            connection.commit()
        assert sqlite_reader.read_study(read_only_uri(copy), None) is None, statement


def test_the_revision_matches_what_optuna_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    storage = optuna.storages.RDBStorage(url)
    assert storage.get_current_version() == sqlite_reader.installed_optuna_revision() == storage.get_head_version()
