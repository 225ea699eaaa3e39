"""A study's storage, for what only the storage offers: heartbeats and another process's trials.

tune drives trials with ask/tell, so it beats Optuna's heartbeat (RDB storages) itself, and
the stale-trial recovery (:mod:`tuner.trials.recovery`) annotates trials that a dead `tune`
process left RUNNING.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna


# Optuna keeps a study's storage to itself (``study._storage``), yet some of what tune needs only the
# storage offers: beating the heartbeat (Optuna beats only inside ``study.optimize``; tune drives trials
# with ask/tell) and annotating a trial that another `tune` process left RUNNING. So the storage each
# study was opened from is kept here, by :func:`tuner.study.storage.create_or_resume_study`, with the
# storage's id of the study and of the other processes' trials that recovery annotates.
@dataclass
class _Opened:
    storage: optuna.storages.BaseStorage
    study_id: int
    trial_ids: dict[int, int] = field(default_factory=dict)  # trial number -> storage id
    beaten: set[int] = field(default_factory=set)  # trial numbers with a heartbeat recorded by this process


_OPENED: weakref.WeakKeyDictionary[optuna.Study, _Opened] = weakref.WeakKeyDictionary()


def opened_from(study: optuna.Study, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """``study``, remembered as opened from ``storage``."""
    _OPENED[study] = _Opened(storage, storage.get_study_id_from_name(study.study_name))
    return study


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage | None:
    """The storage ``study`` was opened from (:func:`opened_from`); None for other studies."""
    opened = _OPENED.get(study)
    return opened.storage if opened else None


def trial_id(study: optuna.Study, number: int) -> int:
    """The storage's id of trial ``number`` of a study opened by :func:`opened_from` (what the storage's calls take)."""
    opened = _OPENED[study]
    if number not in opened.trial_ids:
        opened.trial_ids[number] = opened.storage.get_trial_id_from_study_id_trial_number(opened.study_id, number)
    return opened.trial_ids[number]


def own_trial_id(trial: optuna.Trial) -> int:
    """The storage's id of ``trial``, one of this process's (what the storage's calls take), without a lookup.

    Optuna keeps it private (``trial._trial_id``); asking the storage for it by number costs a write
    session per trial. Every ``Trial`` has had it since Optuna's first releases; this is its one reader.
    """
    return trial._trial_id


def heartbeat_storage(study: optuna.Study) -> optuna.storages.RDBStorage | None:
    """``study``'s storage when it keeps heartbeats (an RDB storage opened with ``heartbeat_interval``)."""
    import optuna

    storage = study_storage(study)
    if isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None:
        return storage
    return None


def heartbeat_grace_seconds(study: optuna.Study) -> int | None:
    """How long a trial's heartbeat may be silent before it counts as stale; None without heartbeats."""
    storage = heartbeat_storage(study)
    if storage is None:
        return None
    return storage.grace_period or 2 * (storage.get_heartbeat_interval() or 0)


def record_heartbeat(study: optuna.Study, trial: optuna.Trial) -> None:
    """Record that ``trial``'s owner is alive, where the storage keeps heartbeats.

    Optuna beats only inside ``study.optimize``; tune drives trials with ask/tell,
    so it beats itself, through the storage's own call as ``optimize`` does.
    """
    storage = heartbeat_storage(study)
    if storage is not None:
        storage.record_heartbeat(own_trial_id(trial))
        _OPENED[study].beaten.add(trial.number)


def record_first_heartbeat(study: optuna.Study, trial: optuna.Trial) -> None:
    """:func:`record_heartbeat`, unless this process recorded one for ``trial`` already.

    A trial asked or prepared ahead has its heartbeat from then; at its launch a second write would
    only move it by milliseconds. The runner's periodic beat keeps every one of its trials fresh.
    """
    opened = _OPENED.get(study)
    if opened is None or trial.number not in opened.beaten:
        record_heartbeat(study, trial)


def heartbeat_stale_trials(study: optuna.Study) -> set[int]:
    """Numbers of the RUNNING trials whose heartbeat is older than the grace period, left as they are.

    Optuna has no public call for this: its ``fail_stale_trials`` fails those trials first, after
    which tune can no longer store why (a finished trial's attributes are read-only), and it would
    fail this host's trials whose `tune` is alive but stopped. This and :func:`own_trial_id` are tune's
    only uses of Optuna's private API.
    """
    storage = heartbeat_storage(study)
    if storage is None:
        return set()
    stale = storage._get_stale_trial_ids(_OPENED[study].study_id)
    return {storage.get_trial_number_from_id(stale_id) for stale_id in stale}
