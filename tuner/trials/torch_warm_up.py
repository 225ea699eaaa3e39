"""Torch in a warm worker: its first-call paths run once before any fork, and each trial's thread count.

Standard library only at import: the worker imports this before torch, and finds torch in ``sys.modules``.
"""

from __future__ import annotations

import os
import sys
import traceback

_default_threads = 0  # torch's thread count before the warm-up set it to one


def use_trial_thread_count() -> None:
    """Torch's intra-op threads as the trial's OMP_NUM_THREADS says (torch's own default otherwise)."""
    torch = sys.modules.get("torch")
    threads = os.environ.get("OMP_NUM_THREADS")
    if torch is not None and threads and threads.isdigit():
        torch.set_num_threads(int(threads))
    elif torch is not None and _default_threads and torch.get_num_threads() != _default_threads:
        torch.set_num_threads(_default_threads)  # the warm-up ran with one


def warm_up_torch() -> None:
    """Run torch's first-call paths once, so that each trial does not pay them (~15 ms of a tiny trainer).

    One thread: no OpenMP pool may exist at fork. With an accelerator build, forward only: a
    backward pass starts the autograd engine's device threads (children could not use autograd)
    and an optimizer step asks the driver whether a device is available (CUDA is then unusable
    in forked children); both stay for the trials.
    """
    global _default_threads
    torch = sys.modules.get("torch")
    if torch is None or "torch.optim" not in sys.modules or "torch.nn" not in sys.modules:
        return
    _default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    accelerator = getattr(getattr(torch, "accelerator", None), "current_accelerator", None)
    cpu_only = accelerator is not None and accelerator() is None  # compile-time answer: touches no driver
    try:
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        for optimizer_class in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
            optimizer = optimizer_class(model.parameters(), lr=1e-3)
            with torch.set_grad_enabled(cpu_only):
                loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 4)), torch.tensor([0, 1] * 4))
            if cpu_only:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss.item()
    except Exception:  # noqa: BLE001 - a warm-up that fails only costs the trials their first calls
        traceback.print_exc()
