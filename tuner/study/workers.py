"""The study's worker registry: each `tune run` process records itself in the study, for `tune status`.

One study system attribute per worker, keyed ``tune:worker:HOST:PID:START`` (the process identity of
the trials' launch records, so a worker's trials are found by it): host, pid, slots, when it started,
its last beat, when it ended, and its SLURM ids when it runs in a SLURM job. It is rewritten at the
heartbeat interval, one small write per worker (every 20 s: 50 workers make 2.5 writes a second),
through any storage including the gRPC proxy. A worker that ends cleanly marks itself ended; one
silent for longer than its grace (three intervals) is stale: killed, cut off, or stuck.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuner.study.heartbeat import study_storage

if TYPE_CHECKING:
    import optuna

WORKER_KEY_PREFIX = "tune:worker:"
GRACE_INTERVALS = 3
# The worker record's name for each SLURM variable that is set.
SLURM_VARIABLES = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
}


def worker_id(identity: Mapping[str, Any]) -> str:
    """``HOST:PID:START`` of a `tune` process identity (a launch record's host, tuner_pid and tuner_started)."""
    return f"{identity.get('host')}:{identity.get('tuner_pid')}:{identity.get('tuner_started')}"


def slurm_ids(environ: Mapping[str, str]) -> dict[str, str]:
    """The SLURM job (and array) ids of this process's job; {} outside SLURM."""
    return {name: environ[variable] for name, variable in SLURM_VARIABLES.items() if environ.get(variable)}


class WorkerRecord:
    """This `tune` process's entry in the registry: :meth:`start`, :meth:`beat` often, :meth:`end` once."""

    def __init__(
        self,
        study: optuna.Study,
        *,
        identity: Mapping[str, Any],
        slots: int,
        interval: float,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._backend = study_storage(study)
        self._registry_study = self._backend.get_study_id_from_name(study.study_name) if self._backend else None
        self.key = WORKER_KEY_PREFIX + worker_id(identity)
        self.interval = interval
        now = time.time()
        self.record: dict[str, Any] = {
            "host": identity.get("host"),
            "pid": identity.get("tuner_pid"),
            "process_start": identity.get("tuner_started"),  # kernel ticks: tells a reused pid apart
            "slots": slots,
            "started": round(now, 3),
            "beat": round(now, 3),
            "interval": interval,
            "ended": None,
        }
        if slurm := slurm_ids(environ):
            self.record["slurm"] = slurm
        self._last_write = 0.0

    def start(self) -> None:
        self._write()

    def beat(self) -> None:
        """Record that this worker is alive, at most once per interval."""
        if time.monotonic() - self._last_write >= self.interval:
            self.record["beat"] = round(time.time(), 3)
            self._write()

    def end(self) -> None:
        """Mark the worker ended; a storage that fails now (the run's own error) is left to that error."""
        self.record["ended"] = self.record["beat"] = round(time.time(), 3)
        with contextlib.suppress(Exception):  # the run's own error is reported; this record then goes stale
            self._write()

    def _write(self) -> None:
        if self._backend is None or self._registry_study is None:
            return
        self._backend.set_study_system_attr(self._registry_study, self.key, dict(self.record))
        self._last_write = time.monotonic()


@dataclass(frozen=True)
class Worker:
    """A worker as the storage sees it."""

    id: str
    host: str
    pid: int | None
    slots: int
    started: float
    beat: float
    interval: float
    ended: float | None = None
    slurm: dict[str, str] = field(default_factory=dict)
    process_start: int | None = None

    def state(self, now: float) -> str:
        """``ended``, ``stale`` (silent for longer than its grace) or ``running``."""
        if self.ended is not None:
            return "ended"
        return "stale" if now - self.beat > GRACE_INTERVALS * self.interval else "running"


def read_workers(storage: optuna.storages.BaseStorage, study_id: int) -> list[Worker]:
    """The study's workers, oldest first."""
    workers = []
    for key, record in storage.get_study_system_attrs(study_id).items():
        if not key.startswith(WORKER_KEY_PREFIX) or not isinstance(record, dict):
            continue
        workers.append(
            Worker(
                id=key[len(WORKER_KEY_PREFIX) :],
                host=str(record.get("host")),
                pid=record.get("pid"),
                slots=int(record.get("slots") or 0),
                started=float(record.get("started") or 0.0),
                beat=float(record.get("beat") or 0.0),
                interval=float(record.get("interval") or 0.0),
                ended=record.get("ended"),
                slurm=dict(record.get("slurm") or {}),
                process_start=record.get("process_start"),
            )
        )
    return sorted(workers, key=lambda worker: worker.started)
