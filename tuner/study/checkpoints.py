"""Disk: ``--keep-checkpoints`` and the best model next to ``best_config.json``.

A trainer declares which files of its trial folder are weights and which are checkpoints
(:func:`tuner.contract.declare_files`); nothing else is ever deleted. When a trial ends:

- ``all`` deletes nothing;
- ``best`` (= ``top-1``) and ``top-K`` delete the weights of every finished trial that is not among the
  K best completed ones (a later, better trial can push a trial out; its weights go then);
- ``none`` deletes every finished trial's weights, the best's once ``best_model/`` holds them;
- with every setting but ``all``, checkpoints of finished trials go: they only serve to resume a trial.

Never touched: running and waiting trials, trials failed for a reason that may see them re-run in the same
folder (interrupted, tune died, ...), and a folder some process holds a shared ``flock`` on (``tune`` itself
while it copies the best model; ``flock -s results/<study>/trial_3 <command>`` from a shell). Deletion takes
the lock exclusively without waiting, and a folder it cannot lock is tried again at the next trial's end.

``best_model/`` holds the best trial's declared weights under their own names (``best_model/best.th``),
hard-linked where the file system allows (no extra disk), else copied, and a ``tuner_files.json`` naming
them and the trial folder they came from. It is replaced whole on each new best.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import contract
from tuner.errors import OptionError
from tuner.study.records import ATTR_LAUNCH, ATTR_REASON, NOT_COUNTED_REASONS

if TYPE_CHECKING:
    import optuna

BEST_MODEL_DIR_NAME = "best_model"
KEEP_CHOICES = "best, top-K (K >= 1), all or none"
DEFAULT_KEEP = "best"


def parse_keep(text: str) -> int | None:
    """How many of the best trials keep their weights: ``best`` 1, ``top-K`` K, ``none`` 0, ``all`` None."""
    value = str(text).strip().lower()
    fixed: dict[str, int | None] = {"best": 1, "all": None, "none": 0}
    if value in fixed:
        return fixed[value]
    if value.startswith("top-") and value[4:].isdigit() and int(value[4:]) >= 1:
        return int(value[4:])
    raise OptionError(f"keep_checkpoints takes {KEEP_CHOICES}; got {text!r}")


@contextmanager
def reading_trial_files(directory: Path) -> Iterator[None]:
    """Hold a shared lock on a trial folder while reading its files: ``--keep-checkpoints`` waits for it."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        yield  # no folder, nothing to protect
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def folder_bytes(directory: Path | None) -> int | None:
    """Bytes of the files under ``directory`` (None when it does not exist here)."""
    if directory is None or not directory.is_dir():
        return None
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # deleted meanwhile
    return total


class BestModel:
    """``<results>/best_model/``: the best trial's declared weights."""

    def __init__(self, results_dir: Path) -> None:
        self.path = Path(results_dir) / BEST_MODEL_DIR_NAME

    def source(self) -> str | None:
        """The trial folder the weights held now came from."""
        try:
            import json

            data = json.loads((self.path / contract.FILES_MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data.get("trial_dir") if isinstance(data, dict) else None

    def holds(self, trial_dir: Path) -> bool:
        return self.source() == str(Path(trial_dir).resolve())

    def update(self, trial_dir: Path) -> bool:
        """Put ``trial_dir``'s declared weights here; False (and no folder) when it has none."""
        trial_dir = Path(trial_dir).resolve()
        if self.holds(trial_dir):
            return True
        staging = self.path.with_name(f".{BEST_MODEL_DIR_NAME}.new")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            weights = self._stage(trial_dir, staging)
        except OSError:  # a full disk, say: the trial folder keeps the weights (deletion waits for best_model/)
            shutil.rmtree(staging, ignore_errors=True)
            return False
        old = self.path.with_name(f".{BEST_MODEL_DIR_NAME}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)  # a new best without weights leaves no other trial's weights behind
        if weights:
            manifest = {"weights": weights, "checkpoints": [], "trial_dir": str(trial_dir)}
            contract.write_json_atomically(staging / contract.FILES_MANIFEST_NAME, manifest)
            staging.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        return bool(weights)

    @staticmethod
    def _stage(trial_dir: Path, staging: Path) -> list[str]:
        """Link (or copy) the declared weights into ``staging``, holding the folder's shared lock; their names."""
        with reading_trial_files(trial_dir):
            weights = [name for name in contract.declared_files(trial_dir).weights if _inside(trial_dir, name)]
            weights = [name for name in weights if (trial_dir / name).is_file()]
            for name in weights:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(trial_dir / name, staging / name)
        return weights


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no extra disk), or a copy where the file system refuses one."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _inside(directory: Path, name: str) -> bool:
    """Whether ``name`` (declared by the trainer) stays inside ``directory``: ``../x`` is never touched."""
    path = (directory / name).resolve()
    return path != directory and directory in path.parents


class CheckpointKeeper:
    """Deletes the declared files of trials that can no longer be among the best (see the module)."""

    def __init__(self, study: optuna.Study, keep: int | None, best_model: BestModel) -> None:
        self.study = study
        self.keep = keep
        self.best_model = best_model
        self._done: set[int] = set()  # trials whose weights and checkpoints are gone
        self._declaring: bool | None = None  # whether some trial folder declares files; None: not looked yet

    def sweep(self, ended: Path | None = None) -> list[int]:
        """Delete what may go now; the numbers of the trials whose weights went.

        A folder is judged by the last trial that ran in it (a resumed trial runs in its predecessor's).
        ``ended``: the folder of the trial that just ended; until some folder declares files, only it is looked at.
        """
        if self.keep is None:
            return []
        if self._declaring is False and not (ended is not None and _declares(ended)):
            return []  # no trial of the study declared a file: nothing to look at (a storage read saved)
        trials = self.study.get_trials(deepcopy=False)
        owners = {directory: trial for trial in trials if (directory := _directory(trial)) is not None}
        kept = self._kept_numbers(trials)
        cleaned = []
        self._declaring = bool(self._declaring) or any(_declares(directory) for directory in owners)
        for directory, trial in owners.items():
            if trial.number in self._done or not _may_clean(trial):
                continue
            keep_weights = trial.number in kept
            if self._clean(directory, keep_weights=keep_weights) and not keep_weights:
                self._done.add(trial.number)
                cleaned.append(trial.number)
        return cleaned

    def _kept_numbers(self, trials: list[optuna.trial.FrozenTrial]) -> set[int]:
        """The K best completed trials; with ``none``, the best until best_model/ holds its weights."""
        if len(self.study.directions) > 1:  # several objectives: every trial on the Pareto front is a best
            return {trial.number for trial in self.study.best_trials}
        complete = [trial for trial in trials if trial.state.name == "COMPLETE" and trial.value is not None]
        sign = -1 if self.study.direction.name == "MAXIMIZE" else 1
        ranked = sorted(complete, key=lambda trial: (sign * trial.value, trial.number))
        kept = {trial.number for trial in ranked[: self.keep]}
        if ranked and self.keep == 0:
            best_dir = _directory(ranked[0])
            if best_dir is not None and not self.best_model.holds(best_dir):
                kept.add(ranked[0].number)
        return kept

    def _clean(self, directory: Path, *, keep_weights: bool) -> bool:
        """Delete the folder's checkpoints (and weights unless kept); False when another process holds it."""
        declared = contract.declared_files(directory)
        names = set(declared.checkpoints) | (set() if keep_weights else set(declared.weights))
        if keep_weights:
            names -= set(declared.weights)
        try:
            handle = os.open(directory, os.O_RDONLY)
        except OSError:
            return True  # the folder is gone
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(handle)
            return False  # someone reads it: next time
        try:
            for name in sorted(names):
                _delete(directory, name)
        finally:
            os.close(handle)
        return True


def _delete(directory: Path, name: str) -> None:
    if not _inside(directory.resolve(), name):
        return
    path = directory / name
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # not ours to delete after all (permissions): left in place


def _declares(directory: Path) -> bool:
    return (directory / contract.FILES_MANIFEST_NAME).exists()


def _may_clean(trial: optuna.trial.FrozenTrial) -> bool:
    """Finished, and not failed for a reason after which it may run again in the same folder."""
    if not trial.state.is_finished():
        return False
    return not (trial.state.name == "FAIL" and trial.user_attrs.get(ATTR_REASON) in NOT_COUNTED_REASONS)


def _directory(trial: optuna.trial.FrozenTrial) -> Path | None:
    launch: dict[str, Any] = trial.user_attrs.get(ATTR_LAUNCH) or {}
    return Path(launch["directory"]).resolve() if launch.get("directory") else None
