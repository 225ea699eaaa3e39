"""SQLite files looked at from outside Optuna: soundness checked read-only, read-only access anywhere."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from tuner.errors import StudyError


def check_sqlite_file(path: Path, uri: str) -> None:
    """Refuse an SQLite file that is not a sound database, reading it (through SQLite's ``uri``) only.

    Optuna would otherwise fail deep inside SQLAlchemy, and may write to the damaged file first.
    A file that cannot be opened here is left for Optuna to report.
    """
    companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    existed = [companion.exists() for companion in companions]
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            problem = str(connection.execute("PRAGMA quick_check(1)").fetchone()[0])
    except sqlite3.Error as error:
        problem = str(error)
    if problem == "ok" or "unable to open" in problem:
        return
    wal, _ = companions
    if not any(existed) and wal.exists() and wal.stat().st_size == 0:
        for companion in companions:  # made by the read-only check just now, and holding nothing
            companion.unlink(missing_ok=True)
    problem = " ".join(problem.replace("*** in database main ***", "").split())
    raise StudyError(
        f"{path} is not a sound SQLite database ({problem}); it was left untouched: restore it "
        "from a copy, or pass another --storage"
    )


def read_only_uri(path: Path) -> str:
    """SQLite's URI opening ``path`` read-only."""
    return f"{path.resolve().as_uri()}?mode=ro"


def read_uri(path: Path) -> str:
    """SQLite's URI for reading ``path`` without writing to it, even in a folder one cannot write to.

    There SQLite may be unable to use the index (-shm) of a WAL database, depending on the
    state its last writer left; so it reads a private copy of the database and its WAL instead.
    """
    if os.access(path.resolve().parent, os.W_OK):
        return read_only_uri(path)
    copy = Path(tempfile.mkdtemp(prefix="tuner-read-")) / path.name
    atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
    for suffix in ("", "-wal"):
        if path.with_name(path.name + suffix).exists():
            shutil.copyfile(path.with_name(path.name + suffix), copy.with_name(copy.name + suffix))
    return copy.as_uri()
