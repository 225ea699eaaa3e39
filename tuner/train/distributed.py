"""DistributedDataParallel when torchrun starts the trainer (``WORLD_SIZE`` > 1 in the environment).

NCCL joins ranks on GPUs, gloo on CPU. Each rank trains on its own GPU (``LOCAL_RANK``); when a machine
runs more ranks than it has visible GPUs, ranks share them and use gloo, since NCCL refuses two ranks on
one device. ``TUNER_DDP_BACKEND`` (``nccl`` or ``gloo``) overrides the choice. Only sums and counts cross
ranks, so a reduced accuracy is exactly the single-process one.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist

from tuner.train.settings import TrainerSettings

ENV_WORLD_SIZE = "WORLD_SIZE"
ENV_LOCAL_RANK = "LOCAL_RANK"
ENV_LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE"
ENV_BACKEND = "TUNER_DDP_BACKEND"


@dataclass(frozen=True)
class Distributed:
    """This process's place among the ranks of a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str = "gloo"

    @classmethod
    def from_environment(cls) -> Distributed | None:
        """The torchrun job this process belongs to, None when it runs alone."""
        world_size = int(os.environ.get(ENV_WORLD_SIZE, "1") or 1)
        if world_size <= 1:
            return None
        rank = int(os.environ.get("RANK", "0"))
        return cls(rank=rank, world_size=world_size, local_rank=int(os.environ.get(ENV_LOCAL_RANK, str(rank))))

    def start(self, settings: TrainerSettings) -> tuple[Distributed, TrainerSettings]:
        """Join the process group; returns the joined job and the settings with this rank's device."""
        device = settings.device
        backend = "gloo"
        if device.type == "cuda":
            count = torch.cuda.device_count()
            local_world = int(os.environ.get(ENV_LOCAL_WORLD_SIZE, str(self.world_size)))
            device = torch.device("cuda", self.local_rank % count)
            backend = "nccl" if local_world <= count else "gloo"
            torch.cuda.set_device(device)
        backend = os.environ.get(ENV_BACKEND) or backend
        # Ranks wait for each other at the first collective; a rank that died leaves the rest hanging for this long.
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
        return dataclasses.replace(self, backend=backend), dataclasses.replace(settings, device=device)

    @property
    def is_main(self) -> bool:
        """Whether this rank writes the run's files."""
        return self.rank == 0

    def shard(self) -> tuple[int, int]:
        """``(rank, world_size)``: which part of every batch this rank takes."""
        return self.rank, self.world_size

    def sum_counts(self, loss_sum: torch.Tensor, correct: torch.Tensor, count: int) -> tuple[float, int, int]:
        """Sums over all ranks: loss (float64), correct predictions and examples (exact integers)."""
        floats = loss_sum.detach().to(torch.float64).reshape(1)
        integers = torch.stack([correct.detach().to(torch.long), torch.tensor(count, device=correct.device)])
        dist.all_reduce(floats)
        dist.all_reduce(integers)
        return floats.item(), int(integers[0].item()), int(integers[1].item())

    def maximum(self, value: float, device: torch.device) -> float:
        """The largest ``value`` of any rank."""
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor.item()

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order (picklable objects)."""
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` in DistributedDataParallel, which averages gradients across ranks in backward."""
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    def close(self) -> None:
        """Leave the process group (every rank, at the end of the run)."""
        if dist.is_initialized():
            dist.destroy_process_group()
