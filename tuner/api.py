"""``tune()``: one study from a config and a search space to the best config."""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

from tuner.config.preflight import prepare_config
from tuner.config.sources import load_config, load_space
from tuner.contract import write_json_atomically
from tuner.errors import OptionError, OutputError, StudyError
from tuner.study.folders import check_owner, claim, default_results_dir
from tuner.study.objective import Objective, objective_from_options
from tuner.study.records import add_spent_seconds, remember_setup, spent_seconds, trial_config
from tuner.study.samplers import build_pruner, build_sampler
from tuner.study.storage import (
    HEARTBEAT_INTERVAL_SECONDS,
    check_space_compatible,
    create_or_resume_study,
    default_storage_url,
    describe_storage,
    open_storage,
    watch_storage_file,
)
from tuner.trials.budget import Budget, FailurePolicy
from tuner.trials.launch import CommandTemplate
from tuner.trials.recovery import recover_stale_trials
from tuner.trials.runner import RunSummary, StudyRunner
from tuner.trials.slots import build_slots
from tuner.trials.trainer_check import check_with_builtin_trainer

if TYPE_CHECKING:
    import optuna
    from rich.console import Console

    from tuner.analysis.export import ExportResult

BEST_CONFIG_FILE_NAME = "best_config.json"
DEFAULT_RESULTS_DIR = "results"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class TuneResult:
    """What :func:`tune` found: the study, its best trial and the best config.

    ``best_params`` are Optuna's: the parameters the best trial sampled (conditional ones
    only where active); ``best_config`` is the config it ran with, as a dict.
    """

    study: optuna.Study
    objective: Objective
    summary: RunSummary
    best_config_path: Path | None = None
    best_trial: optuna.trial.FrozenTrial | None = None
    best_config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params) if self.best_trial else {}

    @property
    def best_value(self) -> float | None:
        return self.best_trial.value if self.best_trial else None

    def save_to_directory(
        self, directory: str | os.PathLike[str], *, plots: bool = True, plot_format: str = "png", separator: str = "\t"
    ) -> ExportResult:
        """Write the files ``tune export`` writes: trials.tsv, study.json, best_config.json, plots/."""
        from tuner.analysis.export import export_study

        return export_study(self.study, directory=directory, plots=plots, plot_format=plot_format, separator=separator)


def _storage_and_disk_errors(function: F) -> F:
    """Turn a full disk (under the outputs or the database) and a failing storage into one-line errors.

    Running trials were ended and recorded on the way out where the storage allowed; those
    it could not record keep their launch record, so the next run recovers them.
    """

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        import optuna
        import sqlalchemy.exc

        try:
            return function(**kwargs)
        except OSError as error:
            if error.errno not in _DISK_FULL:
                raise
            raise OutputError(
                f"cannot write {error.filename or 'the study outputs'}: {error.strerror}; "
                "free space there and run the same command again to resume"
            ) from None
        except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as error:
            url = describe_storage(kwargs.get("storage") or default_storage_url())
            raise StudyError(
                f"storage {url} failed: {_storage_reason(error)}; fix it (free disk space, say) "
                "and run the same command again to resume"
            ) from None

    return wrapper  # type: ignore[return-value]


def _storage_reason(error: BaseException) -> str:
    """The database's own words: Optuna wraps SQLAlchemy's error, which wraps the driver's."""
    while error.__cause__ is not None:
        error = error.__cause__
    error = getattr(error, "orig", None) or error
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@_storage_and_disk_errors
def tune(
    *,
    config: str | os.PathLike[str] | Mapping[str, Any],
    search_space: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
    n_trials: int | None = None,
    timeout: float | None = None,
    metric: str | None = None,
    direction: str | None = None,
    sampler: Any = "tpe",
    sampler_kwargs: Mapping[str, Any] | None = None,
    pruner: Any = "median",
    pruner_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    serialization_dir: str | os.PathLike[str] | None = None,
    ext_vars: Mapping[str, str] | None = None,
    command: str | None = None,
    gpus: str | Sequence[int | str] | None = None,
    trials_per_gpu: int = 1,
    n_jobs: int | None = None,
    trial_timeout: float | None = None,
    max_failures: int | None = None,
    max_failure_rate: float | None = None,
    restart: bool = False,
    warm_launch: bool = True,
    console: Console | None = None,
) -> TuneResult:
    """Tune the hyper-parameters of ``config`` over ``search_space`` with Optuna.

    Every trial renders the Jsonnet config with sampled values as ext vars and runs the
    training command as a subprocess. ``n_trials`` and ``timeout`` are the study's totals,
    counting earlier runs, so calling again with the same arguments resumes it. The
    arguments mean what the ``tune run`` options of the same name mean, with the same defaults.

    Args:
        config: a Jsonnet/JSON file path, Jsonnet text, or a dict. A string is a path when it
            names an existing file, or is one line without braces ending in ``.json``/``.jsonnet``;
            otherwise it is text. Text and dicts default the study name to ``config-<hash>``.
        search_space: a file path, JSON/Jsonnet text, or the parsed data (mapping or list format).
        sampler: a name (``"tpe"``, ``"TPESampler"``, any case), an Optuna sampler class or instance;
            ``sampler_kwargs`` and ``seed`` apply to names and classes.
        pruner: likewise (``"median"``, ``"hyperband"``, ``"none"``, a class or an instance).
        ext_vars: fixed ext vars of the config; unset ones come from the environment.
        gpus: ``"0,1"``, ``"all"`` or a list of GPU indices; one trial slot per GPU.

    Returns:
        A :class:`TuneResult`; ``save_to_directory`` writes what ``tune export`` writes.

    Raises:
        TunerError: a bad input (file, option, stored study), before any trial runs.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    _check_budget(n_trials, timeout, trial_timeout)
    space = load_space(search_space)
    snapshot, default_study_name = load_config(config)
    prepared = prepare_config(snapshot, space, dict(ext_vars or {}))
    trainer_section = prepared.rendered_low.get("trainer")
    validation_metric = trainer_section.get("validation_metric") if isinstance(trainer_section, dict) else None
    objective = objective_from_options(metric, direction, validation_metric, config_name=snapshot.entry)
    template = CommandTemplate.parse(command)
    study_name = study_name or default_study_name
    storage_url = storage or default_storage_url()
    results_dir = (
        Path(serialization_dir) if serialization_dir
        else default_results_dir(Path(DEFAULT_RESULTS_DIR), study_name, storage_url)
    )
    slots = build_slots(gpus=gpus, trials_per_gpu=trials_per_gpu, n_jobs=n_jobs)
    sampler_object = build_sampler(sampler, sampler_kwargs, seed=seed, space=space, parallel=len(slots) > 1)
    pruner_object = build_pruner(pruner, pruner_kwargs)
    failure_policy = FailurePolicy(max_failures=max_failures, max_failure_rate=max_failure_rate)
    _check_results_dir(results_dir)
    # Last of the checks before anything is stored: it starts a process that imports torch.
    for note in check_with_builtin_trainer(prepared, template, {**os.environ, **slots[0].env}):
        console.print(f"note: {note}", highlight=False)

    storage_object = open_storage(storage_url, must_exist=False, heartbeat_interval=HEARTBEAT_INTERVAL_SECONDS)
    check_owner(results_dir, storage_url=storage_url, study_name=study_name)
    _make_results_dir(results_dir)
    claim(results_dir, storage_url=storage_url, study_name=study_name)
    study, resumed = create_or_resume_study(
        storage_object,
        name=study_name,
        direction=objective.direction,
        metric=objective.metric,
        sampler=sampler_object,
        pruner=pruner_object,
        restart=restart,
    )
    if restart:
        _clear_results_dir(results_dir)
    if resumed:
        check_space_compatible(study, space)
    remember_setup(
        study,
        space=space,
        snapshot=prepared.snapshot,
        command=None if template.is_default else list(template.argv),
        sampler={"name": type(sampler_object).__name__, "kwargs": _plain_kwargs(sampler_kwargs), "seed": seed},
        pruner={"name": type(pruner_object).__name__, "kwargs": _plain_kwargs(pruner_kwargs)},
    )
    _announce(console, study, resumed, objective, storage_url, results_dir)
    _recover_stale_trials(console, study)

    best_path = results_dir / BEST_CONFIG_FILE_NAME
    runner = StudyRunner(
        study=study,
        space=space,
        snapshot=prepared.snapshot,
        template=template,
        objective=objective,
        serialization_dir=results_dir.resolve(),  # trainers may change their working directory
        slots=slots,
        base_env=os.environ,
        trial_timeout=trial_timeout,
        failure_policy=failure_policy,
        heartbeat_interval=HEARTBEAT_INTERVAL_SECONDS,
        warm_launch=warm_launch,
        on_best=lambda trial_config_path: write_json_atomically(best_path, json.loads(trial_config_path.read_text())),
        storage_watch=watch_storage_file(storage_url),
    )
    return _run(runner, console, objective, Budget(n_trials=n_trials, timeout=timeout, spent_before=spent_seconds(study)), best_path)


def _run(runner: StudyRunner, console: Console, objective: Objective, budget: Budget, best_path: Path) -> TuneResult:
    """Run the study with a progress display, keeping the time spent for --timeout."""
    from tuner.display import TuneDisplay

    study = runner.study
    # Stored every heartbeat too, so a run that is killed outright loses at most that much of --timeout.
    runner.on_checkpoint = lambda: _record_spent_time(study, budget)
    already = runner.counted_trials()
    best = _best_trial(study)  # a resumed study shows its best from the start
    with TuneDisplay(console, n_trials=budget.n_trials, already_done=already, budget=budget, best=best) as display:
        runner.observer = display
        try:
            summary = runner.run(budget)
        finally:
            if not runner.storage_lost:
                _record_spent_time(study, budget)
    return _result(study, objective, summary, best_path)


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's best trial so far (a resumed study has one), or None."""
    try:
        return study.best_trial
    except ValueError:
        return None


def _recover_stale_trials(console: Console, study: optuna.Study) -> None:
    recovered = recover_stale_trials(study)
    if recovered:
        which = f"Trial {recovered[0]} was" if len(recovered) == 1 else f"Trials {', '.join(map(str, recovered))} were"
        console.print(
            f"{which} left running by a tune process that died: marked failed, parameters queued again.",
            highlight=False,
        )


def _record_spent_time(study: optuna.Study, budget: Budget) -> None:
    """Add the time this run spent since the last record to the study's total (for --timeout)."""
    unrecorded = budget.elapsed() - budget.spent_before - budget.recorded
    add_spent_seconds(study, unrecorded)
    budget.recorded += unrecorded


def tune_from_config(study_config: Mapping[str, Any], **overrides: Any) -> TuneResult:
    """Run :func:`tune` with the arguments of a study config (``{"tune": {...}, "optuna": {...}}``).

    The keys are :func:`tune`'s argument names (see :mod:`tuner.config.study_file`); ``overrides``
    (any :func:`tune` argument, ``console`` included) take precedence over the config's values.
    Relative paths are relative to the working directory.
    """
    from tuner.config.study_file import study_config_kwargs

    return tune(**{**study_config_kwargs(study_config), **overrides})


def tune_from_path(path: str | os.PathLike[str], **overrides: Any) -> TuneResult:
    """Like :func:`tune_from_config` for a ``.json`` or ``.jsonnet`` file; its relative paths are relative to its folder."""
    from tuner.config.study_file import load_study_config

    return tune(**{**load_study_config(path), **overrides})


def _result(study: optuna.Study, objective: Objective, summary: RunSummary, best_path: Path) -> TuneResult:
    result = TuneResult(study=study, objective=objective, summary=summary)
    try:
        result.best_trial = study.best_trial
    except ValueError:
        return result
    result.best_config = trial_config(study, result.best_trial)
    write_json_atomically(best_path, result.best_config)  # the best may have come from another process
    result.best_config_path = best_path
    return result


def _check_budget(n_trials: int | None, timeout: float | None, trial_timeout: float | None) -> None:
    if n_trials is not None and n_trials < 1:
        raise OptionError(f"--n-trials must be at least 1, got {n_trials}")
    if timeout is not None and not 0 < timeout < math.inf:  # not written `timeout <= 0`: NaN passes that
        raise OptionError(f"--timeout must be a finite positive number of seconds, got {timeout:g}")
    if trial_timeout is not None and not 0 < trial_timeout < math.inf:
        raise OptionError(f"--trial-timeout must be a finite positive number of seconds, got {trial_timeout:g}")


def _check_results_dir(path: Path) -> None:
    """Refuse a results folder that cannot be used, before anything is created."""
    if path.exists() and not path.is_dir():
        raise OptionError(f"--serialization-dir {path} is a file, not a folder")
    existing = next((parent for parent in (path, *path.parents) if parent.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f"--serialization-dir {path} is not writable ({existing} is not a writable folder)")


def _make_results_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OptionError(f"--serialization-dir {path}: cannot create it ({error.strerror})") from None


def _plain_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments as JSON can store them (objects become their repr)."""
    return json.loads(json.dumps(dict(kwargs or {}), default=repr))


def _clear_results_dir(path: Path) -> None:
    """Remove the trial folders and best config of a study that is started over."""
    for child in path.glob("trial_*"):
        if child.is_dir():
            shutil.rmtree(child)
    (path / BEST_CONFIG_FILE_NAME).unlink(missing_ok=True)


def _announce(console: Console, study: optuna.Study, resumed: bool, objective: Objective, storage: str, results_dir: Path) -> None:
    verb = "Resuming" if resumed else "Created"
    line = f"{verb} study '{study.study_name}' in {describe_storage(storage)}: {objective.direction} {objective.metric}"
    if resumed:
        counts = Counter(trial.state.name.lower() for trial in study.get_trials(deepcopy=False))
        detail = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no trials"
        line += f" ({len(study.trials)} trials so far: {detail})"
    console.print(line, highlight=False)
    console.print(f"Trial outputs in {results_dir}/trial_<number>/", highlight=False)


__all__ = ["TuneResult", "tune", "tune_from_config", "tune_from_path", "StudyError"]
