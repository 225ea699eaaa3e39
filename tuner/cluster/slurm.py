"""``tune slurm``: a SLURM job array of ordinary ``tune run`` workers on one study, submitted through submitit.

Each array task runs ``tune run`` with the same command line in the submitting folder (a shared file system), on
the same storage and study name: the study's ``--n-trials`` is their total, as for several ``tune`` processes by
hand. A task's trials use its node's GPUs as slots (``--gpus all``: SLURM's ``CUDA_VISIBLE_DEVICES`` for
``--gpus-per-node``). SLURM's SIGTERM (preemption, ``scancel``, ``scontrol requeue``, and ``--signal`` before the
time limit) is tune's SIGTERM: running trials get ``--grace`` seconds and are recorded as interrupted, to resume in
their folder in the next worker that asks for a trial. A task killed before it could record them leaves them
RUNNING; the next ``tune`` start recovers them (launch record on the host, heartbeat elsewhere).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.cluster.sbatch import (
    check_shared_storage,
    grace_warning,
    kill_wait_seconds,
    parse_sbatch_options,
    parse_time,
    signal_option,
)
from tuner.cluster.watch import StaleTrialWatch
from tuner.errors import OptionError, StudyError
from tuner.trials.gpus import ENV_AVAILABLE_GPUS, ENV_VISIBLE

if TYPE_CHECKING:
    from tuner.plan import TunePlan

SLURM_LOG_DIR_NAME = "slurm"  # in the study's results folder: submitit's pickles and each task's log
MAX_RUNS = 10  # tune runs per task: the first, and more only for trials recovered after one finished


@dataclass(frozen=True)
class TuneWorker:
    """One array task: ``tune run ARGV`` in ``cwd``; the task's exit status is tune's (130 when interrupted).

    Beside it, a :class:`~tuner.cluster.watch.StaleTrialWatch` recovers the trials of tasks killed meanwhile;
    should it recover some once tune has finished (the study looked full with them), tune runs again for them.
    """

    argv: tuple[str, ...]
    cwd: str
    storage_url: str
    study_name: str
    max_retries: int

    def __call__(self, index: int) -> int:
        # A child process, not tune() in this one: submitit's task process ignores SIGTERM (it logs it), and
        # the worker is then exactly the `tune run` a user would start by hand.
        os.chdir(self.cwd)  # relative paths (a journal file, the config) mean what they meant where it was submitted
        watch = StaleTrialWatch(self.storage_url, self.study_name, self.max_retries)
        for _ in range(MAX_RUNS):
            with watch.watching():
                tune = subprocess.run([sys.executable, "-m", "tuner", "run", *self.argv], check=False)
            code = tune.returncode
            if code or not watch.recover_once():
                break
        if code:
            raise SystemExit(code if code > 0 else 128 - code)  # killed by signal N: 128 + N, as a shell says
        return 0


@dataclass(frozen=True)
class SlurmSubmission:
    """A submitted job array: its id, its tasks' ids, where their logs go, and the study they work on."""

    job_id: str
    task_ids: tuple[str, ...]
    log_dir: Path
    study_name: str
    storage_url: str
    warnings: tuple[str, ...] = field(default=())


def submit_tune_array(
    *,
    run_argv: Sequence[str],
    tune_arguments: Mapping[str, Any],
    workers: int,
    time: str,
    partition: str | None = None,
    gpus_per_worker: int = 0,
    sbatch_options: Sequence[str] = (),
) -> SlurmSubmission:
    """Submit ``workers`` array tasks, each running ``tune run`` with ``run_argv`` on one study.

    ``tune_arguments`` are the :func:`tuner.tune` keywords ``run_argv`` stands for: they are checked first, as
    ``tune run`` would check them on a node, so that a mistake is refused here and nothing is submitted.

    Raises:
        TunerError: a bad input (SQLite storage, ``time``, an sbatch option, the config or space), or sbatch's
            refusal (an unknown partition, say); nothing was submitted then.
    """
    parse_time(time)
    extra = parse_sbatch_options(sbatch_options)
    if workers < 1 or gpus_per_worker < 0:
        raise OptionError(
            f"workers must be at least 1 and gpus_per_worker at least 0, got {workers}, {gpus_per_worker}"
        )
    arguments, argv = _task_arguments(_with_defaults(tune_arguments), list(run_argv), gpus_per_worker)
    plan = _checked_plan(arguments, gpus_per_worker)
    resources = {"time": time, "partition": partition, "gpus": gpus_per_worker, "n_jobs": arguments["n_jobs"]}
    executor = _executor(plan, workers, resources, extra)
    worker = TuneWorker(tuple(argv), os.getcwd(), plan.storage_url, plan.study_name, plan.max_retries)
    jobs = _submit(executor, worker, workers, plan.results_dir / SLURM_LOG_DIR_NAME)
    warning = grace_warning(plan.grace, kill_wait_seconds())
    return SlurmSubmission(
        job_id=jobs[0].job_id.split("_")[0],
        task_ids=tuple(job.job_id for job in jobs),
        log_dir=plan.results_dir / SLURM_LOG_DIR_NAME,
        study_name=plan.study_name,
        storage_url=plan.storage_url,
        warnings=(warning,) if warning else (),
    )


def _with_defaults(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every :func:`tuner.tune` keyword: those given, the others at their defaults."""
    from tuner.api import tune

    parameters = inspect.signature(tune).parameters
    defaults = {name: parameter.default for name, parameter in parameters.items() if name != "console"}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise OptionError(f"tune() takes no argument {unknown[0]!r}")
    return {**defaults, **given}


def _task_arguments(
    arguments: dict[str, Any], argv: list[str], gpus_per_worker: int
) -> tuple[dict[str, Any], list[str]]:
    """What each task's tune runs with: the shared storage, and ``--gpus all`` on a GPU node unless --gpus says."""
    check_shared_storage(arguments["storage"] or "sqlite:///tune.db")
    if arguments["restart"]:
        raise OptionError(
            "tune slurm cannot --restart: every worker would start the study over; delete the study first "
            "(optuna delete-study --storage URL --study-name NAME) or pass another --study-name"
        )
    if gpus_per_worker and arguments["gpus"] is None:
        arguments["gpus"] = "all"  # the task's GPUs: SLURM sets CUDA_VISIBLE_DEVICES for --gpus-per-node
        argv = [*argv, "--gpus", "all"]
    elif arguments["gpus"] is not None and not gpus_per_worker:
        raise OptionError("--gpus needs --gpus-per-worker: a SLURM task sees only the GPUs it asks for")
    return arguments, argv


def _checked_plan(arguments: Mapping[str, Any], gpus_per_worker: int) -> TunePlan:
    """The plan a task's tune makes, made here (nothing is stored), with the GPUs a task will see."""
    from tuner.plan import prepare

    with _gpus_of_a_task(gpus_per_worker):
        return prepare(arguments)


@contextlib.contextmanager
def _gpus_of_a_task(count: int) -> Iterator[None]:
    """Inside the block, GPU discovery finds ``count`` GPUs, as a task given ``--gpus-per-node=count`` does
    (the submitting machine's own GPUs, if any, do not matter)."""
    if not count:
        yield
        return
    saved = {name: os.environ.get(name) for name in (ENV_AVAILABLE_GPUS, ENV_VISIBLE)}
    os.environ[ENV_AVAILABLE_GPUS] = ",".join(str(index) for index in range(count))
    os.environ.pop(ENV_VISIBLE, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _executor(plan: TunePlan, workers: int, resources: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    """submitit's SLURM executor for ``workers`` tasks that all run at once (one array, parallelism ``workers``)."""
    missing = [program for program in ("sbatch", "srun") if shutil.which(program) is None]
    if missing:
        raise OptionError(f"tune slurm needs SLURM's {missing[0]} on PATH: run it on a login node of the cluster")
    import submitit

    executor = submitit.SlurmExecutor(folder=plan.results_dir / SLURM_LOG_DIR_NAME / "%j", max_num_timeout=0)
    cpus = resources["n_jobs"] if not resources["gpus"] else None
    executor.update_parameters(
        job_name=f"tune-{plan.study_name}",
        partition=resources["partition"],
        gpus_per_node=resources["gpus"] or None,
        cpus_per_task=cpus,
        array_parallelism=workers,
        stderr_to_stdout=True,
        # submitit's own --signal (USR2 for its checkpoint-and-requeue) would kill tune: SIGTERM instead, which
        # tune handles as it handles preemption. The time in sbatch's form, to the second.
        additional_parameters={"time": resources["time"], "signal": signal_option(plan.grace), **extra},
    )
    return executor


def _submit(executor: Any, worker: TuneWorker, workers: int, log_dir: Path) -> list[Any]:
    """Submit the array; sbatch's refusal is one line (and the log folder made for it goes again)."""
    from submitit.core.utils import FailedJobError

    existed = log_dir.exists()
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's stderr too
            return executor.map_array(worker, range(workers))
    except FailedJobError as error:
        if not existed:
            shutil.rmtree(log_dir, ignore_errors=True)
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise StudyError(
            f"sbatch refused the job array, nothing was submitted: {lines[-1] if lines else error}"
        ) from None
