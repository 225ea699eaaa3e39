"""Pruning a trial: Optuna's own ``report``/``should_prune`` for one objective, a judge for several.

Optuna refuses ``Trial.report`` in a multi-objective study, and its pruners read ``study.direction``.
With several objectives ``tune`` prunes on one of them (``--prune-on``, default the first):

* each epoch's value of that objective is kept in the trial's user attribute ``prune_values``
  (``{"<epoch>": value}``), not in Optuna's intermediate values, which Optuna's TPE would read as
  single-objective (``study.direction``) and fail on;
* to decide, the study's pruner, whichever it is, judges a *shadow*: an in-memory single-objective
  study in the prune-on direction holding one trial per trial of the real study, numbered alike, in
  the same state, with those per-epoch values as its intermediate values and, when complete, that
  objective's value. The pruner thus sees exactly what it would see in a single-objective study of
  that metric (median, percentile, successive halving, hyperband, patient, threshold, wilcoxon).
* State a pruner writes on the trial (successive halving's rung records) is copied back to the real
  trial's system attributes, so that every `tune` process of the study sees the rungs.

The shadow is built afresh at each judged epoch, from one read of the study's trials (what Optuna's
own pruners read each time too); it costs a few milliseconds per hundred trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tuner.study.heartbeat import own_trial_id
from tuner.study.records import ATTR_PRUNE_ON, ATTR_PRUNE_VALUES, record_prune_value, record_pruner_state

if TYPE_CHECKING:
    import optuna

_SHARED_SYSTEM_ATTR_PREFIX = "completed_rung_"  # successive halving's (and hyperband's) rung records


def report(trial: optuna.Trial, value: float, step: int) -> None:
    """Report ``value`` at ``step``: ``trial.report``, or with several objectives the trial's ``prune_values``."""
    if len(trial.study.directions) == 1:
        trial.report(value, step)
        return
    record_prune_value(trial, step, value)


def should_prune(trial: optuna.Trial) -> bool:
    """Whether the study's pruner would prune ``trial`` now (see the module's docstring for several objectives)."""
    from optuna.pruners import NopPruner

    study = trial.study
    if type(study.pruner) is NopPruner:  # --pruner none: no storage read to learn that
        return False
    if len(study.directions) == 1:
        return trial.should_prune()
    index, direction = prune_objective(study)
    shadow, judged = shadow_study(study, trial.number, index, direction)
    if judged is None or not judged.intermediate_values:
        return False
    decision = bool(study.pruner.prune(shadow, judged))
    _copy_back_rungs(trial, shadow.get_trials(deepcopy=False)[judged.number].system_attrs)
    return decision


def prune_objective(study: optuna.Study) -> tuple[int, str]:
    """The prune-on objective's position and direction, as the study records it (the first by default)."""
    stored = study.user_attrs.get(ATTR_PRUNE_ON) or {}
    index = stored.get("index", 0) if isinstance(stored, Mapping) else 0
    if not isinstance(index, int) or not 0 <= index < len(study.directions):
        index = 0
    return index, study.directions[index].name.lower()


def prune_values(trial: optuna.trial.FrozenTrial) -> dict[int, float]:
    """The per-epoch values of the prune-on objective a multi-objective trial reported."""
    stored = trial.user_attrs.get(ATTR_PRUNE_VALUES) or {}
    result = {}
    for step, value in stored.items() if isinstance(stored, Mapping) else ():
        try:
            result[int(step)] = float(value)
        except (TypeError, ValueError):
            continue
    return dict(sorted(result.items()))


def shadow_study(
    study: optuna.Study, number: int, index: int, direction: str
) -> tuple[optuna.Study, optuna.trial.FrozenTrial | None]:
    """The single-objective in-memory mirror of ``study`` for objective ``index``, and trial ``number`` in it."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory" at every epoch
    try:
        shadow = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            study_name=study.study_name,  # hyperband's brackets hash the name with the trial number
            direction=direction,
            sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=optuna.pruners.NopPruner(),
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    trials = study.get_trials(deepcopy=False)
    shadow.add_trials(_mirror(trial, index) for trial in trials)  # numbered alike: 0, 1, ... in order
    mirrored = shadow.get_trials(deepcopy=False)
    return shadow, mirrored[number] if number < len(mirrored) else None


def _mirror(trial: optuna.trial.FrozenTrial, index: int) -> optuna.trial.FrozenTrial:
    import optuna

    state = trial.state
    value = trial.values[index] if state == optuna.trial.TrialState.COMPLETE and trial.values else None
    if state == optuna.trial.TrialState.COMPLETE and value is None:
        state = optuna.trial.TrialState.FAIL
    shared = {key: value for key, value in trial.system_attrs.items() if key.startswith(_SHARED_SYSTEM_ATTR_PREFIX)}
    return optuna.trial.create_trial(
        state=state, value=value, intermediate_values=prune_values(trial), system_attrs=shared
    )


def _copy_back_rungs(trial: optuna.Trial, judged_attrs: Mapping[str, Any]) -> None:
    """Rung records the pruner wrote on the shadow trial, stored on the real one."""
    trial_id = own_trial_id(trial)
    known = trial.storage.get_trial_system_attrs(trial_id)
    new = {key: value for key, value in judged_attrs.items() if key.startswith(_SHARED_SYSTEM_ATTR_PREFIX)}
    record_pruner_state(trial.storage, trial_id, {key: value for key, value in new.items() if key not in known})
