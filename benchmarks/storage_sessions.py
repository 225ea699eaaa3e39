"""Storage sessions per trial: `tune` (warm launch, one slot) against Optuna's own ask/tell loop.

Each Optuna RDB call opens one database session (one SQLite transaction); on the per-trial path they
are most of what `tune` pays beyond the floor. This counts them per trial, grouped by the tuner
function that caused them and the Optuna call, by wrapping Optuna's session factory.

    python benchmarks/storage_sessions.py --trials 40
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import optuna.storages._rdb.storage as rdb_storage
import trial_overhead

COUNTS: collections.Counter[str] = collections.Counter()
COUNTING = [False]
_OPEN_SESSION = rdb_storage._create_scoped_session


def _caller() -> str:
    """'tuner module:function | optuna call' for the session being opened."""
    frames = traceback.extract_stack()[:-3]
    ours = [frame for frame in frames if "/tuner/" in frame.filename]
    where = f"{ours[-1].filename.split('/tuner/')[-1]}:{ours[-1].name}" if ours else "(Optuna itself)"
    return f"{where} | {frames[-1].name}"


@contextlib.contextmanager
def _counted_session(*args: Any, **kwargs: Any) -> Iterator[Any]:
    if COUNTING[0]:
        COUNTS[_caller()] += 1
    with _OPEN_SESSION(*args, **kwargs) as session:
        yield session


def _show(title: str, trials: int) -> None:
    print(f"{title}: {sum(COUNTS.values()) / trials:.2f} sessions per trial")
    for caller, count in COUNTS.most_common():
        if count / trials >= 0.1:
            print(f"  {count / trials:5.2f}  {caller}")
    COUNTS.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    rdb_storage._create_scoped_session = _counted_session
    work = Path(tempfile.mkdtemp(prefix="storage-sessions-"))
    for name in ("warm-up", "tune", "optuna"):
        (work / name).mkdir()
    trial_overhead.time_tune(work / "warm-up", 5, "warm", "torch")
    COUNTING[0] = True
    trial_overhead.time_tune(work / "tune", args.trials, "warm", "torch")
    _show("tune, warm launch", args.trials)
    trial_overhead.time_optuna(work / "optuna", args.trials, "torch")
    COUNTING[0] = False
    _show("Optuna's ask/tell loop (the floor)", args.trials)


if __name__ == "__main__":
    main()
