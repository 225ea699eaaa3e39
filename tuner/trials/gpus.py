"""Which GPUs exist, found without initialising CUDA in the `tune` process.

CUDA must not be initialised here: trials (and forked workers) need a clean
process, and ``torch.cuda`` would cost seconds. ``nvidia-smi`` answers instead;
``TUNER_AVAILABLE_GPUS=0,1`` overrides discovery (containers without
``nvidia-smi``, tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tuner.errors import OptionError

ENV_AVAILABLE_GPUS = "TUNER_AVAILABLE_GPUS"


def available_gpus() -> list[str] | None:
    """GPU indices on this machine, [] when there are none, None when it cannot be told."""
    override = os.environ.get(ENV_AVAILABLE_GPUS)
    if override is not None:
        return [item.strip() for item in override.split(",") if item.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        completed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in completed.stdout.splitlines() if line.strip()]


def resolve_gpus(requested: str | list[str] | tuple[str, ...]) -> list[str]:
    """Check ``--gpus`` (``"0,1"``, a list, or ``"all"``) against the GPUs that exist."""
    found = available_gpus()
    if isinstance(requested, str):
        requested = [requested] if requested.strip() == "all" else requested.split(",")
    wanted = [str(item).strip() for item in requested if str(item).strip()]
    if not wanted:
        raise OptionError(f"--gpus {','.join(map(str, requested))!r} names no GPU; give indices such as 0,1, or 'all'")
    if wanted == ["all"]:
        if not found:
            raise OptionError("--gpus all: no NVIDIA GPU found on this machine (nvidia-smi lists none)")
        return found
    for gpu in wanted:
        if not gpu.isdigit():
            raise OptionError(f"--gpus takes GPU indices such as 0,1 or 'all'; got '{gpu}'")
    if found is not None:
        missing = [gpu for gpu in wanted if gpu not in found]
        if missing:
            listing = ", ".join(found) if found else "none"
            raise OptionError(f"--gpus names GPU {', '.join(missing)}, which does not exist (GPUs here: {listing})")
    if len(set(wanted)) != len(wanted):
        raise OptionError(f"--gpus lists a GPU twice: {','.join(wanted)}; use --trials-per-gpu to share one")
    return wanted
