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
from tuner.trials.gpu_watch import DEFAULT_BUSY_GPU_MB, GpuWatch
from tuner.trials.gpus import Gpu, resolve_gpus


@dataclass(frozen=True)
class Slot:
    """Where a trial runs: a label (shown by show-trials), the environment it adds, and its GPUs.

    ``gpus`` are the entries of the trial's ``CUDA_VISIBLE_DEVICES`` (``()`` on the CPU); ``gpu`` is the first.
    """

    label: str
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: str | None = None
    gpus: tuple[str, ...] = ()


def build_slots(
    *,
    gpus: str | Sequence[str | int] | None = None,
    trials_per_gpu: int = 1,
    n_jobs: int | None = None,
    gpus_per_trial: int = 1,
    environ: Mapping[str, str] | None = None,
) -> list[Slot]:
    """The slots for ``--gpus``/``--trials-per-gpu``/``--gpus-per-trial`` or ``--n-jobs`` (``environ``: the user's)."""
    return plan_slots(
        gpus=gpus, trials_per_gpu=trials_per_gpu, n_jobs=n_jobs, gpus_per_trial=gpus_per_trial, environ=environ
    )[0]


def plan_slots(
    *,
    gpus: str | Sequence[str | int] | None = None,
    trials_per_gpu: int = 1,
    n_jobs: int | None = None,
    gpus_per_trial: int = 1,
    busy_gpu_mb: float = DEFAULT_BUSY_GPU_MB,
    environ: Mapping[str, str] | None = None,
) -> tuple[list[Slot], GpuWatch | None]:
    """The slots, and with ``--gpus free`` the watch that tells before each launch whether their GPUs are still free."""
    _check_counts(trials_per_gpu, n_jobs, gpus_per_trial)
    if gpus is None or gpus == [] or gpus == ():
        if trials_per_gpu != 1:
            raise OptionError("--trials-per-gpu needs --gpus")
        if gpus_per_trial != 1:
            raise OptionError("--gpus-per-trial needs --gpus (it groups the GPUs that --gpus lists)")
        count = n_jobs or 1
        env = cpu_thread_env(count, os.environ if environ is None else environ) if count > 1 else {}
        return [Slot(f"job{index}", env) for index in range(count)], None
    if n_jobs is not None:
        raise OptionError("--n-jobs is for CPU trials; with --gpus, use --trials-per-gpu to run several per GPU")
    if gpus_per_trial > 1 and trials_per_gpu > 1:
        raise OptionError(
            f"--gpus-per-trial {gpus_per_trial} with --trials-per-gpu {trials_per_gpu}: a trial that spans several "
            "GPUs gets them to itself; to run more trials at once, give each fewer GPUs"
        )
    requested = gpus if isinstance(gpus, str) else [str(gpu) for gpu in gpus]
    found = resolve_gpus(requested)
    watch = None
    if requested in ("free", ["free"]):
        watch = GpuWatch(found, busy_gpu_mb)
        found = _take_free(found, gpus_per_trial, watch)
    groups = _groups(found, gpus_per_trial, strict=watch is None)
    user_env = os.environ if environ is None else environ
    return [slot for group in groups for slot in _group_slots(group, trials_per_gpu, user_env)], watch


def _check_counts(trials_per_gpu: int, n_jobs: int | None, gpus_per_trial: int) -> None:
    """For Python callers: the CLI's option types refuse these values first."""
    if trials_per_gpu < 1:
        raise OptionError(f"trials_per_gpu must be at least 1, got {trials_per_gpu}")
    if n_jobs is not None and n_jobs < 1:
        raise OptionError(f"n_jobs must be at least 1, got {n_jobs}")
    if gpus_per_trial < 1:
        raise OptionError(f"gpus_per_trial must be at least 1, got {gpus_per_trial}")


def _groups(found: Sequence[Gpu], size: int, *, strict: bool) -> list[list[Gpu]]:
    """``found`` in disjoint groups of ``size``, in order; leftovers refused (``strict``) or left out."""
    names = ",".join(gpu.name for gpu in found)
    if size > len(found):
        raise OptionError(f"--gpus-per-trial {size} needs {size} GPUs; --gpus gives {len(found)} ({names})")
    leftover = found[len(found) - len(found) % size :]
    if leftover and strict:
        used = ",".join(gpu.name for gpu in found[: len(found) - len(leftover)])
        raise OptionError(
            f"--gpus-per-trial {size} does not divide the {len(found)} GPUs of --gpus ({names}): "
            f"GPU {','.join(gpu.name for gpu in leftover)} would stay idle; give --gpus {used} to leave them out"
        )
    return [list(found[start : start + size]) for start in range(0, len(found) - len(leftover), size)]


def _group_slots(group: Sequence[Gpu], trials_per_gpu: int, environ: Mapping[str, str]) -> list[Slot]:
    """The slots of one GPU group: its label (``gpu3``, ``gpu0+1``, ``gpu1.0``) and CUDA_VISIBLE_DEVICES."""
    devices = tuple(gpu.device for gpu in group)
    label = group[0].label + "".join(f"+{gpu.label[3:]}" for gpu in group[1:])
    env = {"CUDA_VISIBLE_DEVICES": ",".join(devices)}
    if "CUDA_VISIBLE_DEVICES" not in environ and "CUDA_DEVICE_ORDER" not in environ:
        # nvidia-smi numbers GPUs by PCI bus; CUDA, unless told so, fastest first.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    if trials_per_gpu == 1:
        return [Slot(label, env, gpu=devices[0], gpus=devices)]
    return [Slot(f"{label}.{index}", env, gpu=devices[0], gpus=devices) for index in range(trials_per_gpu)]


def _take_free(found: list[Gpu], gpus_per_trial: int, watch: GpuWatch) -> list[Gpu]:
    """``--gpus free``: the GPUs nobody else uses now, leftovers of the grouping noted; all of them when too few
    are free for one trial (the slots then wait for theirs)."""
    busy = watch.busy()
    free = [gpu for gpu in found if gpu.device not in busy]
    for gpu in found:
        if gpu.device in busy:
            watch.notes.append(f"--gpus free: {gpu.label} {busy[gpu.device]}: not used")
    if len(free) < gpus_per_trial:
        note = f"--gpus free: {len(free)} of {len(found)} GPUs free now, fewer than a trial needs: "
        watch.notes = [note + "using them all, each slot waits until its GPUs are free"]
        return found
    leftover = free[len(free) - len(free) % gpus_per_trial :]
    if leftover:
        watch.notes.append(
            f"--gpus free: {', '.join(gpu.label for gpu in leftover)} not used (--gpus-per-trial {gpus_per_trial})"
        )
        free = free[: len(free) - len(leftover)]
    watch.gpus = {gpu.device: gpu for gpu in free}
    return free


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
