"""Throughput of the built-in trainer against a minimal hand-written PyTorch loop, plus start-up time.

Both train the seed's CNN text classifier (embedding 128, ngram filters 2-4, 128 filters,
output 128, batch 64, SGD lr 0.01: the seed's 0.1 diverges on random labels) on the same synthetic
token ids, one epoch per measurement, alternating so that both see the same machine state. Then it times whole
``python -m tuner.train`` processes: a one-step run (start to first step, plus that step
and writing the files) and a digits trial of the bundled demo.

    python benchmarks/trainer_throughput.py [--repetitions 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.train.loader import BatchLoader, LoaderSettings
from tuner.train.loop import Trainer
from tuner.train.readers.base import DataInfo, TensorData
from tuner.train.readers.vocabulary import Vocabulary
from tuner.train.registry import MODELS
from tuner.train.section import Section
from tuner.train.settings import TrainerSettings

VOCAB, LENGTH, EXAMPLES, BATCH = 20_000, 128, 1_024, 64
MODEL = {
    "type": "basic_classifier",
    "text_field_embedder": {"token_embedders": {"tokens": {"embedding_dim": 128}}},
    "seq2vec_encoder": {
        "type": "cnn",
        "embedding_dim": 128,
        "ngram_filter_sizes": [2, 3, 4],
        "num_filters": 128,
        "output_dim": 128,
    },
    "dropout": 0.2,
}


def synthetic_data() -> TensorData:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(2, VOCAB, (EXAMPLES, LENGTH), generator=generator, dtype=torch.int32)
    labels = torch.randint(0, 2, (EXAMPLES,), generator=generator)
    return TensorData({"tokens": tokens, "lengths": torch.full((EXAMPLES,), LENGTH)}, labels, "tokens", "lengths")


def build_model() -> torch.nn.Module:
    torch.manual_seed(0)
    vocab = Vocabulary({"tokens": [str(i) for i in range(VOCAB)], "labels": ["0", "1"]})
    return MODELS.build(Section(json.loads(json.dumps(MODEL)), "model"), info=DataInfo(vocab, 2))


def built_in_epoch(data: TensorData) -> float:
    model = build_model()
    settings = TrainerSettings.from_config(
        Section({"num_epochs": 1, "optimizer": {"type": "sgd", "lr": 0.01}, "cuda_device": -1}, "trainer")
    )
    loader = BatchLoader(data, LoaderSettings(BATCH), torch.Generator().manual_seed(0))
    trainer = Trainer(
        model=model,
        settings=settings,
        train_loader=loader,
        validation_loader=None,
        on_epoch=lambda epoch, metrics: None,
        on_best=lambda epoch: None,
        log=lambda line: None,
    )
    started = time.perf_counter()
    trainer.train()
    return EXAMPLES / (time.perf_counter() - started)


def hand_written_epoch(data: TensorData) -> float:
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    tokens, labels = data.inputs["tokens"], data.labels
    started = time.perf_counter()
    model.train()
    order = torch.randperm(EXAMPLES, generator=torch.Generator().manual_seed(0))
    for start in range(0, EXAMPLES, BATCH):
        index = order[start : start + BATCH]
        optimizer.zero_grad()
        loss = F.cross_entropy(model({"tokens": tokens[index]}), labels[index])
        loss.backward()
        optimizer.step()
    return EXAMPLES / (time.perf_counter() - started)


def process_seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, check=True, capture_output=True, env={**os.environ, **(env or {})}
    )
    return time.perf_counter() - started


def one_step_config(folder: Path) -> Path:
    data = folder / "tiny.jsonl"
    data.write_text(
        "".join(json.dumps({"text": f"w{i} w{i + 1} w{i + 2}", "label": str(i % 2)}) + "\n" for i in range(8))
    )
    config = {
        "dataset_reader": {"type": "text_classification_json"},
        "train_data_path": str(data),
        "model": MODEL,
        "data_loader": {"batch_size": 8},
        "trainer": {"num_epochs": 1, "optimizer": {"type": "sgd", "lr": 0.1}, "cuda_device": -1},
    }
    path = folder / "one_step.json"
    path.write_text(json.dumps(config))
    return path


def summary(name: str, values: list[float], unit: str) -> str:
    return (
        f"{name}: median {statistics.median(values):.2f} {unit} "
        f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-processes", action="store_true")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{options.threads} threads; {EXAMPLES} examples x {LENGTH} tokens, batch {BATCH}"
    )
    data = synthetic_data()
    built_in_epoch(data), hand_written_epoch(data)  # warm-up
    ours, theirs, ratios = [], [], []
    for _ in range(options.repetitions):
        ours.append(built_in_epoch(data))
        theirs.append(hand_written_epoch(data))
        ratios.append(ours[-1] / theirs[-1])
    print(summary("built-in trainer", ours, "samples/s"))
    print(summary("hand-written loop", theirs, "samples/s"))
    print(summary("ratio built-in / hand-written", ratios, "x"))
    if options.skip_processes:
        return
    with tempfile.TemporaryDirectory() as folder:
        config = one_step_config(Path(folder))
        torch_import = [process_seconds(["-c", "import torch"]) for _ in range(options.repetitions)]
        one_step = [
            process_seconds(["-m", "tuner.train", str(config), "-s", f"{folder}/run{i}"])
            for i in range(options.repetitions)
        ]
        values = {
            "lr": "0.003",
            "dropout": "0.2",
            "hidden_dim": "64",
            "num_filters": "16",
            "batch_size": "64",
            "optimizer": "adam",
        }
        digits = [
            process_seconds(["-m", "tuner.train", "configs/digits_optuna.jsonnet", "-s", f"{folder}/d{i}"], values)
            for i in range(options.repetitions)
        ]
    print(summary("process: python -c 'import torch'", torch_import, "s"))
    print(summary("process: tuner.train, one training step, start to exit", one_step, "s"))
    print(summary("process: one digits trial (configs/digits_optuna.jsonnet, 15 epochs)", digits, "s"))


if __name__ == "__main__":
    main()
