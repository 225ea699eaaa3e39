"""Retrain a config with several seeds and report mean ± std of the metric; compare two configs.

Each run lives in ``<dir>/seed_<n>/`` (config.json, out.log, metrics.jsonl, metrics.json),
run by the same trial contract as ``tune``. A run whose ``metrics.json`` gives the metric
is not run again, so re-running a command only trains what is missing. The default
folder is named after the config's content, so an edited config never reuses old runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner import contract
from tuner.config.preflight import prepare_config
from tuner.config.snapshot import capture_config
from tuner.contract import EpochMetricsReader, TrialResultError, read_final_metrics
from tuner.errors import ConfigError, OptionError
from tuner.space.parameters import SearchSpace
from tuner.study.objective import Objective, objective_from_config
from tuner.trials.launch import GPU_PLACEHOLDERS, CommandTemplate, TrialProcess, terminate_all, wait_for_exit

SEED_KEYS = ("random_seed", "numpy_seed", "pytorch_seed")
DEFAULT_RETRAIN_DIR = Path("results") / "retrain"
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class SeedRun:
    """One training run: its seed, and its metric value or why it has none."""

    seed: int
    directory: Path
    value: float | None = None
    reason: str | None = None
    seconds: float | None = None
    reused: bool = False


@dataclass
class RetrainResult:
    """The runs of one config over several seeds."""

    label: str
    config_path: Path
    directory: Path
    objective: Objective
    runs: list[SeedRun] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [run.value for run in sorted(self.runs, key=lambda run: run.seed) if run.value is not None]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation (n - 1); None with fewer than two values."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def failed(self) -> list[SeedRun]:
        return [run for run in self.runs if run.value is None]

    def summary(self, digits: int = 3) -> str:
        """``0.909 ± 0.002``."""
        if self.mean is None:
            return "-"
        spread = f" ± {self.std:.{digits}f}" if self.std is not None else ""
        return f"{self.mean:.{digits}f}{spread}"


@dataclass(frozen=True)
class _Job:
    result: RetrainResult
    seed: int
    config: dict[str, Any]


RunCallback = Callable[[RetrainResult, SeedRun], None]


def retrain(*, config: str | os.PathLike[str], **options: Any) -> RetrainResult:
    """Train ``config`` with seeds ``0 … seeds-1`` (its seed keys overridden) and collect the metric.

    ``options`` are those of :func:`retrain_many` (``seeds``, ``serialization_dir``, ``metric``,
    ``direction``, ``command``, ``ext_vars``, ``n_jobs``, ``on_run``); runs go to ``<dir>/seed_<n>``.
    """
    (result,) = retrain_many(configs={"config": config}, subfolders=False, **options)
    return result


def compare(
    *, baseline: str | os.PathLike[str], tuned: str | os.PathLike[str], **options: Any
) -> tuple[RetrainResult, RetrainResult]:
    """Retrain ``baseline`` and ``tuned`` with the same seeds, into ``<dir>/baseline`` and ``<dir>/tuned``.

    ``options`` are those of :func:`retrain_many`; both configs must be judged by the same metric.
    """
    baseline_result, tuned_result = retrain_many(configs={"baseline": baseline, "tuned": tuned}, **options)
    return baseline_result, tuned_result


def retrain_many(
    *,
    configs: Mapping[str, str | os.PathLike[str]],
    seeds: int = 5,
    serialization_dir: str | os.PathLike[str] | None = None,
    metric: str | None = None,
    direction: str | None = None,
    command: str | None = None,
    ext_vars: Mapping[str, str] | None = None,
    n_jobs: int = 1,
    on_run: RunCallback | None = None,
    subfolders: bool = True,
) -> list[RetrainResult]:
    """Retrain each labelled config ``seeds`` times, ``n_jobs`` runs at once, and collect ``metric``.

    The metric defaults to the config's ``trainer.validation_metric``, the command to the
    built-in trainer. With ``serialization_dir``, each config's runs go to ``<dir>/<label>``
    (or ``<dir>`` itself without ``subfolders``); without it, to a folder named after the
    config's content. ``on_run`` is called as each run finishes or is found done.

    Raises:
        OptionError: the configs are judged by different metrics (pass ``metric`` and ``direction``).
    """
    for name, count in (("seeds", seeds), ("n_jobs", n_jobs)):
        if count < 1:  # the CLI's option types refuse these first; this is for Python callers
            raise OptionError(f"{name} must be at least 1, got {count}")
    template = _with_visible_gpus(CommandTemplate.parse(command))
    results, jobs = [], []
    for label, path in configs.items():
        config = rendered_config(path, ext_vars or {})
        objective = objective_from_config(metric, direction, config, config_name=str(path))
        directory = _directory(serialization_dir, label if subfolders else None, path, config, template)
        result = RetrainResult(label, Path(path), directory, objective)
        results.append(result)
        jobs += [_Job(result, seed, with_seed(config, seed)) for seed in range(seeds)]
    _check_same_objective(results)
    _run_jobs(jobs, template, n_jobs, on_run)
    return results


def _check_same_objective(results: Sequence[RetrainResult]) -> None:
    """Configs compared side by side must be judged alike."""
    if len({result.objective for result in results}) > 1:
        described = " vs ".join(f"{result.objective.metric} ({result.label})" for result in results)
        raise OptionError(f"the configs are judged by different metrics, {described}; pass --metric and --direction")


def rendered_config(path: str | os.PathLike[str], ext_vars: Mapping[str, str]) -> dict[str, Any]:
    """A ``.json`` config as it is, or a Jsonnet config rendered with ``ext_vars`` (else the environment)."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    else:
        data = _render_jsonnet(path, ext_vars)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a JSON object")
    return data


def _render_jsonnet(path: Path, ext_vars: Mapping[str, str]) -> Any:
    """Render a Jsonnet config as it is; an ext var without a value is named in retrain's terms (no search space)."""
    snapshot = capture_config(path)
    try:
        return prepare_config(snapshot, SearchSpace(()), ext_vars).rendered_low
    except ConfigError:
        used = snapshot.ext_var_names()
        missing = {name: where for name, where in used.items() if name not in ext_vars and name not in os.environ}
        if not missing:
            raise
        names = ", ".join(f"'{name}' ({where})" for name, where in missing.items())
        example = next(iter(missing))
        raise ConfigError(
            f"{path}: the config reads ext var{'s' if len(missing) > 1 else ''} {names} with no value; "
            f"pass --ext-var {example}=VALUE or set it in the environment "
            f"(to retrain a tuned trial, write its config with tune dump-best and retrain that)"
        ) from None


def with_seed(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``config`` with its seed keys (those of :data:`SEED_KEYS` it has, or all of them) set to ``seed``."""
    keys = [key for key in SEED_KEYS if key in config] or list(SEED_KEYS)
    return {**config, **dict.fromkeys(keys, seed)}


def _directory(
    given: str | os.PathLike[str] | None,
    label: str | None,
    path: str | os.PathLike[str],
    config: Mapping[str, Any],
    template: CommandTemplate,
) -> Path:
    if given is not None:
        return Path(given) / label if label else Path(given)
    unseeded = {key: value for key, value in config.items() if key not in SEED_KEYS}
    content = json.dumps([unseeded, list(template.argv)], sort_keys=True, default=str)
    return DEFAULT_RETRAIN_DIR / f"{Path(path).stem}-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def _run_jobs(jobs: Sequence[_Job], template: CommandTemplate, n_jobs: int, on_run: RunCallback | None) -> None:
    """Run the jobs ``n_jobs`` at a time; runs already done are read back, not run."""
    pending = []
    for job in jobs:
        done = _reuse(job)
        if done is not None:
            _record(job, done, on_run)
        else:
            pending.append(job)
    running: dict[TrialProcess, tuple[_Job, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.pop(0)
                running[_start(job, template)] = (job, time.monotonic())
            wait_for_exit(running, POLL_SECONDS)
            for process in [process for process in running if process.poll() is not None]:
                job, started = running.pop(process)
                _record(job, _judge(job, process.poll(), time.monotonic() - started), on_run)
    finally:
        terminate_all(running)  # every group at once: one grace period, not one per run


def _seed_dir(job: _Job) -> Path:
    return job.result.directory / f"seed_{job.seed}"


def _reuse(job: _Job) -> SeedRun | None:
    directory = _seed_dir(job)
    if not (directory / contract.FINAL_METRICS_FILE_NAME).is_file():
        return None
    stored = directory / contract.CONFIG_FILE_NAME
    if stored.is_file() and json.loads(stored.read_text(encoding="utf-8")) != job.config:
        raise OptionError(
            f"{directory} holds a run of another config; use another --serialization-dir or delete that folder"
        )
    try:
        return SeedRun(job.seed, directory, value=_value(directory, job.result.objective), reused=True)
    except TrialResultError:
        return None  # its metrics.json lacks the metric: train again


def _with_visible_gpus(template: CommandTemplate) -> CommandTemplate:
    """Fill ``{gpus}``/``{n_gpus}`` with this process's ``CUDA_VISIBLE_DEVICES`` (retrain has no ``--gpus``)."""
    if not any(template.uses(placeholder) for placeholder in GPU_PLACEHOLDERS):
        return template
    visible = [entry.strip() for entry in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    if not visible:
        raise OptionError(
            "the command uses {gpus} or {n_gpus}: set CUDA_VISIBLE_DEVICES to the GPUs the runs may use "
            "(e.g. CUDA_VISIBLE_DEVICES=0,1), or pass --command with them written out"
        )
    return template.for_slot(tuple(visible))


def _start(job: _Job, template: CommandTemplate) -> TrialProcess:
    directory = _seed_dir(job).resolve()
    if directory.exists():
        shutil.rmtree(directory)  # an unfinished run
    directory.mkdir(parents=True)
    config_path = directory / contract.CONFIG_FILE_NAME
    contract.write_json_atomically(config_path, job.config)
    env = {
        **os.environ,
        contract.ENV_CONFIG: str(config_path),
        contract.ENV_SERIALIZATION_DIR: str(directory),
        contract.ENV_METRICS_FILE: str(directory / contract.EPOCH_METRICS_FILE_NAME),
        contract.ENV_TRIAL_NUMBER: str(job.seed),
    }
    env.setdefault("PYTHONUNBUFFERED", "1")
    argv = template.render(config=config_path, serialization_dir=directory, trial_number=job.seed)
    try:
        return TrialProcess(argv, env=env, log_path=directory / contract.LOG_FILE_NAME)
    except OSError as error:
        raise OptionError(f"cannot start {argv[0]}: {error.strerror}") from None


def _judge(job: _Job, exit_status: int | None, seconds: float) -> SeedRun:
    directory = _seed_dir(job)
    if exit_status != 0:
        return SeedRun(
            job.seed,
            directory,
            reason=f"crashed (exit code {exit_status}); see {directory / contract.LOG_FILE_NAME}",
            seconds=seconds,
        )
    objective = job.result.objective
    try:
        value = _value(directory, objective)
    except TrialResultError as error:
        return SeedRun(job.seed, directory, reason=str(error), seconds=seconds)
    final = read_final_metrics(directory / contract.FINAL_METRICS_FILE_NAME) or {}
    if objective.metric not in final:  # so that a re-run finds this run done
        contract.write_json_atomically(directory / contract.FINAL_METRICS_FILE_NAME, {**final, objective.metric: value})
    return SeedRun(job.seed, directory, value=value, seconds=seconds)


def _value(directory: Path, objective: Objective) -> float:
    epochs = EpochMetricsReader(directory / contract.EPOCH_METRICS_FILE_NAME).read_new()
    return objective.final_value(epochs, read_final_metrics(directory / contract.FINAL_METRICS_FILE_NAME))


def _record(job: _Job, run: SeedRun, on_run: RunCallback | None) -> None:
    job.result.runs.append(run)
    if on_run is not None:
        on_run(job.result, run)
