"""Which GPUs this process may use, found without initialising CUDA in the `tune` process.

CUDA must not be initialised here: trials (and forked workers) need a clean process, and
``torch.cuda`` would cost seconds. ``nvidia-smi`` answers instead; ``TUNER_AVAILABLE_GPUS=0,1``
stands in for it (containers without ``nvidia-smi``, tests).

The parent's ``CUDA_VISIBLE_DEVICES`` is respected the way CUDA itself reads it: its entries
(indices, ``GPU-...`` or ``MIG-...`` UUIDs, up to the first invalid one) are the GPUs there are,
``--gpus i`` is the i-th of them, and a trial's ``CUDA_VISIBLE_DEVICES`` holds the parent's
entries verbatim, so no trial sees a GPU the parent could not. Set but empty: no GPU at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tuner.errors import OptionError

ENV_AVAILABLE_GPUS = "TUNER_AVAILABLE_GPUS"
ENV_VISIBLE = "CUDA_VISIBLE_DEVICES"
GPU_QUERY = ("--query-gpu=index,uuid,memory.used,memory.total", "--format=csv,noheader,nounits")
APPS_QUERY = ("--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits")
_ENTRY = re.compile(r"^(\d+|GPU-[0-9A-Fa-f-]+|MIG-[0-9A-Za-z/-]+)$")


@dataclass(frozen=True)
class Gpu:
    """One GPU as `tune` names it (``name``: its place among the visible ones, what ``--gpus`` takes),
    what a trial's ``CUDA_VISIBLE_DEVICES`` gets for it (``device``), and its UUID when nvidia-smi told it."""

    name: str
    device: str
    uuid: str | None = None
    index: str | None = None  # nvidia-smi's, when known

    @property
    def label(self) -> str:
        """``gpu3`` by the index nvidia-smi shows, else by its place among the visible GPUs."""
        return f"gpu{self.index or (self.device if self.device.isdigit() else self.name)}"


@dataclass(frozen=True)
class GpuReading:
    """nvidia-smi's answer for one GPU: memory in use (MiB) and the compute processes on it (pid -> MiB)."""

    index: str
    uuid: str
    memory_used_mb: float
    processes: Mapping[int, float]


def nvidia_smi(*query: str) -> list[list[str]] | None:
    """Rows of a ``--format=csv,noheader,nounits`` query; None when nvidia-smi is missing or fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        completed = subprocess.run(
            ["nvidia-smi", *query], capture_output=True, text=True, timeout=20, check=True, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [[cell.strip() for cell in line.split(",")] for line in completed.stdout.splitlines() if line.strip()]


def read_gpus(*, processes: bool = True) -> list[GpuReading] | None:
    """Every GPU nvidia-smi lists, with its memory use and (``processes``) compute processes; None if it cannot tell."""
    gpus = nvidia_smi(*GPU_QUERY)
    apps = nvidia_smi(*APPS_QUERY) if gpus and processes else []
    if gpus is None or apps is None:
        return None
    on_gpu: dict[str, dict[int, float]] = {}
    for uuid, pid, used in (row[:3] for row in apps if len(row) >= 3):
        if pid.isdigit():
            on_gpu.setdefault(uuid, {})[int(pid)] = _number(used)
    return [
        GpuReading(index, uuid, _number(used), on_gpu.get(uuid, {}))
        for index, uuid, used, *_ in (row for row in gpus if len(row) >= 3)
    ]


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[Gpu] | None:
    """The GPUs a trial may be given, in CUDA's order; [] when there are none, None when it cannot be told."""
    environ = os.environ if environ is None else environ
    physical = _physical_gpus(environ)
    if ENV_VISIBLE not in environ:
        if physical is None:
            return None
        return [Gpu(str(n), index, uuid, index) for n, (index, uuid) in enumerate(physical)]
    gpus = []
    for entry in cuda_entries(environ[ENV_VISIBLE]):
        match = _match(entry, physical or ())
        if physical and match is None:
            break  # CUDA stops at the first entry naming no GPU
        index, uuid = match or (None, None)
        gpus.append(Gpu(str(len(gpus)), entry, uuid, index))
    return gpus


def _physical_gpus(environ: Mapping[str, str]) -> list[tuple[str, str | None]] | None:
    """(index, UUID) of every GPU on the machine: TUNER_AVAILABLE_GPUS, else nvidia-smi's list."""
    if ENV_AVAILABLE_GPUS in environ:
        return [(item.strip(), None) for item in environ[ENV_AVAILABLE_GPUS].split(",") if item.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    readings = read_gpus(processes=False)
    return None if readings is None else [(reading.index, reading.uuid) for reading in readings]


def available_gpus() -> list[str] | None:
    """The visible GPUs' ``CUDA_VISIBLE_DEVICES`` entries (kept for callers of the old name)."""
    gpus = visible_gpus()
    return None if gpus is None else [gpu.device for gpu in gpus]


def cuda_entries(value: str) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` as CUDA reads it: the entries up to the first that is not a GPU (``-1``, say)."""
    entries = []
    for item in value.split(","):
        item = item.strip()
        if not _ENTRY.match(item):
            break
        entries.append(item)
    return entries


def _match(entry: str, physical: Sequence[tuple[str, str | None]]) -> tuple[str | None, str | None] | None:
    """nvidia-smi's (index, UUID) for a ``CUDA_VISIBLE_DEVICES`` entry (an index, a UUID or a unique prefix of one);
    None: no such GPU. MIG instances are not in nvidia-smi's GPU list, so a ``MIG-`` entry is taken as it is."""
    uuids_known = any(uuid for _, uuid in physical)
    if entry.startswith("MIG-") or (entry.startswith("GPU-") and not uuids_known):
        return None, entry
    for index, uuid in physical:
        if entry.isdigit() and entry == index:
            return index, uuid
        if not entry.isdigit() and uuid and uuid.startswith(entry):
            return index, uuid
    return None


def resolve_gpus(requested: str | Sequence[str]) -> list[Gpu]:
    """Check ``--gpus`` (``"0,1"``, a list, ``"all"`` or ``"free"``) against the visible GPUs."""
    found = visible_gpus()
    if isinstance(requested, str):
        requested = [requested] if requested.strip() in ("all", "free") else requested.split(",")
    wanted = [str(item).strip() for item in requested if str(item).strip()]
    if not wanted:
        raise OptionError(f"--gpus {','.join(map(str, requested))!r} names no GPU; give indices such as 0,1, or 'all'")
    if wanted in (["all"], ["free"]):
        if not found:
            raise OptionError(f"--gpus {wanted[0]}: no NVIDIA GPU found on this machine ({_where_none()})")
        return found
    for gpu in wanted:
        if not gpu.isdigit():
            raise OptionError(f"--gpus takes GPU indices such as 0,1, 'all' or 'free'; got '{gpu}'")
    if len(set(wanted)) != len(wanted):
        raise OptionError(f"--gpus lists a GPU twice: {','.join(wanted)}; use --trials-per-gpu to share one")
    if found is None:  # nvidia-smi failed: take the indices on trust, as CUDA would number them
        return [Gpu(gpu, gpu) for gpu in wanted]
    missing = [gpu for gpu in wanted if int(gpu) >= len(found)]
    if missing:
        listing = ", ".join(gpu.name for gpu in found) if found else "none"
        raise OptionError(f"--gpus names GPU {', '.join(missing)}, which does not exist (GPUs here: {listing})")
    return [found[int(gpu)] for gpu in wanted]


def _where_none() -> str:
    if ENV_VISIBLE in os.environ:
        return f"{ENV_VISIBLE}={os.environ[ENV_VISIBLE]!r} hides them all"
    return "nvidia-smi lists none"


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "[N/A]" on some drivers
        return 0.0
