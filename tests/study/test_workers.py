"""The worker registry: each `tune` process's record in the study, as another process reads it."""

from __future__ import annotations

import optuna

from tuner.study.storage import create_or_resume_study, open_storage
from tuner.study.workers import WorkerRecord, read_workers

IDENTITY = {"host": "node17", "tuner_pid": 4321, "tuner_started": 987654}


def opened_study(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 't.db'}", must_exist=False)
    study, _ = create_or_resume_study(
        storage,
        name="s",
        direction="maximize",
        metric="accuracy",
        sampler=optuna.samplers.RandomSampler(),
        pruner=optuna.pruners.NopPruner(),
        restart=False,
    )
    return study


def read_back(tmp_path):
    """The registry as a separate reader sees it: a fresh storage opened on the file."""
    storage = open_storage(f"sqlite:///{tmp_path / 't.db'}", must_exist=True, read_only=True)
    return read_workers(storage, storage.get_study_id_from_name("s"))


def test_a_worker_records_itself_beats_and_ends(tmp_path):
    study = opened_study(tmp_path)
    environ = {"SLURM_JOB_ID": "4242", "SLURM_ARRAY_JOB_ID": "4240", "SLURM_ARRAY_TASK_ID": "2", "HOME": "/x"}
    record = WorkerRecord(study, identity=IDENTITY, slots=4, interval=0.0, environ=environ)
    record.start()
    [worker] = read_back(tmp_path)
    assert (worker.id, worker.host, worker.pid, worker.slots) == ("node17:4321:987654", "node17", 4321, 4)
    assert worker.slurm == {"job_id": "4242", "array_job_id": "4240", "array_task_id": "2"}
    assert worker.ended is None and worker.process_start == 987654
    first_beat = worker.beat
    while read_back(tmp_path)[0].beat == first_beat:  # the clock may not have moved yet: beat until it shows
        record.beat()
    record.end()
    [ended] = read_back(tmp_path)
    assert ended.ended is not None and ended.ended >= ended.beat > first_beat
    assert ended.state(now=ended.ended + 10**6) == "ended"


def test_a_silent_worker_is_stale_after_three_intervals_and_outside_slurm_has_no_ids(tmp_path):
    study = opened_study(tmp_path)
    WorkerRecord(study, identity=IDENTITY, slots=1, interval=20.0, environ={}).start()
    [worker] = read_back(tmp_path)
    assert worker.slurm == {}
    assert worker.state(now=worker.beat + 59) == "running"
    assert worker.state(now=worker.beat + 61) == "stale"


def test_beats_are_written_at_most_once_per_interval(tmp_path):
    study = opened_study(tmp_path)
    record = WorkerRecord(study, identity=IDENTITY, slots=1, interval=3600.0, environ={})
    record.start()
    started = read_back(tmp_path)[0].beat
    for _ in range(5):
        record.beat()
    assert read_back(tmp_path)[0].beat == started


def test_workers_of_several_processes_are_kept_apart(tmp_path):
    study = opened_study(tmp_path)
    for pid in (11, 12, 13):
        WorkerRecord(study, identity={**IDENTITY, "tuner_pid": pid}, slots=pid - 10, interval=20.0, environ={}).start()
    assert [(worker.pid, worker.slots) for worker in read_back(tmp_path)] == [(11, 1), (12, 2), (13, 3)]
