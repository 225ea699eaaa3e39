"""One training run from a rendered config: check it all, read data, build, train, write files."""

from __future__ import annotations

import dataclasses
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tuner.contract import LAST_EPOCH_KEY, is_rank_zero
from tuner.train import checkpoint
from tuner.train.distributed import Distributed
from tuner.train.errors import DataError, TrainConfigError
from tuner.train.loader import BatchLoader, LoaderSettings
from tuner.train.loop import Progress, Trainer
from tuner.train.models.base import Model
from tuner.train.outputs import RunDirectory
from tuner.train.readers.base import DatasetReader, RawSplit, TensorData
from tuner.train.readers.vocabulary import LABELS, Vocabulary
from tuner.train.registry import MODELS, READERS
from tuner.train.section import Section
from tuner.train.settings import TrainerSettings

SPLIT_KEYS = {"train": "train_data_path", "validation": "validation_data_path"}


@dataclass
class RunPlan:
    """The config, validated section by section before any data is read."""

    seeds: tuple[int, int, int]
    reader: DatasetReader
    paths: dict[str, str]
    vocab_splits: list[str]
    min_count: dict[str, int]
    max_vocab_size: dict[str, int]
    model: Section
    loader: LoaderSettings
    validation_loader: LoaderSettings
    trainer: TrainerSettings

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RunPlan:
        """Parse the top level; leftover keys are an error naming them."""
        root = Section(config)
        seeds = (
            root.pop("random_seed", int, 13370),
            root.pop("numpy_seed", int, 1337),
            root.pop("pytorch_seed", int, 133),
        )
        reader = READERS.build(root.pop_section("dataset_reader"))
        paths = {"train": root.pop("train_data_path", str)}
        validation = root.pop("validation_data_path", str, None)
        if validation is not None:
            paths["validation"] = validation
        vocab_splits = root.pop_list("datasets_for_vocab_creation", str, list(paths))
        for split in vocab_splits:
            if split not in paths:
                raise TrainConfigError(
                    f"datasets_for_vocab_creation: unknown dataset {split!r}; choose from {', '.join(paths)}"
                )
        vocabulary = root.pop_section("vocabulary", {})
        min_count = _per_namespace(vocabulary, "min_count")
        max_size = _per_namespace(vocabulary, "max_vocab_size")
        vocabulary.assert_empty()
        model = root.pop_section("model")
        loader = LoaderSettings.from_config(root.pop_section("data_loader", {}))
        validation_loader = LoaderSettings.from_config(
            root.pop_section("validation_data_loader", {"batch_size": loader.batch_size}), shuffle=False
        )
        trainer = TrainerSettings.from_config(root.pop_section("trainer", {}))
        root.assert_empty()
        return cls(seeds, reader, paths, vocab_splits, min_count, max_size, model, loader, validation_loader, trainer)


def train(
    config: dict[str, Any],
    serialization_dir: Path,
    *,
    metrics_file: Path | None = None,
    log: Callable[[str], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train the model ``config`` describes and write the run's files.

    Args:
        config: The rendered config (plain JSON data).
        serialization_dir: Where config.json, best.th, checkpoint.pt, vocabulary/ and metrics.json go.
        metrics_file: Where epoch lines go; None: ``<serialization_dir>/metrics.jsonl``.
        log: Receives progress lines (default: stderr; nothing on torchrun ranks other than 0).
        resume: Go on from ``checkpoint.pt`` when the folder holds one of this config (else start over).

    Started by torchrun (``WORLD_SIZE`` > 1), every rank calls this and they train together with DDP.

    Returns the final metrics, as written to ``metrics.json``; raises :class:`TrainConfigError` when the
    config or the data is invalid (a :class:`DataError` for data).
    """
    plan = RunPlan.from_config(config)
    if log is None:
        log = _stderr if is_rank_zero() else _quiet
    distributed = Distributed.from_environment()
    if distributed is None:
        return _run(plan, config, RunDirectory(serialization_dir, metrics_file), log, resume, None)
    distributed, settings = distributed.start(plan.trainer)
    try:
        plan = dataclasses.replace(plan, trainer=settings)
        run_dir = RunDirectory(serialization_dir, metrics_file, writer=distributed.is_main)
        return _run(plan, config, run_dir, log, resume, distributed)
    finally:
        distributed.close()


def _run(
    plan: RunPlan,
    config: dict[str, Any],
    run_dir: RunDirectory,
    log: Callable[[str], None],
    resume: bool,
    distributed: Distributed | None,
) -> dict[str, Any]:
    """Read, build, restore the checkpoint when resuming, train, and write the final metrics."""
    _start(plan, log)
    state = checkpoint.load(run_dir.checkpoint, config) if resume else None
    if distributed is not None and not all(distributed.gather(state is not None)):
        state = None  # every rank resumes, or none does: ranks at different epochs would wait for each other forever
    if resume and state is None:
        log(f"resume: no checkpoint of this config in {run_dir.path}; starting over")
    run_dir.prepare(config, resume=state is not None)
    vocab, data = _read_data(plan)
    model = MODELS.build(plan.model, info=plan.reader.data_info(vocab, data["train"])).to(plan.trainer.device)
    run_dir.save_vocabulary(vocab)
    trainer = _trainer(plan, config, run_dir, model, data, log, distributed)
    progress = None
    if state is not None:
        progress = checkpoint.restore(trainer, state, distributed.rank if distributed else 0)
        _report_lost_epoch(run_dir, progress, plan.trainer.num_epochs - 1)
        log(f"resuming after epoch {progress.next_epoch}/{plan.trainer.num_epochs} from {run_dir.checkpoint}")
    try:
        metrics = trainer.train(progress)
    finally:
        run_dir.close()  # the files still being written, also when training failed or was interrupted
    run_dir.finish(metrics)
    return metrics


def _trainer(
    plan: RunPlan,
    config: dict[str, Any],
    run_dir: RunDirectory,
    model: Model,
    data: dict[str, TensorData],
    log: Callable[[str], None],
    distributed: Distributed | None,
) -> Trainer:
    """The loop, wired to the run's files: weights on a new best, a checkpoint and a line per epoch."""
    generator = torch.Generator().manual_seed(plan.seeds[2])
    shard = distributed.shard() if distributed else (0, 1)
    last_epoch = plan.trainer.num_epochs - 1  # the loop counts epochs from 0
    validation = data.get("validation")
    trainer = Trainer(
        model=model,
        settings=plan.trainer,
        train_loader=BatchLoader(data["train"], plan.loader, generator, shard),
        validation_loader=BatchLoader(validation, plan.validation_loader, shard=shard)
        if validation is not None
        else None,
        on_epoch=lambda epoch, metrics: run_dir.append_epoch(epoch, {**metrics, LAST_EPOCH_KEY: last_epoch}),
        on_best=lambda epoch: run_dir.save_weights(model),
        log=log,
        distributed=distributed,
    )
    trainer.on_checkpoint = lambda progress: run_dir.save_checkpoint(
        checkpoint.capture(trainer, progress, config, write=run_dir.writer)
    )
    return trainer


def _report_lost_epoch(run_dir: RunDirectory, progress: Progress, last_epoch: int) -> None:
    """Report the checkpoint's epoch if the run was killed between writing the checkpoint and its line."""
    epoch = progress.next_epoch - 1
    if run_dir.writer and progress.last and epoch not in run_dir.reported_epochs():
        run_dir.append_epoch(epoch, {**progress.last, LAST_EPOCH_KEY: last_epoch})


def _start(plan: RunPlan, log: Callable[[str], None]) -> None:
    """Show the config's notes, seed every generator and set the thread count, before anything is read."""
    for note in plan.trainer.notes:
        log(f"note: {note}")
    _seed(plan.seeds)
    if plan.trainer.num_threads:
        torch.set_num_threads(plan.trainer.num_threads)


def _read_data(plan: RunPlan) -> tuple[Vocabulary, dict[str, TensorData]]:
    """The vocabulary and each split's tensors, on the trainer's device."""
    raw = {split: plan.reader.read(path, SPLIT_KEYS[split]) for split, path in plan.paths.items()}
    vocab = _vocabulary(plan, raw)
    plan.reader.fit(raw["train"])
    data = {
        split: _tensorize(plan.reader, split_data, vocab).to(plan.trainer.device) for split, split_data in raw.items()
    }
    return vocab, data


def check(config: dict[str, Any]) -> tuple[str, ...]:
    """Check ``config`` as :func:`train` would before reading data, and that its data can be read.

    Data at a URL is downloaded into the cache, so that the runs after the check find it there.

    Returns:
        Notes for the user: settings that are accepted but have no effect.

    Raises:
        TrainConfigError: The config or its data paths are invalid (a :class:`DataError` for data).
    """
    plan = RunPlan.from_config(config)
    for split, path in plan.paths.items():
        plan.reader.check_path(path, SPLIT_KEYS[split])
    return plan.trainer.notes


def _vocabulary(plan: RunPlan, raw: dict[str, RawSplit]) -> Vocabulary:
    counters: dict[str, Counter[str]] = {}
    for split in plan.vocab_splits:
        plan.reader.count_tokens(raw[split], counters)
    labels = [label for label, _ in Counter(raw["train"].labels).most_common()]
    if "validation" in raw:
        unseen = sorted(set(raw["validation"].labels) - set(labels))
        if unseen:
            raise DataError(
                f"validation_data_path: label(s) {', '.join(map(repr, unseen[:5]))} never appear in train_data_path "
                f"(training labels: {', '.join(map(repr, sorted(labels)[:10]))})"
            )
    if len(labels) < 2:
        raise DataError(f"train_data_path: needs at least two distinct labels, found {labels}")
    return Vocabulary.from_counts(counters, labels, min_count=plan.min_count, max_vocab_size=plan.max_vocab_size)


def _tensorize(reader: DatasetReader, split: RawSplit, vocab: Vocabulary) -> TensorData:
    index = vocab.index(LABELS)
    labels = torch.tensor([index[label] for label in split.labels])
    trim_key, length_key = reader.trim_keys()
    return TensorData(reader.tensorize(split, vocab), labels, trim_key, length_key)


def _per_namespace(cfg: Section, key: str) -> dict[str, int]:
    """AllenNLP takes ``{namespace: n}``; a bare ``n`` applies to ``tokens``."""
    value = cfg.pop(key, object, None)
    if value is None:
        return {}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"tokens": value}
    if isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return dict(value)
    raise TrainConfigError(f"{cfg.key_path(key)}: expected an integer or {{namespace: integer}}, got {value!r}")


def _seed(seeds: tuple[int, int, int]) -> None:
    random.seed(seeds[0])
    try:
        import numpy
    except ImportError:  # numpy is optional for torch
        pass
    else:
        numpy.random.seed(seeds[1])
    torch.manual_seed(seeds[2])


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _quiet(line: str) -> None:
    """The log of torchrun ranks other than 0: rank 0 says it all once."""
