"""A study's plan: every argument of :func:`tuner.tune` checked and resolved before anything is stored.

:func:`prepare` reads the space and the config, renders the config across the space, decides the
objective, the command, the slots, the sampler and the pruner, and returns a frozen :class:`TunePlan`;
:func:`check_plan` then looks at the results folder and lets the built-in trainer check the config.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.config.preflight import PreparedConfig, prepare_config
from tuner.config.script_mode import config_or_parameters
from tuner.config.sources import load_space
from tuner.errors import OptionError
from tuner.study.checkpoints import DEFAULT_KEEP, parse_keep
from tuner.study.constraints import sampler_note
from tuner.study.folders import default_results_dir
from tuner.study.objective import Objective, objective_from_config
from tuner.study.samplers import build_pruner, build_sampler
from tuner.study.storage import default_storage_url
from tuner.trials.budget import FailurePolicy
from tuner.trials.gpu_watch import GpuWatch
from tuner.trials.launch import GPU_PLACEHOLDERS, TERMINATE_GRACE_SECONDS, CommandTemplate
from tuner.trials.metric_sources import MetricSourceSpec
from tuner.trials.retries import DEFAULT_MAX_RETRIES
from tuner.trials.script_checks import check_script_command, script_launch_options
from tuner.trials.slots import Slot, plan_slots
from tuner.trials.trainer_check import check_with_builtin_trainer

if TYPE_CHECKING:
    import optuna
    from rich.console import Console

    from tuner.display.progress import TuneDisplay
    from tuner.space.parameters import SearchSpace
    from tuner.study.warm_start import WarmStart
    from tuner.trials.budget import Budget

DEFAULT_RESULTS_DIR = "results"


@dataclass(frozen=True)
class TunePlan:
    """Everything :func:`tune` decided from its arguments, all checked, before anything is stored."""

    space: SearchSpace
    prepared: PreparedConfig  # the config snapshot, checked to render across the space
    objective: Objective
    template: CommandTemplate
    study_name: str
    storage_url: str
    results_dir: Path
    slots: tuple[Slot, ...]
    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    setup: Mapping[str, Any]  # the sampler and pruner as the study records them
    failure_policy: FailurePolicy  # counts this run's failures: a plan is run once
    n_trials: int | None
    timeout: float | None
    trial_timeout: float | None
    restart: bool
    warm_launch: bool
    # Retries and interrupts (issue 16): attempts after an interrupt; SIGTERM-to-SIGKILL seconds on Ctrl-C/SIGTERM.
    max_retries: int = DEFAULT_MAX_RETRIES
    grace: float = TERMINATE_GRACE_SECONDS
    # GPUs (issue 14): --gpus free re-checks the slots' GPUs before each launch
    gpu_watch: GpuWatch | None = None
    # GPU-hours and disk (tuner.trials.accounting, tuner.study.checkpoints)
    gpu_hours: float | None = None
    keep_checkpoints: int | None = 1  # how many of the best trials keep their weights; None: all
    # Epoch metrics from framework logs (issue 17): --metrics-from / --metrics-file; None: metrics.jsonl only
    metrics_from: MetricSourceSpec | None = None
    # Scripts that take flags (README "Scripts that take flags"): where trials run; what warm workers import
    trial_cwd: str = "tune"
    preload: tuple[str, ...] = ()
    # Warm starts and stopping (README "Warm starts and stopping"): parameter values to run first, checked;
    # the earlier study's trials to add; the stop rules.
    enqueue: tuple[dict[str, Any], ...] = ()
    warm_start: WarmStart | None = None
    patience: int | None = None
    target: float | None = None
    terminator: bool = False

    @property
    def command(self) -> list[str] | None:
        """The command template as the study stores it; None for the built-in trainer's."""
        return None if self.template.is_default else list(self.template.argv)

    def seed_study(self, study: optuna.Study, console: Console) -> None:
        """Add the warm start's trials and queue the enqueued ones (each once), and say so."""
        from tuner.study.warm_start import seed_study

        for line in seed_study(study, self.warm_start, self.enqueue):
            console.print(line, highlight=False)

    @contextmanager
    def stop_rules_watching(self, study: optuna.Study, budget: Budget, display: TuneDisplay) -> Iterator[None]:
        """Judge the stop rules on the stored trials, and again as each trial of this run completes, until
        the block ends (then the Terminator's thread ends too, a judgement in progress waited for)."""
        from tuner.trials.stopping import stop_rules

        rules = stop_rules(
            study, patience=self.patience, target=self.target, terminator=self.terminator, on_status=display.stop_status
        )
        if rules is None:
            yield
            return
        budget.stop_rules = rules
        display.after_trial = rules.trial_finished
        try:
            yield
        finally:
            rules.close()


def prepare(arguments: Mapping[str, Any]) -> TunePlan:
    """Check :func:`tune`'s ``arguments`` (all of them, by name) and decide the study; nothing is stored yet.

    The checks run in the order a user fixes things: budget, space, config, objective, command,
    slots, sampler, pruner, failure policy, results folder, and last the trainer's own check.
    """
    _check_budget(arguments["n_trials"], arguments["timeout"], arguments["trial_timeout"])
    _check_retries(arguments["max_retries"], arguments["grace"])
    space = load_space(arguments["search_space"])
    snapshot, default_study_name = config_or_parameters(arguments, space)
    prepared = prepare_config(snapshot, space, dict(arguments["ext_vars"] or {}))
    objective = _objective(arguments, prepared.rendered_low, snapshot.entry)
    template = check_script_command(CommandTemplate.parse(arguments["command"], space.names), space.names, arguments)
    study_name = arguments["study_name"] or default_study_name
    storage_url = arguments["storage"] or default_storage_url()
    results_dir = _results_dir(arguments["serialization_dir"], study_name, storage_url)
    slots, gpu_watch = _slots(arguments, template)
    sampler = build_sampler(
        arguments["sampler"], arguments["sampler_kwargs"], seed=arguments["seed"], space=space, parallel=len(slots) > 1
    )
    pruner = build_pruner(arguments["pruner"], arguments["pruner_kwargs"])
    return TunePlan(
        space=space,
        prepared=prepared,
        objective=objective,
        template=template,
        study_name=study_name,
        storage_url=storage_url,
        results_dir=results_dir,
        slots=slots,
        sampler=sampler,
        pruner=pruner,
        setup=_setup(arguments, sampler, pruner),
        failure_policy=FailurePolicy(
            max_failures=arguments["max_failures"], max_failure_rate=arguments["max_failure_rate"]
        ),
        **{name: arguments[name] for name in ("n_trials", "timeout", "trial_timeout", "restart", "warm_launch")},
        max_retries=arguments["max_retries"],
        grace=arguments["grace"],
        gpu_watch=gpu_watch,
        gpu_hours=_check_gpu_hours(arguments.get("gpu_hours")),
        keep_checkpoints=parse_keep(arguments.get("keep_checkpoints") or DEFAULT_KEEP),
        metrics_from=MetricSourceSpec.parse(arguments.get("metrics_from"), arguments.get("metrics_file")),
        **script_launch_options(arguments),  # trial_cwd, preload
        **_warm_start_and_stopping(arguments, space, prepared, objective, study_name, storage_url),
    )


def _warm_start_and_stopping(
    arguments: Mapping[str, Any],
    space: SearchSpace,
    prepared: PreparedConfig,
    objective: Objective,
    study_name: str,
    storage_url: str,
) -> dict[str, Any]:
    """--patience, --target, --terminator, --enqueue and --warm-start-from, checked (the warm start's study read)."""
    from tuner.study.enqueue import load_enqueue
    from tuner.study.warm_start import find_warm_start
    from tuner.trials.stopping import check_stop_rules

    multi = bool(getattr(objective, "is_multi", False))
    patience, target, terminator = (arguments.get(name) for name in ("patience", "target", "terminator"))
    check_stop_rules(patience, target, bool(terminator), multi_objective=multi)
    enqueue = arguments.get("enqueue")
    warm_start = None
    if arguments.get("warm_start_from") is not None:
        warm_start = find_warm_start(
            arguments["warm_start_from"],
            storage_url if arguments.get("warm_start_storage") is None else arguments["warm_start_storage"],
            study_name=study_name,
            own_storage_url=storage_url,
            space=space,
            directions=tuple(getattr(objective, "directions", None) or (objective.direction,)),
            metric=None if multi else objective.metric,
        )
    elif arguments.get("warm_start_storage") is not None:
        raise OptionError(
            f"--warm-start-storage {arguments['warm_start_storage']} is where --warm-start-from's study lives; "
            "give --warm-start-from STUDY too"
        )
    return {
        "enqueue": load_enqueue(enqueue, space, prepared.snapshot) if enqueue is not None else (),
        "warm_start": warm_start,
        "patience": patience,
        "target": target,
        "terminator": bool(terminator),
    }


def _objective(arguments: Mapping[str, Any], rendered: Mapping[str, Any], config_name: str) -> Objective:
    """``metric``/``direction`` (paired lists for several objectives), ``prune_on`` and ``constraints``."""
    return objective_from_config(
        arguments["metric"],
        arguments["direction"],
        rendered,
        config_name=config_name,
        prune_on=arguments.get("prune_on"),
        constraints=arguments.get("constraints"),
    )


def _slots(arguments: Mapping[str, Any], template: CommandTemplate) -> tuple[tuple[Slot, ...], GpuWatch | None]:
    """The slots of --gpus, --trials-per-gpu, --gpus-per-trial or --n-jobs; the command's GPU placeholders need GPUs."""
    slots, watch = plan_slots(
        gpus=arguments["gpus"],
        trials_per_gpu=arguments["trials_per_gpu"],
        n_jobs=arguments["n_jobs"],
        gpus_per_trial=arguments["gpus_per_trial"],
        busy_gpu_mb=arguments["busy_gpu_mb"],
    )
    for placeholder in GPU_PLACEHOLDERS:
        if template.uses(placeholder) and not slots[0].gpus:
            raise OptionError(f"--command uses {placeholder}, which needs --gpus (trials run on the CPU without it)")
    return tuple(slots), watch


def _check_gpu_hours(gpu_hours: float | None) -> float | None:
    """For Python callers: the CLI's option type refuses these values before tune is called."""
    if gpu_hours is not None and not 0 < gpu_hours < math.inf:
        raise OptionError(f"gpu_hours must be a finite positive number of GPU-hours, got {gpu_hours:g}")
    return gpu_hours


def check_plan(plan: TunePlan, console: Console) -> None:
    """The checks that look outside the arguments: the results folder, then the trainer itself."""
    _check_results_dir(plan.results_dir)
    for note in plan.gpu_watch.notes if plan.gpu_watch else ():
        console.print(f"note: {note}", highlight=False)
    if note := sampler_note(plan.sampler, plan.objective.constraints):  # --constraint with a sampler that ignores it
        console.print(f"note: {note}", highlight=False)
    # Last of the checks before anything is stored: it starts a process that imports torch.
    for note in check_with_builtin_trainer(plan.prepared, plan.template, {**os.environ, **plan.slots[0].env}):
        console.print(f"note: {note}", highlight=False)


def _check_budget(n_trials: int | None, timeout: float | None, trial_timeout: float | None) -> None:
    """For Python callers: the CLI's option types refuse these values before tune is called."""
    if n_trials is not None and n_trials < 1:
        raise OptionError(f"n_trials must be at least 1, got {n_trials}")
    if timeout is not None and not 0 < timeout < math.inf:  # not written `timeout <= 0`: NaN passes that
        raise OptionError(f"timeout must be a finite positive number of seconds, got {timeout:g}")
    if trial_timeout is not None and not 0 < trial_timeout < math.inf:
        raise OptionError(f"trial_timeout must be a finite positive number of seconds, got {trial_timeout:g}")


def _check_retries(max_retries: int, grace: float) -> None:
    """For Python callers, as :func:`_check_budget`."""
    if max_retries < 0:
        raise OptionError(f"max_retries must be at least 0, got {max_retries}")
    if not 0 < grace < math.inf:
        raise OptionError(f"grace must be a finite positive number of seconds, got {grace:g}")


def _results_dir(given: str | os.PathLike[str] | None, study_name: str, storage_url: str) -> Path:
    return Path(given) if given else default_results_dir(Path(DEFAULT_RESULTS_DIR), study_name, storage_url)


def _check_results_dir(path: Path) -> None:
    """Refuse a results folder that cannot be used, before anything is created."""
    if path.exists() and not path.is_dir():
        raise OptionError(f"serialization_dir {path} is a file, not a folder")
    existing = next((parent for parent in (path, *path.parents) if parent.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f"serialization_dir {path} is not writable ({existing} is not a writable folder)")


def _setup(arguments: Mapping[str, Any], sampler: Any, pruner: Any) -> dict[str, Any]:
    """The sampler and pruner as the study records them: class name and arguments (objects as their repr)."""

    def plain(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
        return json.loads(json.dumps(dict(kwargs or {}), default=repr))

    return {
        "sampler": {
            "name": type(sampler).__name__,
            "kwargs": plain(arguments["sampler_kwargs"]),
            "seed": arguments["seed"],
        },
        "pruner": {"name": type(pruner).__name__, "kwargs": plain(arguments["pruner_kwargs"])},
    }
