"""How a warm trial ends: as a fresh interpreter would, though it is a forked child that ends with ``os._exit``.

A forked child inherits the worker's ``atexit`` handlers (which would clean up the worker's own things)
and would otherwise never run the ones its trainer registers (loggers that flush at exit, say).
Standard library only: the warm worker imports it before torch.
"""

from __future__ import annotations

import atexit
import sys
import traceback


def forget_worker_exit_handlers() -> None:
    """Forget the worker's ``atexit`` handlers (they would clean up the worker's own things, its temporary
    files say); keep logging's, which a fresh interpreter registers too. The trial's run at its end."""
    atexit._clear()
    logging = sys.modules.get("logging")
    if logging is not None:
        atexit.register(logging.shutdown)


def exit_as_interpreter_does() -> None:
    """What a fresh interpreter does when its main module ends: wait for non-daemon threads, then run
    the ``atexit`` handlers (loggers flushing, say). A trial that calls ``os._exit`` skips both, as it
    would anywhere."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
    except Exception:  # noqa: BLE001 - a thread that cannot be joined must not keep the trial from exiting
        traceback.print_exc()
    atexit._run_exitfuncs()  # prints a failing handler's traceback itself, as at interpreter exit
