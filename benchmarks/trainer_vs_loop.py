"""The built-in trainer against a hand-written PyTorch loop: same model, data and epochs (the digits config).

Both train ``configs/digits_baseline.jsonnet``'s CNN (SGD, batch 64, dropout 0.2) on the same tensors, already
on the device, for the same epochs (patience off, so both run them all), and both compute what the
trainer's epoch line holds: training loss and accuracy (summed on the device) and a validation pass.
The trainer also does what it does in a trial: an epoch line, ``best.th`` on improvement and
``checkpoint.pt`` every epoch. Runs alternate (trainer, loop, trainer, ...) after one warm-up of each,
so both see the same machine state; ``ratio`` is the trainer's throughput over the loop's
(loop seconds / trainer seconds, medians), goal >= 0.95 on a GPU.

    python benchmarks/trainer_vs_loop.py [--device cpu|cuda] [--amp] [--repetitions 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.train.outputs import RunDirectory
from tuner.train.pipeline import RunPlan, _read_data, _seed, _trainer
from tuner.train.readers.base import TensorData
from tuner.train.registry import MODELS
from tuner.train.render import render_config_file
from tuner.train.section import Section

CONFIG = ROOT / "configs" / "digits_baseline.jsonnet"


def digits_config(device: str, amp: bool, epochs: int) -> dict[str, Any]:
    """The bundled digits config on ``device``, all ``epochs`` run (no early stopping)."""
    config = render_config_file(CONFIG, {})
    trainer = config["trainer"]
    trainer.update(num_epochs=epochs, patience=None, cuda_device=0 if device == "cuda" else -1, use_amp=amp)
    if device == "cuda":
        trainer.pop("num_threads", None)
    return config


class Setup:
    """The parsed config, the data on the device, and a fresh model per run (same seed, same weights)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.plan = RunPlan.from_config(config)
        _seed(self.plan.seeds)
        self.vocab, self.data = _read_data(self.plan)
        self.device = self.plan.trainer.device

    def model(self) -> torch.nn.Module:
        _seed(self.plan.seeds)
        info = self.plan.reader.data_info(self.vocab, self.data["train"])
        section = Section(copy.deepcopy(self.config["model"]), "model")  # building consumes a section
        return MODELS.build(section, info=info).to(self.device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(callback: Callable[..., None], spent: list[float]) -> Callable[..., None]:
    """``callback``, adding the seconds each call takes to ``spent``."""

    def run(*args: Any) -> None:
        started = time.perf_counter()
        callback(*args)
        spent.append(time.perf_counter() - started)

    return run


def trainer_seconds(setup: Setup) -> tuple[float, float, float]:
    """The built-in trainer's epochs, as in a trial: lines, best.th and checkpoint.pt written.

    Returns the seconds, the final validation accuracy, and the seconds the training thread spent on those
    files (serialising the state; the writing itself happens in the trainer's background thread).
    """
    with tempfile.TemporaryDirectory() as folder:
        run_dir = RunDirectory(Path(folder))
        run_dir.prepare(setup.config)
        model = setup.model()
        trainer = _trainer(setup.plan, setup.config, run_dir, model, setup.data, lambda line: None, None)
        writing: list[float] = []
        for name in ("on_checkpoint", "on_best", "on_epoch"):
            setattr(trainer, name, timed(getattr(trainer, name), writing))
        synchronize(setup.device)
        started = time.perf_counter()
        metrics = trainer.train()
        run_dir.close()  # the files still being written: a run waits for them before metrics.json
        synchronize(setup.device)
        return time.perf_counter() - started, metrics["validation_accuracy"], sum(writing)


def loop_seconds(setup: Setup) -> tuple[float, float, float]:
    """A plain PyTorch loop doing the same training and the same per-epoch metrics, writing nothing."""
    model, plan, device = setup.model(), setup.plan, setup.device
    optimizer = plan.trainer.optimizer.build(model.parameters())
    amp = plan.trainer.use_amp
    scaler = torch.amp.GradScaler("cuda") if amp else None
    train, validation = setup.data["train"], setup.data["validation"]
    generator = torch.Generator().manual_seed(plan.seeds[2])
    synchronize(device)
    started = time.perf_counter()
    for _ in range(plan.trainer.num_epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
        for start in range(0, len(train), plan.loader.batch_size):
            index = order[start : start + plan.loader.batch_size]
            inputs = {k: v.index_select(0, index) for k, v in train.inputs.items()}
            labels = train.labels.index_select(0, index)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext():
                logits = model(inputs)
                loss = F.cross_entropy(logits.float(), labels)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.detach().argmax(-1) == labels).sum()
        metrics = [loss_sum.item() / len(train), correct.item() / len(train), *evaluate(model, validation, amp)]
    synchronize(device)
    return time.perf_counter() - started, metrics[-1], 0.0


def evaluate(model: torch.nn.Module, data: TensorData, amp: bool) -> tuple[float, float]:
    """Validation loss and accuracy in batches of 1000, as the digits config's validation loader."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext():
        for start in range(0, len(data), 1000):
            logits = model({k: v[start : start + 1000] for k, v in data.inputs.items()})
            labels = data.labels[start : start + 1000]
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
            correct += int((logits.argmax(-1) == labels).sum().item())
    return loss_sum / len(data), correct / len(data)


def measure(setup: Setup, repetitions: int) -> dict[str, Any]:
    trainer_seconds(setup), loop_seconds(setup)  # warm-up: allocator, kernels, cuDNN's choices
    ours, theirs, writing, accuracies = [], [], [], set()
    for _ in range(repetitions):
        for runs, run in ((ours, trainer_seconds), (theirs, loop_seconds)):
            seconds, accuracy, written = run(setup)
            runs.append(seconds)
            accuracies.add((run.__name__, accuracy))
            if run is trainer_seconds:
                writing.append(written)
    ratios = [loop / trainer for trainer, loop in zip(ours, theirs, strict=True)]
    return {
        "ratio": statistics.median(theirs) / statistics.median(ours),
        "trainer_s": statistics.median(ours),
        "loop_s": statistics.median(theirs),
        "ratios": ratios,
        "trainer_runs_s": ours,
        "loop_runs_s": theirs,
        # Seconds of trainer_s the training thread spent on epoch lines, best.th and checkpoint.pt (the loop
        # writes nothing); the disk writes themselves run in the trainer's background thread.
        "trainer_writing_s": statistics.median(writing),
        # Same seeds, same order of random draws: on CPU both train the very same model (one value each).
        "final_validation_accuracy": {name: value for name, value in sorted(accuracies)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--amp", action="store_true", help="mixed precision (float16 autocast; GPU only)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the digits config's num_threads)")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    options = parser.parse_args()
    if options.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU visible")
    if options.amp and options.device != "cuda":
        parser.error("--amp needs --device cuda")
    torch.set_num_threads(options.threads)
    setup = Setup(digits_config(options.device, options.amp, options.epochs))
    figures = measure(setup, options.repetitions)
    figures.update(
        device=options.device,
        amp=options.amp,
        epochs=options.epochs,
        repetitions=options.repetitions,
        torch=torch.__version__,
        machine=f"{platform.platform()}, {os.cpu_count()} CPUs"
        + (f", {torch.cuda.get_device_name(setup.device)}" if options.device == "cuda" else ""),
    )
    spread = f"{min(figures['ratios']):.3f}-{max(figures['ratios']):.3f}"
    print(
        f"{figures['machine']}, torch {torch.__version__}, {options.device}{' amp' if options.amp else ''}, "
        f"{options.epochs} epochs x {options.repetitions}\n"
        f"built-in trainer: median {figures['trainer_s']:.3f} s (runs {min(figures['trainer_runs_s']):.3f}-"
        f"{max(figures['trainer_runs_s']):.3f})\n"
        f"hand-written loop: median {figures['loop_s']:.3f} s (runs {min(figures['loop_runs_s']):.3f}-"
        f"{max(figures['loop_runs_s']):.3f})\n"
        f"of which on lines, best.th, checkpoint.pt (training thread): median {figures['trainer_writing_s']:.3f} s\n"
        f"throughput ratio trainer/loop: {figures['ratio']:.3f} (per repetition {spread})"
    )
    if options.out:
        options.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
