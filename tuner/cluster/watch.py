"""While a SLURM task's tune runs: the trials that another task's killed tune left RUNNING are recovered and queued.

A task's tune recovers stale trials when it starts (:func:`tuner.trials.recovery.recover_stale_trials`), but the
workers of an array start together: a task SIGKILLed later (its KillWait ran out before tune recorded its trials,
or the node failed) would leave its trials RUNNING, counted towards ``--n-trials``, until some later start. So the
task process beside each tune runs the same recovery every heartbeat interval (this host's trials by their launch
record, other hosts' by Optuna's heartbeat) and once more when tune has finished; the retries it queues are taken
by the running tune, or by tune started once more for them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tuner.study.heartbeat import opened_from
from tuner.study.storage import HEARTBEAT_INTERVAL_SECONDS, mask_passwords, open_storage
from tuner.trials.recovery import recover_stale_trials

if TYPE_CHECKING:
    import optuna


class StaleTrialWatch:
    """Recover the study's trials left RUNNING by dead tune processes: now, or every ``interval`` seconds."""

    def __init__(
        self, storage_url: str, study_name: str, max_retries: int, interval: float = HEARTBEAT_INTERVAL_SECONDS
    ) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self.max_retries = max_retries
        self.interval = interval
        self._study: optuna.Study | None = None

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Recover every ``interval`` seconds (in a thread) until the block ends."""
        stop = threading.Event()
        thread = threading.Thread(target=self._watch, args=(stop,), name="stale-trial-watch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.recover_once()

    def recover_once(self) -> list[int]:
        """Recover what is stale now; the trial numbers (none while the study does not exist yet, or the storage
        does not answer: the next round tries again)."""
        import optuna

        try:
            if self._study is None:
                storage = open_storage(self.storage_url, must_exist=True, heartbeat_interval=HEARTBEAT_INTERVAL_SECONDS)
                self._study = opened_from(optuna.load_study(study_name=self.study_name, storage=storage), storage)
            recovered = recover_stale_trials(self._study, self.max_retries)
        except KeyError:
            return []  # tune has not created the study yet
        except Exception as error:  # noqa: BLE001 - a watch must not end the task; tune reports storage faults
            print(f"tune slurm: stale-trial watch: {mask_passwords(f'{type(error).__name__}: {error}')}", flush=True)
            return []
        if recovered:
            print(
                f"tune slurm: trials {', '.join(map(str, recovered))} were left running by a tune process that died "
                "(another task's, say): marked failed, queued to resume",
                flush=True,
            )
        return recovered
