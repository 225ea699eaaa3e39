"""``--warm-start-from STUDY``: an earlier study's finished trials, added so that the sampler starts informed.

:func:`find_warm_start` reads the earlier study (from ``--warm-start-storage``, else the study's own
storage) before anything is stored and keeps its complete and pruned trials whose parameters fit the
current search space; the others are counted and skipped with a warning. :func:`seed_study` adds them
with Optuna's ``add_trials``, each carrying ``warm_start_from`` (the study's name) and ``warm_start_trial``
(its number there), so that a second run of the same command adds none again. They do not count towards
--n-trials, --patience or --target (:mod:`tuner.trials.stopping`); the study's best may be one of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuner.errors import OptionError, StudyError, did_you_mean
from tuner.space.parameters import SearchSpace, is_active
from tuner.study.enqueue import Params, enqueue_trials, value_problem
from tuner.study.records import ATTR_WARM_START_FROM, ATTR_WARM_START_TRIAL, stored_metric
from tuner.study.storage import _distribution, describe_storage, open_storage, study_names

if TYPE_CHECKING:
    import optuna

CONSTRAINTS_KEY = "constraints"  # Optuna's system attribute for constraint values (kept with the trial)


class WarmStartWarning(UserWarning):
    """Trials of the earlier study that do not fit the search space were skipped."""


@dataclass(frozen=True)
class WarmStart:
    """The trials of an earlier study to add, as they will be added."""

    study_name: str
    storage_url: str
    trials: tuple[optuna.trial.FrozenTrial, ...]
    skipped: int  # complete or pruned trials there whose parameters do not fit the search space


def find_warm_start(
    name: str,
    storage_url: str,
    *,
    study_name: str,
    own_storage_url: str,
    space: SearchSpace,
    directions: Sequence[str],
    metric: str | None,
) -> WarmStart:
    """The fitting finished trials of study ``name``; nothing is written.

    Raises:
        OptionError: an empty name or URL, no such study, the study being run itself, or one of other
            directions or metric.
    """
    import optuna

    if not isinstance(name, str) or not name.strip():
        raise OptionError(f"--warm-start-from {name!r}: give the name of an earlier study")
    if not isinstance(storage_url, str) or not storage_url.strip():
        raise OptionError(f"--warm-start-storage {storage_url!r}: give the URL of the storage of study '{name}'")
    if name == study_name and storage_url == own_storage_url:
        raise OptionError(f"--warm-start-from {name} names the study being run; name an earlier study")
    try:
        storage = open_storage(storage_url, must_exist=True, read_only=True)
    except StudyError as error:
        raise OptionError(f"--warm-start-from {name}: {error}") from None
    names = study_names(storage)
    if name not in names:
        there = f"; studies there: {', '.join(names)}" if names else " (it holds no study)"
        raise OptionError(
            f"--warm-start-from: no study '{name}' in {describe_storage(storage_url)}{did_you_mean(name, names)}{there}"
        )
    source = optuna.load_study(study_name=name, storage=storage)
    _check_objective(source, directions, metric)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = source.get_trials(deepcopy=False, states=states)
    fitting, misfits = [], []
    for trial in finished:
        params, problem = fitting_params(trial.params, space)
        if problem:
            misfits.append(f"trial {trial.number}: {problem}")
        else:
            fitting.append(_copy(trial, params, space, name))
    if misfits:
        warnings.warn(
            f"--warm-start-from {name}: {len(misfits)} of its {len(finished)} complete and pruned trials do not fit "
            f"the search space and are skipped (first: {misfits[0]})",
            WarmStartWarning,
            stacklevel=2,
        )
    return WarmStart(name, storage_url, tuple(fitting), len(misfits))


def _check_objective(source: optuna.Study, directions: Sequence[str], metric: str | None) -> None:
    theirs = [direction.name.lower() for direction in source.directions]
    if theirs != list(directions):
        raise OptionError(
            f"--warm-start-from {source.study_name}: that study is to {', '.join(theirs)}, "
            f"this one to {', '.join(directions)}; its values would mislead the sampler"
        )
    stored = stored_metric(source)
    if metric is not None and stored is not None and stored != metric:
        raise OptionError(
            f"--warm-start-from {source.study_name}: that study optimises '{stored}', this one '{metric}'"
        )


def fitting_params(params: Mapping[str, Any], space: SearchSpace) -> tuple[Params, str | None]:
    """(``params`` cast to the space's kinds, why they do not fit it or None): each must be a value the space
    can sample, and they must be exactly the parameters active under each other's values."""
    by_name = {parameter.name: parameter for parameter in space}
    cast: Params = {}
    for name, value in params.items():
        if name not in by_name:
            return cast, f"parameter '{name}' is not in the search space"
        cast[name], problem = value_problem(by_name[name], value)
        if problem:
            return cast, f"{name}={value!r} {problem}"
    active: Params = {}
    for parameter in space:
        if not is_active(parameter.condition, active):
            if parameter.name in cast:
                return cast, f"'{parameter.name}' is inactive under its condition here"
            continue
        if parameter.name not in cast:
            return cast, f"it has no value for '{parameter.name}'"
        active[parameter.name] = cast[parameter.name]
    return cast, None


def _copy(trial: optuna.trial.FrozenTrial, params: Params, space: SearchSpace, name: str) -> optuna.trial.FrozenTrial:
    """``trial`` as it is added: the current space's distributions, its values, epochs and times kept."""
    import optuna

    by_name = {parameter.name: parameter for parameter in space}
    constraints = trial.system_attrs.get(CONSTRAINTS_KEY)
    return optuna.trial.FrozenTrial(
        number=-1,
        trial_id=-1,
        state=trial.state,
        value=None,
        values=trial.values,
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=params,
        distributions={key: _distribution(by_name[key]) for key in params},
        user_attrs={ATTR_WARM_START_FROM: name, ATTR_WARM_START_TRIAL: trial.number},
        system_attrs={CONSTRAINTS_KEY: constraints} if constraints is not None else {},
        intermediate_values=dict(trial.intermediate_values),
    )


def seed_study(study: optuna.Study, warm_start: WarmStart | None, enqueue: Sequence[Params]) -> list[str]:
    """Add the warm start's trials (those not added by an earlier run) and queue ``enqueue``; lines to show."""
    lines = []
    if warm_start is not None:
        done = {
            trial.user_attrs.get(ATTR_WARM_START_TRIAL)
            for trial in study.get_trials(deepcopy=False)
            if trial.user_attrs.get(ATTR_WARM_START_FROM) == warm_start.study_name
        }
        new = [trial for trial in warm_start.trials if trial.user_attrs[ATTR_WARM_START_TRIAL] not in done]
        study.add_trials(new)
        skipped = f"; {warm_start.skipped} did not fit the search space" if warm_start.skipped else ""
        earlier = (
            f" ({len(warm_start.trials) - len(new)} added by an earlier run)"
            if len(new) < len(warm_start.trials)
            else ""
        )
        lines.append(
            f"Warm start: {len(new)} trials of study '{warm_start.study_name}' added{earlier}{skipped}; "
            "they inform the sampler and do not count towards --n-trials."
        )
    if enqueue:
        queued, before = enqueue_trials(study, enqueue)
        earlier = f" ({before} already enqueued, not again)" if before else ""
        lines.append(f"Enqueued {queued} trial{'' if queued == 1 else 's'} to run first{earlier}.")
    return lines
