"""One PyKEEN run from a rendered config: check it, load the dataset, train with validation reports, write files."""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuner.contract import EPOCH_METRICS_FILE_NAME, LAST_EPOCH_KEY, is_resumed
from tuner.pykeen_trainer.errors import PykeenConfigError, PykeenMissingError
from tuner.pykeen_trainer.resume import checkpoint_epoch, checkpoint_kwargs, prepare_start, save_model
from tuner.pykeen_trainer.settings import RESERVED_TRAINING_KEYS, TRAINING_KWARGS_KEY, RunSettings
from tuner.train.errors import did_you_mean
from tuner.train.outputs import RunDirectory

# Keys that describe the data; the adapter loads the dataset itself (it needs the validation
# triples for its callback) and hands pipeline() the loaded object.
DATASET_KEYS = ("dataset", "dataset_kwargs", "training", "testing", "validation")


def run(
    config: dict[str, Any],
    serialization_dir: Path,
    *,
    metrics_file: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``pykeen.pipeline.pipeline(**config)`` with per-epoch validation and write the run's files.

    Args:
        config: ``pipeline()`` keyword arguments plus an optional ``trainer`` section (``validation_metric``,
            default ``'+mrr'``; ``eval_every``, default 1).
        serialization_dir: where config.json and metrics.json go.
        metrics_file: where epoch lines go (``$TUNER_METRICS_FILE``); None: ``<dir>/metrics.jsonl``.
        log: receives progress lines (default: stderr).

    PyKEEN checkpoints into ``serialization_dir`` after every epoch; a launch with ``TUNER_RESUME=1``
    continues from that checkpoint (:mod:`tuner.pykeen_trainer.resume`). The trained model is saved as
    ``trained_model.pkl``; both files are declared in ``tuner_files.json``.

    Returns the final metrics, as written to ``metrics.json``. Raises :class:`PykeenMissingError` when PyKEEN
    is not installed, :class:`PykeenConfigError` for an unknown key or component name, or a dataset without
    validation triples.
    """
    log = log or _stderr
    pipeline, train_method = _import_pykeen()
    settings = _settings(config, pipeline, train_method)
    kwargs = _with_quiet_defaults(settings.pipeline_kwargs)
    _check_components(kwargs, settings)
    run_dir, reported = _prepare(config, Path(serialization_dir), metrics_file, log)
    dataset = _load_dataset(kwargs)
    reporter = _reporter(kwargs, settings, dataset, _epoch_writer(run_dir, settings, log))
    reporter.history.update(reported)  # epochs reported before an interruption: not evaluated again
    training = checkpoint_kwargs(run_dir.path, kwargs.get(TRAINING_KWARGS_KEY, {}))
    kwargs[TRAINING_KWARGS_KEY] = {**training, "callbacks": [reporter]}
    started = time.monotonic()
    result = pipeline(dataset=dataset, **kwargs)
    metrics = _final_metrics(reporter, settings, result, kwargs, time.monotonic() - started)
    save_model(result.model, run_dir.path)
    run_dir.finish(metrics)
    return metrics


def _prepare(
    config: dict[str, Any], directory: Path, metrics_file: Path | None, log: Callable[[str], None]
) -> tuple[RunDirectory, dict[int, dict[str, float]]]:
    """The run's folder, and the epochs already reported when this launch resumes from PyKEEN's checkpoint."""
    if is_resumed() and metrics_file is None:
        metrics_file = directory / EPOCH_METRICS_FILE_NAME  # named, so that RunDirectory keeps its lines
    run_dir = RunDirectory(directory, metrics_file)
    # The built-in trainer's folder first (its epoch lines kept on resume), then PyKEEN's checkpoint and files.
    run_dir.prepare(config, resume=is_resumed())
    reported = prepare_start(directory, run_dir.metrics_file)
    if is_resumed():
        epoch = checkpoint_epoch(directory)
        where = f"after epoch {epoch}" if epoch is not None else "from the start (no usable checkpoint)"
        log(f"resuming {where}; epochs already reported: {sorted(reported) or 'none'}")
    return run_dir, reported


def _epoch_writer(
    run_dir: RunDirectory, settings: RunSettings, log: Callable[[str], None]
) -> Callable[[int, dict[str, float]], None]:
    """What the reporter calls after each validation: append the epoch line and log it."""

    def on_report(epoch: int, line: dict[str, float]) -> None:
        # PyKEEN counts epochs from 1, so the last is num_epochs: tune never prunes there.
        run_dir.append_epoch(epoch, {**line, LAST_EPOCH_KEY: settings.num_epochs})
        log(f"epoch {epoch}: " + " ".join(f"{name}={value:.6g}" for name, value in line.items()))

    return on_report


def _settings(config: dict[str, Any], pipeline: Callable[..., Any], train_method: Callable[..., Any]) -> RunSettings:
    """The config checked against the keys the installed PyKEEN's ``pipeline()`` and ``train()`` take."""
    training_keys = set(inspect.signature(train_method).parameters) - {
        "self",
        "triples_factory",
        *RESERVED_TRAINING_KEYS,
    }
    return RunSettings.from_config(
        config, pipeline_keys=inspect.signature(pipeline).parameters, training_keys=training_keys
    )


def _import_pykeen() -> tuple[Callable[..., Any], Callable[..., Any]]:
    try:
        from pykeen.pipeline import pipeline
        from pykeen.training import TrainingLoop
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "pykeen":
            raise PykeenMissingError() from None
        raise
    return pipeline, TrainingLoop.train


def _with_quiet_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Progress bars only clutter a trial's out.log; the config can turn them back on."""
    kwargs = dict(kwargs)
    kwargs[TRAINING_KWARGS_KEY] = {"use_tqdm": False, **kwargs.get(TRAINING_KWARGS_KEY, {})}
    kwargs["evaluation_kwargs"] = {"use_tqdm": False, **(kwargs.get("evaluation_kwargs") or {})}
    return kwargs


def _check_components(kwargs: dict[str, Any], settings: RunSettings) -> None:
    """Look up every component name before any work, so a typo is one line, not a traceback mid-run."""
    from pykeen.datasets import dataset_resolver
    from pykeen.evaluation import evaluator_resolver
    from pykeen.losses import loss_resolver
    from pykeen.lr_schedulers import lr_scheduler_resolver
    from pykeen.models import model_resolver
    from pykeen.optimizers import optimizer_resolver
    from pykeen.regularizers import regularizer_resolver
    from pykeen.sampling import negative_sampler_resolver
    from pykeen.stoppers import stopper_resolver
    from pykeen.trackers import tracker_resolver
    from pykeen.training import training_loop_resolver

    resolvers = {
        "dataset": dataset_resolver,
        "model": model_resolver,
        "loss": loss_resolver,
        "regularizer": regularizer_resolver,
        "optimizer": optimizer_resolver,
        "lr_scheduler": lr_scheduler_resolver,
        "training_loop": training_loop_resolver,
        "negative_sampler": negative_sampler_resolver,
        "stopper": stopper_resolver,
        "evaluator": evaluator_resolver,
        "result_tracker": tracker_resolver,
    }
    for key, resolver in resolvers.items():
        name = kwargs.get(key)
        if isinstance(name, str) and not (key == "dataset" and Path(name).exists()):
            _lookup(resolver, key, name)
    evaluator = _lookup(evaluator_resolver, "evaluator", kwargs.get("evaluator"))
    for name in settings.report.metrics:
        try:
            evaluator.metric_result_cls.key_to_string(name)
        except (KeyError, ValueError) as error:
            raise PykeenConfigError(
                f"trainer.validation_metric: {evaluator.__name__} has no metric {name!r} ({error})"
            ) from None


def _lookup(resolver: Any, key: str, name: str | None) -> Any:
    try:
        return resolver.lookup(name)
    except (KeyError, ValueError):
        options = sorted(resolver.options)
        hint = did_you_mean(resolver.normalize(name), options, sentence=True)
        raise PykeenConfigError(
            f"{key}: unknown PyKEEN {key} {name!r}.{hint} Available: {', '.join(options)}"
        ) from None


def _load_dataset(kwargs: dict[str, Any]) -> Any:
    from pykeen.datasets import get_dataset

    data = {key: kwargs.pop(key) for key in DATASET_KEYS if key in kwargs}
    if "dataset" not in data and "training" not in data:
        raise PykeenConfigError(
            "the config needs 'dataset' (e.g. 'nations') or 'training'/'testing'/'validation' paths"
        )
    dataset = get_dataset(**data)
    if dataset.validation is None:
        raise PykeenConfigError("the dataset has no validation triples; per-epoch validation needs them")
    return dataset


def _reporter(
    kwargs: dict[str, Any], settings: RunSettings, dataset: Any, on_report: Callable[[int, dict[str, float]], None]
) -> Any:
    from pykeen.evaluation import evaluator_resolver

    from tuner.pykeen_trainer.reporting import ValidationReporter

    return ValidationReporter(
        settings=settings.report,
        num_epochs=settings.num_epochs,
        evaluator=evaluator_resolver.make(kwargs.get("evaluator"), kwargs.get("evaluator_kwargs")),
        triples=dataset.validation.mapped_triples,
        # As pipeline() does when it evaluates on validation: rank against all entities except known training facts.
        filter_triples=[dataset.training.mapped_triples],
        evaluation_kwargs=kwargs["evaluation_kwargs"],
        on_report=on_report,
    )


def _final_metrics(
    reporter: Any, settings: RunSettings, result: Any, kwargs: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """AllenNLP's shape: best_epoch, best_validation_* at that epoch, the last epoch's values, test_*."""
    metrics: dict[str, Any] = {}
    best = reporter.best_epoch()
    if best is not None:
        metrics["best_epoch"] = best
        metrics.update(
            {f"best_{name}": value for name, value in reporter.history[best].items() if name.startswith("validation_")}
        )
        last = max(reporter.history)
        metrics["epoch"] = last
        metrics.update(reporter.history[last])
    metrics["training_epochs"] = len(result.losses)
    metrics["training_duration_seconds"] = seconds
    metrics["random_seed"] = result.random_seed
    if kwargs.get("use_testing_data", True):
        metrics.update(
            {f"test_{name}": float(result.metric_results.get_metric(name)) for name in settings.report.metrics}
        )
    return metrics


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
