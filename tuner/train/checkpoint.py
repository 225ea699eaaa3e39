"""``checkpoint.pt``: everything a resumed run needs to go on exactly as if it had never stopped.

Written at the end of every epoch (temporary file, then ``os.replace``: a reader or a resumed run sees the
previous checkpoint or the new one, never a part), read with ``weights_only=True``. It holds the model,
optimizer, LR scheduler and AMP scaler states, the loop's :class:`Progress`, the shuffling generator's
state (it decides the next epoch's order), and each rank's Python, NumPy, torch CPU and CUDA RNG states.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import random
from pathlib import Path
from typing import Any

import torch

from tuner.train.loop import Progress, Trainer

FORMAT_VERSION = 1


def capture(
    trainer: Trainer, progress: Progress, config: dict[str, Any], *, write: bool = True
) -> dict[str, Any] | None:
    """The checkpoint of ``trainer`` after an epoch; under DDP every rank calls it (the ranks' RNG states are
    gathered), and only the one that writes (``write``) gets it, the others None."""
    rng = rng_states(trainer.settings.device)
    distributed = trainer.distributed
    rngs = distributed.gather(rng) if distributed else [rng]
    if not write:
        return None
    return {
        "format": FORMAT_VERSION,
        "config": json.dumps(config, sort_keys=True),
        "world_size": len(rngs),
        "progress": dataclasses.asdict(progress),
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else None,
        "loader_generator": _generator_state(trainer),
        "rng": rngs,
    }


def load(path: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path``; None when there is none or it belongs to another config."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):  # from a run killed while writing
        leftover.unlink(missing_ok=True)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError):  # not this trainer's checkpoint
        return None
    if (
        not isinstance(state, dict)
        or state.get("format") != FORMAT_VERSION
        or state.get("config") != json.dumps(config, sort_keys=True)
    ):
        return None
    return state


def restore(trainer: Trainer, state: dict[str, Any], rank: int = 0) -> Progress:
    """Put the checkpoint's state into ``trainer`` and the RNGs; returns the progress to continue from."""
    device = trainer.settings.device
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None and state["scheduler"] is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    if trainer.scaler is not None and state["scaler"] is not None:
        trainer.scaler.load_state_dict(state["scaler"])
    if trainer.train_loader.generator is not None and state["loader_generator"] is not None:
        trainer.train_loader.generator.set_state(state["loader_generator"])
    rngs = state["rng"]
    set_rng_states(rngs[rank] if rank < len(rngs) else rngs[0], device)
    return Progress(**state["progress"])


def rng_states(device: torch.device) -> dict[str, Any]:
    """This process's random generators: Python's, NumPy's, torch's CPU one and the device's."""
    version, internal, gauss = random.getstate()
    # Python's 625 words as one tensor: torch.save pickles a list of ints element by element, slowly.
    python = [version, torch.tensor(internal, dtype=torch.int64), gauss]
    states: dict[str, Any] = {"python": python, "torch": torch.get_rng_state()}
    numpy = _numpy()
    if numpy is not None:
        name, keys, position, has_gauss, cached = numpy.random.get_state()
        # As plain values and a tensor, so that weights_only loading accepts them.
        states["numpy"] = [name, torch.from_numpy(keys.astype("int64")), position, has_gauss, cached]
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_states` captured."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal.tolist()), gauss))
    torch.set_rng_state(states["torch"])
    numpy = _numpy()
    if numpy is not None and "numpy" in states:
        name, keys, position, has_gauss, cached = states["numpy"]
        numpy.random.set_state((name, keys.numpy().astype("uint32"), position, has_gauss, cached))
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)


def _generator_state(trainer: Trainer) -> torch.Tensor | None:
    generator = trainer.train_loader.generator
    return generator.get_state() if generator is not None else None


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # numpy is optional for torch
        return None
    return numpy
