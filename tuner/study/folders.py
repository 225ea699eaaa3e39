"""Results folders belong to one study: the default folder's name, and the marker file that claims it.

Two studies writing trials into one folder would overwrite each other's ``trial_<n>``
folders (both start at trial 0). So the default folder is ``results/<study name>`` for
the default storage (``tune.db`` here) and ``results/<study name>-<8 hex of the storage>``
for any other, and every results folder holds a marker naming the storage and study it
belongs to; a folder claimed by another study is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from tuner.errors import OptionError
from tuner.study.storage import JOURNAL_PREFIX, default_storage_url, describe_storage

MARKER_FILE_NAME = ".tuner-study.json"


def storage_identity(url: str, relative_to: Path) -> str:
    """The storage as a marker names it: others by URL (password masked), a file storage by its path
    relative to ``relative_to``, so that a project folder moved as a whole keeps its claims."""
    for prefix in (JOURNAL_PREFIX, "sqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix) :].partition("?")[0].removeprefix("file:")
            if path and path != ":memory:":
                return prefix + os.path.relpath(Path(path).resolve(), relative_to.resolve())
    return describe_storage(url)


def default_results_dir(base: Path, study_name: str, storage_url: str) -> Path:
    """``base/<study>`` for the default storage, ``base/<study>-<hash>`` for another (see the module docstring)."""
    here = Path(".")
    identity = storage_identity(storage_url, here)
    if identity == storage_identity(default_storage_url(), here):
        return base / study_name
    return base / f"{study_name}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def check_owner(directory: Path, *, storage_url: str, study_name: str) -> None:
    """Refuse ``directory`` if its marker names another study or storage; a folder without one is free."""
    owner = _read_marker(directory)
    wanted = _marker(directory, storage_url, study_name)
    if owner is not None and owner != wanted:
        raise OptionError(
            f"{directory} holds the trials of study '{owner.get('study')}' in {owner.get('storage')} "
            f"(as its {MARKER_FILE_NAME} says; storage paths are relative to the folder), not of '{study_name}' "
            f"in {wanted['storage']}; pass another --serialization-dir"
        )


def claim(directory: Path, *, storage_url: str, study_name: str) -> None:
    """Write the marker into ``directory`` (which exists) unless there is one; then check it is ours.

    The marker is linked into place, which fails if one exists: of two `tune` processes
    claiming the same folder at once, exactly one wins and the other is refused.
    """
    marker = directory / MARKER_FILE_NAME
    if not marker.exists():
        try:
            _link_marker(marker, _marker(directory, storage_url, study_name))
        except FileExistsError:
            pass  # another process claimed it a moment ago: check_owner says whose it is
        except OSError as error:
            raise OptionError(
                f"--serialization-dir {directory}: cannot write {MARKER_FILE_NAME} ({error.strerror})"
            ) from None
    check_owner(directory, storage_url=storage_url, study_name=study_name)


def _link_marker(marker: Path, content: dict[str, str]) -> None:
    """Write ``marker`` complete or not at all, failing with FileExistsError if it exists."""
    descriptor, temporary = tempfile.mkstemp(dir=marker.parent, prefix=".tuner-study-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(content, file)
        os.link(temporary, marker)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _marker(directory: Path, storage_url: str, study_name: str) -> dict[str, str]:
    return {"storage": storage_identity(storage_url, directory), "study": study_name}


def _read_marker(directory: Path) -> dict[str, str] | None:
    try:
        owner = json.loads((directory / MARKER_FILE_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        owner = None
    if not isinstance(owner, dict):
        raise OptionError(
            f"{directory / MARKER_FILE_NAME} is damaged, so it cannot be told which study {directory} belongs to; "
            "fix or delete it, or pass another --serialization-dir"
        )
    return owner
