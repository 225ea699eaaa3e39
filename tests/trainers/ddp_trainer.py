"""A small DDP trainer for torchrun tests: gloo on the CPU, a DataLoader with a worker, every rank reports.

Started by ``torchrun --nproc-per-node N ddp_trainer.py CONFIG SERIALIZATION_DIR``. Each epoch trains a
linear model on a fixed data set (a DistributedSampler splits it), averages the loss across ranks, and
calls :func:`tuner.contract.report` on every rank: only rank 0 writes. Config keys: x (float; the
"accuracy" peaks at x = 3), epochs, sleep (seconds per epoch), hang (sleep for an hour in epoch 1).
Every rank, its DataLoader worker and (through the rank) the agent write their pids to
``pids/<pid>`` in the serialization dir, as the fault tests' trainers do: ``pid parent\\n``.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from tuner.contract import is_rank_zero, report, write_json_atomically


def write_pid(directory: str) -> None:
    folder = os.path.join(directory, "pids")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, str(os.getpid())), "w") as handle:
        handle.write(f"{os.getpid()} {os.getppid()}\n")


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    dist.init_process_group("gloo")
    write_pid(directory)
    torch.manual_seed(0)
    inputs = torch.randn(64, 4)
    data = TensorDataset(inputs, inputs.sum(dim=1, keepdim=True))
    sampler = DistributedSampler(data)
    loader = DataLoader(
        data,
        batch_size=8,
        sampler=sampler,
        num_workers=1,
        persistent_workers=True,  # the worker lives as long as the rank: the tests look for it
        worker_init_fn=lambda _: write_pid(directory),
    )
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, epochs = float(config["x"]), int(config.get("epochs", 2))
    best = None
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        loss = train_epoch(model, optimizer, loader)
        if config.get("hang") and epoch == 1:
            time.sleep(3600)
        time.sleep(float(config.get("sleep", 0)))
        accuracy = 1.0 / (1.0 + (x - 3.0) ** 2) * (epoch + 1) / epochs
        report(epoch, validation_accuracy=accuracy, validation_loss=loss, world_size=dist.get_world_size())
        best = accuracy if best is None else max(best, accuracy)
    if is_rank_zero():
        write_json_atomically(os.path.join(directory, "metrics.json"), {"best_validation_accuracy": best})
    dist.destroy_process_group()
    return 0


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader) -> float:
    """One pass; the mean loss across all ranks."""
    total = torch.zeros(2)
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += torch.tensor([loss.item(), 1.0])
    dist.all_reduce(total)
    return float(total[0] / total[1])


if __name__ == "__main__":
    sys.exit(main())
