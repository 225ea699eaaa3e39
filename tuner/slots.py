"""Slots: the places trials run in parallel, each with the environment it adds.

``--gpus 0,1 --trials-per-gpu 2`` gives four slots, two per GPU, each trial seeing
only its GPU through ``CUDA_VISIBLE_DEVICES``; ``--n-jobs 4`` gives four CPU slots
that leave the environment as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from tuner.errors import OptionError
from tuner.gpus import resolve_gpus


@dataclass(frozen=True)
class Slot:
    """Where a trial runs: a label (shown by show-trials) and the environment it adds."""

    label: str
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: str | None = None


def build_slots(
    *, gpus: str | Sequence[str | int] | None = None, trials_per_gpu: int = 1, n_jobs: int | None = None
) -> list[Slot]:
    """The slots for ``--gpus``/``--trials-per-gpu`` or ``--n-jobs``."""
    if trials_per_gpu < 1:
        raise OptionError(f"--trials-per-gpu must be at least 1, got {trials_per_gpu}")
    if n_jobs is not None and n_jobs < 1:
        raise OptionError(f"--n-jobs must be at least 1, got {n_jobs}")
    if gpus is None or gpus == [] or gpus == ():
        if trials_per_gpu != 1:
            raise OptionError("--trials-per-gpu needs --gpus")
        return [Slot(f"job{index}") for index in range(n_jobs or 1)]
    if n_jobs is not None:
        raise OptionError("--n-jobs is for CPU trials; with --gpus, use --trials-per-gpu to run several per GPU")
    requested = gpus if isinstance(gpus, str) else [str(gpu) for gpu in gpus]
    slots = []
    for gpu in resolve_gpus(requested):
        for index in range(trials_per_gpu):
            label = f"gpu{gpu}" if trials_per_gpu == 1 else f"gpu{gpu}.{index}"
            slots.append(Slot(label, {"CUDA_VISIBLE_DEVICES": gpu}, gpu=gpu))
    return slots
