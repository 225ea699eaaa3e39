"""``tune()``: one study from a config and a search space to the best config.

Four steps: :func:`tuner.plan.prepare` checks every argument and makes a :class:`TunePlan` (nothing is
stored or created before it returns, so a bad input changes nothing); :func:`open_study` claims the results
folder and creates or resumes the study; :func:`run_study` runs its trials with a live display; the
:class:`TuneResult` holds what it found.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.display.consoles import message_console
from tuner.errors import OptionError, StudyError
from tuner.plan import TunePlan, check_plan, prepare
from tuner.study.artifacts import ARTIFACTS_DIR_NAME
from tuner.study.best_config import BEST_CONFIG_FILE_NAME, BestConfigFile
from tuner.study.checkpoints import BEST_MODEL_DIR_NAME
from tuner.study.folders import check_owner, claim
from tuner.study.objective import Objective
from tuner.study.pareto import ParetoFiles
from tuner.study.records import (
    add_spent_seconds,
    command_key,
    gpu_usage,
    remember_setup,
    remember_trial_cwd,
    spent_seconds,
)
from tuner.study.storage import (
    HEARTBEAT_INTERVAL_SECONDS,
    check_space_compatible,
    create_or_resume_study,
    describe_storage,
    open_storage,
    watch_storage_file,
)
from tuner.study.storage_errors import storage_and_disk_errors
from tuner.study.workers import WorkerRecord
from tuner.trials.accounting import TrialAccounting
from tuner.trials.budget import Budget
from tuner.trials.gpu_watch import DEFAULT_BUSY_GPU_MB
from tuner.trials.launch import TERMINATE_GRACE_SECONDS
from tuner.trials.reaper import Reaper
from tuner.trials.recovery import launch_identity, recover_stale_trials
from tuner.trials.retries import DEFAULT_MAX_RETRIES
from tuner.trials.run_report import RunSummary
from tuner.trials.runner import StudyRunner

if TYPE_CHECKING:
    import optuna
    from rich.console import Console

    from tuner.analysis.export import ExportResult


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
    best_model_path: Path | None = None  # best_model/: the best trial's declared weights, when it declared any
    pareto_trials: list[optuna.trial.FrozenTrial] = field(default_factory=list)  # several objectives: no best
    pareto_dir: Path | None = None  # pareto/: the front's configs and front.tsv (README "Several objectives")

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params) if self.best_trial else {}

    @property
    def best_value(self) -> float | None:
        return self.best_trial.value if self.best_trial else None

    def save_to_directory(
        self, directory: str | os.PathLike[str], *, plots: bool = True, plot_format: str = "png", separator: str = "\t"
    ) -> ExportResult:
        """Write the files ``tune export`` writes: trials.tsv, study.json, best_config.json, plots/; with
        several objectives pareto/ (the front's configs and front.tsv) in place of best_config.json."""
        from tuner.analysis.export import export_study

        return export_study(self.study, directory=directory, plots=plots, plot_format=plot_format, separator=separator)


@storage_and_disk_errors
def tune(
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    search_space: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
    n_trials: int | None = None,
    timeout: float | None = None,
    metric: str | Sequence[str] | None = None,
    direction: str | Sequence[str] | None = None,
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
    gpus_per_trial: int = 1,  # GPUs (issue 14): groups of GPUs per trial; --gpus free's threshold
    busy_gpu_mb: float = DEFAULT_BUSY_GPU_MB,
    trial_timeout: float | None = None,
    max_failures: int | None = None,
    max_failure_rate: float | None = None,
    restart: bool = False,
    warm_launch: bool = True,
    max_retries: int = DEFAULT_MAX_RETRIES,
    grace: float = TERMINATE_GRACE_SECONDS,
    gpu_hours: float | None = None,
    keep_checkpoints: str = "best",
    metrics_from: str | None = None,
    metrics_file: str | None = None,
    trial_cwd: str = "tune",  # scripts that take flags: "trial" runs each trial in its folder
    preload: Sequence[str] = (),  # modules warm workers import before forking (--preload)
    enqueue: str | os.PathLike[str] | list[dict[str, Any]] | None = None,
    warm_start_from: str | None = None,
    warm_start_storage: str | None = None,
    patience: int | None = None,
    target: float | None = None,
    terminator: bool = False,
    prune_on: str | None = None,  # several objectives (README "Several objectives")
    constraints: Sequence[str] = (),
    console: Console | None = None,
) -> TuneResult:
    """Tune the hyper-parameters of ``config`` over ``search_space`` with Optuna.

    Every trial renders the Jsonnet config with sampled values as ext vars and runs the training
    command as a subprocess. ``n_trials`` and ``timeout`` are the study's totals, earlier runs
    included, so calling again with the same arguments resumes it. The arguments mean what the
    ``tune run`` options of the same name mean, with the same defaults (docs/api.md): ``config`` is a
    Jsonnet/JSON path, text or a dict (None with a ``command`` whose placeholders take the
    parameters: README "Scripts that take flags"); ``search_space`` a path, text or the parsed data; ``sampler``
    and ``pruner`` a name (any case), an Optuna class or an instance (``*_kwargs`` and ``seed`` apply
    to names and classes); ``ext_vars`` the fixed ext vars; ``gpus`` ``"0,1"``, ``"all"``, ``"free"`` or a list.
    Progress goes to ``console`` (default: stderr).

    Returns:
        A :class:`TuneResult`; ``save_to_directory`` writes what ``tune export`` writes.

    Raises:
        TunerError: a bad input (file, option, stored study), before any trial runs.
    """
    arguments = dict(locals())  # the first statement: every argument by name, and nothing else
    del arguments["console"]
    console = console or message_console()
    plan = prepare(arguments)
    check_plan(plan, console)
    return run_study(plan, open_study(plan, console), console)


def tune_from_config(study_config: Mapping[str, Any], **overrides: Any) -> TuneResult:
    """Run :func:`tune` with the arguments of a study config (``{"tune": {...}, "optuna": {...}}``).

    The keys are :func:`tune`'s argument names (see :mod:`tuner.config.study_file`); ``overrides``
    (any :func:`tune` argument, ``console`` included) take precedence over the config's values.
    Relative paths are relative to the working directory.
    """
    from tuner.config.study_file import study_config_kwargs

    return tune(**{**study_config_kwargs(study_config), **overrides})


def tune_from_path(path: str | os.PathLike[str], **overrides: Any) -> TuneResult:
    """Like :func:`tune_from_config` for a ``.json`` or ``.jsonnet`` file; its relative paths start at its folder."""
    from tuner.config.study_file import load_study_config

    return tune(**{**load_study_config(path), **overrides})


def open_study(plan: TunePlan, console: Console) -> optuna.Study:
    """Claim the results folder, create or resume the study and record its setup; recover stale trials."""
    storage = open_storage(plan.storage_url, must_exist=False, heartbeat_interval=HEARTBEAT_INTERVAL_SECONDS)
    check_owner(plan.results_dir, storage_url=plan.storage_url, study_name=plan.study_name)
    _make_results_dir(plan.results_dir)
    claim(plan.results_dir, storage_url=plan.storage_url, study_name=plan.study_name)
    study, resumed = create_or_resume_study(
        storage,
        name=plan.study_name,
        direction=list(plan.objective.directions) if plan.objective.is_multi else plan.objective.direction,
        metric=list(plan.objective.metrics) if plan.objective.is_multi else plan.objective.metric,
        sampler=plan.sampler,
        pruner=plan.pruner,
        restart=plan.restart,
    )
    if plan.restart:
        _clear_results_dir(plan.results_dir)
    if resumed:
        check_space_compatible(study, plan.space)
    remember_setup(
        study,
        space=plan.space,
        snapshot=plan.prepared.snapshot,
        command=plan.command,
        sampler=plan.setup["sampler"],
        pruner=plan.setup["pruner"],
    )
    remember_trial_cwd(study, plan.trial_cwd)  # dump-best's best_command.sh runs the best trial where it ran
    _announce(console, study, resumed, plan)
    _recover_stale_trials(console, study, plan.max_retries)
    plan.seed_study(study, console)  # --warm-start-from, --enqueue
    return study


def run_study(plan: TunePlan, study: optuna.Study, console: Console) -> TuneResult:
    """Run the study's trials with a live display, keeping the time spent for ``timeout``; the result."""
    from tuner.display.progress import TuneDisplay

    best_config = BestConfigFile(plan.results_dir)
    reaper = Reaper()  # ends what trials leave behind should tune be killed
    worker = WorkerRecord(study, identity=launch_identity(), slots=len(plan.slots), interval=HEARTBEAT_INTERVAL_SECONDS)
    worker.start()  # in the study's worker registry, for `tune status`; beaten with the heartbeat, ended below
    try:
        runner = _make_runner(plan, study, best_config, reaper.env)
        pareto = ParetoFiles.for_run(study, plan.results_dir, plan.objective, runner)  # None for one objective
        budget = Budget(n_trials=plan.n_trials, timeout=plan.timeout, spent_before=spent_seconds(study))
        runner.accounting = accounting = _accounting(plan, study, budget)
        runner.metrics_from = plan.metrics_from
        # Stored every heartbeat too, so a run that is killed outright loses at most that much of the timeout.
        runner.on_checkpoint = lambda: (_record_spent_time(study, budget), worker.beat())
        display = TuneDisplay(
            console,
            n_trials=budget.n_trials,
            already_done=runner.counted_trials(),
            budget=budget,
            best=_best_trial(study),  # a resumed study shows its best from the start
            summarise=pareto.summary if pareto else None,
        )
        # --patience, --target, --terminator: the Terminator's thread ends with the block, before tune returns
        with display, plan.stop_rules_watching(study, budget, display):
            runner.observer = display
            _watch_gpus(plan, runner, display)
            try:
                summary = runner.run(budget)
            finally:
                if not runner.storage_lost:
                    _record_spent_time(study, budget)
                    worker.end()
    finally:
        reaper.close()
    result = pareto.result(TuneResult(study, plan.objective, summary)) if pareto else None
    return _settle_disk(result or _result(study, plan.objective, summary, best_config), best_config, accounting)


def _make_runner(
    plan: TunePlan, study: optuna.Study, best_config: BestConfigFile, env: Mapping[str, str]
) -> StudyRunner:
    """The plan's runner; ``env`` is added to every trial's environment."""
    return StudyRunner(
        study=study,
        space=plan.space,
        snapshot=plan.prepared.snapshot,
        template=plan.template,
        command_key=command_key(plan.command) if plan.command else None,
        objective=plan.objective,
        serialization_dir=plan.results_dir.resolve(),  # trainers may change their working directory
        slots=list(plan.slots),
        base_env={**os.environ, **env},
        trial_timeout=plan.trial_timeout,
        failure_policy=plan.failure_policy,
        heartbeat_interval=HEARTBEAT_INTERVAL_SECONDS,
        warm_launch=plan.warm_launch,
        on_best=best_config.new_best,
        storage_watch=watch_storage_file(plan.storage_url),
        max_retries=plan.max_retries,
        grace=plan.grace,
        trial_cwd=plan.trial_cwd,
        preload=plan.preload,
    )


def _settle_disk(result: TuneResult, best_config: BestConfigFile, accounting: TrialAccounting) -> TuneResult:
    """Once best_model/ is settled: where it is, and (with keep none) the best's own weights may go now."""
    result.best_model_path = best_config.best_model.path if best_config.best_model.path.is_dir() else None
    accounting.finish()
    return result


def _accounting(plan: TunePlan, study: optuna.Study, budget: Budget) -> TrialAccounting:
    """GPU-seconds and --gpu-hours (earlier runs' trials counted), artifacts, and --keep-checkpoints."""
    from tuner.study.artifacts import TrialArtifacts
    from tuner.study.checkpoints import BestModel, CheckpointKeeper

    budget.gpu_hours = plan.gpu_hours
    budget.gpu_seconds_before = sum(
        gpu_usage(trial).get("gpu_seconds", 0.0) for trial in study.get_trials(deepcopy=False)
    )
    keeper = CheckpointKeeper(study, plan.keep_checkpoints, BestModel(plan.results_dir))
    artifacts = TrialArtifacts(plan.results_dir, with_weights=plan.keep_checkpoints is None)
    return TrialAccounting(budget, keeper=keeper, artifacts=artifacts)


def _watch_gpus(plan: TunePlan, runner: StudyRunner, display: Any) -> None:
    """--gpus free: a slot whose GPU someone took waits, and the live view says so."""
    if plan.gpu_watch is not None:
        runner.slot_gate, plan.gpu_watch.observer = plan.gpu_watch, display


def _result(study: optuna.Study, objective: Objective, summary: RunSummary, best_config: BestConfigFile) -> TuneResult:
    result = TuneResult(study=study, objective=objective, summary=summary, best_trial=_best_trial(study))
    if result.best_trial is not None:
        # Written again only if the best is not this run's last: it may have come from another process.
        result.best_config = best_config.settle(study, result.best_trial)
        result.best_config_path = best_config.path
    return result


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's best trial so far (a resumed study has one), or None."""
    try:
        return study.best_trial
    except (ValueError, RuntimeError):  # RuntimeError: several objectives, no single best
        return None


def _recover_stale_trials(console: Console, study: optuna.Study, max_retries: int) -> None:
    recovered = recover_stale_trials(study, max_retries)
    if recovered:
        which = f"Trial {recovered[0]} was" if len(recovered) == 1 else f"Trials {', '.join(map(str, recovered))} were"
        console.print(
            f"{which} left running by a tune process that died: marked failed, parameters queued again "
            "(to resume in the same folder).",
            highlight=False,
        )


def _record_spent_time(study: optuna.Study, budget: Budget) -> None:
    """Add the time this run spent since the last record to the study's total (for the timeout)."""
    unrecorded = budget.elapsed() - budget.spent_before - budget.recorded
    add_spent_seconds(study, unrecorded)
    budget.recorded += unrecorded


def _make_results_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OptionError(f"serialization_dir {path}: cannot create it ({error.strerror})") from None


def _clear_results_dir(path: Path) -> None:
    """Remove the trial folders and best config of a study that is started over."""
    for child in path.glob("trial_*"):
        if child.is_dir():
            shutil.rmtree(child)
    (path / BEST_CONFIG_FILE_NAME).unlink(missing_ok=True)
    for name in (BEST_MODEL_DIR_NAME, ARTIFACTS_DIR_NAME):
        shutil.rmtree(path / name, ignore_errors=True)


def _announce(console: Console, study: optuna.Study, resumed: bool, plan: TunePlan) -> None:
    objective = plan.objective
    verb = "Resuming" if resumed else "Created"
    where = describe_storage(plan.storage_url)
    line = f"{verb} study '{study.study_name}' in {where}: {objective.described}"
    if resumed:
        counts = Counter(trial.state.name.lower() for trial in study.get_trials(deepcopy=False))
        detail = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no trials"
        line += f" ({len(study.trials)} trials so far: {detail})"
    console.print(line, highlight=False)
    console.print(f"Trial outputs in {plan.results_dir}/trial_<number>/", highlight=False)


__all__ = ["StudyError", "TunePlan", "TuneResult", "tune", "tune_from_config", "tune_from_path"]
