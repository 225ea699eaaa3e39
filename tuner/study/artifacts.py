"""Each trial's files in Optuna's artifact store, so that optuna-dashboard lists them next to the trial.

A trial's rendered config (``config.json``) and log (``out.log``) are uploaded with
:func:`optuna.artifacts.upload_artifact` into a :class:`FileSystemArtifactStore` at
``<results>/artifacts/`` as it starts, while it runs (not between one trial's end and the next
one's start): the config is copied, the log hard-linked where the file system allows, so that the
store's copy grows with the log. A later attempt that resumes in the trial's folder first gives
the log a file of its own (:func:`detach_log`), so an earlier attempt's artifact keeps its end;
a trial that resumes has its log copied as it ends instead. Declared weights are uploaded as the
trial ends, before Optuna is told (a finished trial's attributes can no longer change), but only with
``--keep-checkpoints all``: with any other setting they may be deleted later, when the trial is
no longer among the best, and Optuna refuses to change a finished trial's artifact entries, so the
dashboard would go on listing weights that are gone. Weights are hard-linked into the store too.

Show them with ``optuna-dashboard sqlite:///tune.db --artifact-dir results/<study>/artifacts``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tuner import contract

if TYPE_CHECKING:
    import optuna

ARTIFACTS_DIR_NAME = "artifacts"


def artifact_store(results_dir: Path) -> optuna.artifacts.FileSystemArtifactStore:
    """The study's artifact store, ``<results>/artifacts/`` (created)."""
    directory = Path(results_dir) / ARTIFACTS_DIR_NAME
    directory.mkdir(parents=True, exist_ok=True)
    return _store_class()(directory)


def _store_class() -> type:
    from optuna.artifacts import FileSystemArtifactStore

    class LinkingArtifactStore(FileSystemArtifactStore):
        """Optuna's file-system store, hard-linking large files instead of copying them."""

        def __init__(self, base_path: Path) -> None:
            super().__init__(base_path)
            self.base_path = Path(base_path)
            self.link: set[str] = set()  # paths of the files to hard-link rather than copy
            self.link_only: set[str] = set()  # paths of the files to hard-link or not store at all

        def write(self, artifact_id: str, content_body: BinaryIO) -> None:
            source = getattr(content_body, "name", None)
            linked = isinstance(source, str) and (source in self.link or source in self.link_only)
            if linked and os.path.isfile(source):
                target = self.base_path / artifact_id
                if not os.path.isabs(artifact_id) and target.parent == self.base_path:
                    try:
                        os.link(source, target)
                        return
                    except OSError:
                        if source in self.link_only:
                            raise
                        # another file system: copied below
            super().write(artifact_id, content_body)

    return LinkingArtifactStore


class TrialArtifacts:
    """Uploads an ending trial's config, log and (with ``--keep-checkpoints all``) weights."""

    def __init__(self, results_dir: Path, *, with_weights: bool) -> None:
        self.store = artifact_store(results_dir)
        self.with_weights = with_weights

    def register(self, trial: optuna.Trial, directory: Path, *, at_launch: frozenset[str] = frozenset()) -> list[str]:
        """As the trial ends: upload its files that exist and are not in ``at_launch`` (the names
        :meth:`register_at_launch` uploaded); their artifact ids."""
        names = [name for name in (contract.CONFIG_FILE_NAME, contract.LOG_FILE_NAME) if name not in at_launch]
        if self.with_weights:
            weights = contract.declared_files(directory).weights
            names += list(weights)
            self.store.link = {str(directory / name) for name in weights}
        return [artifact for name in names if (artifact := self._upload(trial, directory / name))]

    def register_at_launch(self, trial: optuna.Trial, directory: Path, *, resumed: bool) -> frozenset[str]:
        """As the trial starts: upload its config, and its log as a hard link unless it ``resumed`` (its log
        holds earlier attempts' output, whose artifacts share it); the names uploaded."""
        uploaded = {contract.CONFIG_FILE_NAME} if self._upload(trial, directory / contract.CONFIG_FILE_NAME) else set()
        log = directory / contract.LOG_FILE_NAME
        if not resumed:
            try:
                log.touch()  # the trial's process may not have opened it yet; appending keeps what it wrote
            except OSError:
                return frozenset(uploaded)
            self.store.link_only = {str(log)}  # a copy now would miss what the trial writes later
            if self._upload(trial, log):
                uploaded.add(contract.LOG_FILE_NAME)
            self.store.link_only = set()
        return frozenset(uploaded)

    def _upload(self, trial: optuna.Trial, path: Path) -> str | None:
        """Upload ``path`` if it is a file; its artifact id (None when it is missing or cannot be stored)."""
        from optuna.artifacts import upload_artifact

        if not path.is_file():
            return None
        mimetype = "text/plain" if path.name == contract.LOG_FILE_NAME else None
        try:
            return upload_artifact(
                artifact_store=self.store, file_path=str(path), study_or_trial=trial, mimetype=mimetype
            )
        except OSError:
            return None  # a copy for the dashboard is not worth a study: the file stays in the trial folder


def detach_log(directory: Path) -> None:
    """Give a resuming trial's log a file of its own, so that the artifacts linked to the old one keep their end."""
    log = directory / contract.LOG_FILE_NAME
    try:
        if os.stat(log).st_nlink < 2:
            return
        copy = log.with_name(f".{log.name}.detached")
        copy.write_bytes(log.read_bytes())
        os.replace(copy, log)
    except OSError:
        pass  # no log yet, or it cannot be copied: the attempt appends to it as before
