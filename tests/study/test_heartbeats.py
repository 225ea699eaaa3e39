"""Every trial a `tune` owns has a heartbeat (so other hosts can tell when that `tune` died), written once.

A trial asked ahead gets its heartbeat when it is asked; its launch does not write it again (the
periodic beat keeps it fresh), which saves one storage write per trial.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import optuna

from tuner.study.heartbeat import record_first_heartbeat, record_heartbeat
from tuner.study.storage import create_or_resume_study, open_storage


def heartbeat_numbers(db: Path) -> set[int]:
    """Numbers of the trials that have a heartbeat row."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT trials.number FROM trials JOIN trial_heartbeats ON trial_heartbeats.trial_id = trials.trial_id"
        ).fetchall()
    return {number for (number,) in rows}


def forget_heartbeats(db: Path) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM trial_heartbeats")


def test_a_first_heartbeat_is_written_once_and_a_periodic_one_every_time(tmp_path):
    db = tmp_path / "t.db"
    storage = open_storage(f"sqlite:///{db}", must_exist=False, heartbeat_interval=20)
    study, _ = create_or_resume_study(
        storage,
        name="s",
        direction="maximize",
        metric="m",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.NopPruner(),
        restart=False,
    )
    trial = study.ask()
    record_first_heartbeat(study, trial)
    assert heartbeat_numbers(db) == {trial.number}

    forget_heartbeats(db)
    record_first_heartbeat(study, trial)  # this process wrote it already: no second write
    assert heartbeat_numbers(db) == set()
    record_heartbeat(study, trial)  # the periodic beat always writes
    assert heartbeat_numbers(db) == {trial.number}


def test_every_trial_of_a_one_slot_run_has_a_heartbeat_including_those_asked_ahead(
    study_files, tune_cli, quadratic_command
):
    args = study_files(epochs=1)
    result = tune_cli(*args, "--n-trials", "6", "--pruner", "none", "--command", quadratic_command)
    assert result.exit_code == 0, result.output

    trials = optuna.load_study(study_name="quad", storage="sqlite:///tune.db").trials
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 6
    # Some trial was asked while the one before it still ran: the path that skips the launch's heartbeat.
    asked_ahead = [now for before, now in itertools.pairwise(trials) if now.datetime_start < before.datetime_complete]
    assert asked_ahead
    assert heartbeat_numbers(Path("tune.db")) == {trial.number for trial in trials}
