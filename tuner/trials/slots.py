"""Slots: the places trials run in parallel, each with the environment it adds.

``--gpus 0,1 --trials-per-gpu 2`` gives four slots, two per GPU, each trial seeing
only its GPU through ``CUDA_VISIBLE_DEVICES``; ``--n-jobs 4`` gives four CPU slots,
each limited to its share of the cores through ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``
(unless the user set them): without it every trial's torch starts one thread per core, and
N trials fight for the CPU (a tiny BERT step took 13-15x longer with 2 threads than with 1
on a 2-core machine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tuner.errors import OptionError
from tuner.trials.gpus import resolve_gpus


@dataclass(frozen=True)
class Slot:
    """Where a trial runs: a label (shown by show-trials) and the environment it adds."""

    label: str
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: str | None = None


def build_slots(
    *,
    gpus: str | Sequence[str | int] | None = None,
    trials_per_gpu: int = 1,
    n_jobs: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Slot]:
    """The slots for ``--gpus``/``--trials-per-gpu`` or ``--n-jobs`` (``environ``: the user's, default os.environ)."""
    if trials_per_gpu < 1:  # the CLI's option types refuse these first; this is for Python callers
        raise OptionError(f"trials_per_gpu must be at least 1, got {trials_per_gpu}")
    if n_jobs is not None and n_jobs < 1:
        raise OptionError(f"n_jobs must be at least 1, got {n_jobs}")
    if gpus is None or gpus == [] or gpus == ():
        if trials_per_gpu != 1:
            raise OptionError("--trials-per-gpu needs --gpus")
        count = n_jobs or 1
        env = cpu_thread_env(count, os.environ if environ is None else environ) if count > 1 else {}
        return [Slot(f"job{index}", env) for index in range(count)]
    if n_jobs is not None:
        raise OptionError("--n-jobs is for CPU trials; with --gpus, use --trials-per-gpu to run several per GPU")
    requested = gpus if isinstance(gpus, str) else [str(gpu) for gpu in gpus]
    slots = []
    for gpu in resolve_gpus(requested):
        for index in range(trials_per_gpu):
            label = f"gpu{gpu}" if trials_per_gpu == 1 else f"gpu{gpu}.{index}"
            slots.append(Slot(label, {"CUDA_VISIBLE_DEVICES": gpu}, gpu=gpu))
    return slots


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_thread_env(n_slots: int, environ: Mapping[str, str], cores: int | None = None) -> dict[str, str]:
    """Each of ``n_slots`` CPU slots' share of the cores (at least 1), for the thread variables the user left unset."""
    cores = cores or usable_cores()
    share = str(max(1, cores // n_slots))
    return {name: share for name in THREAD_VARIABLES if not environ.get(name)}


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, which a container or taskset narrows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
