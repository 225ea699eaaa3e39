"""Resolve data paths: local files, or http(s) URLs downloaded once into a cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from tuner.train.errors import DataError

CACHE_ENV = "TUNER_CACHE_DIR"


def cache_dir() -> Path:
    """``$TUNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/tuner``, else ``~/.cache/tuner``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuner"


def resolve(path: str, where: str) -> Path:
    """Return a local file for ``path``, downloading URLs on first use.

    Raises:
        DataError: The file does not exist or the download failed.
    """
    if path.startswith(("http://", "https://")):
        return _download(path, where)
    local = Path(path).expanduser()
    if not local.is_file():
        raise DataError(f"{where}: file not found: {path}")
    return local


def check_readable(path: str, where: str) -> Path:
    """Like :func:`resolve`, and the file can be opened for reading.

    Raises:
        DataError: The file is missing or unreadable, or the download failed.
    """
    local = resolve(path, where)
    try:
        with open(local, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise DataError(f"{where}: cannot read {path}: {error.strerror}") from None
    return local


def _download(url: str, where: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = cache_dir() / "datasets" / f"{digest}-{Path(url.split('?')[0]).name or 'data'}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        os.replace(partial, target)  # atomic: concurrent trials never read half a file
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DataError(f"{where}: cannot download {url}: {error}") from None
    return target
