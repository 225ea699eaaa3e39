"""Each trial's files in Optuna's artifact store, so that optuna-dashboard lists them next to the trial.

As a trial ends, before Optuna is told (a finished trial's attributes can no longer change), its
rendered config (``config.json``) and log (``out.log``) are uploaded with
:func:`optuna.artifacts.upload_artifact` into a :class:`FileSystemArtifactStore` at
``<results>/artifacts/``. Its declared weights are uploaded too, but only with
``--keep-checkpoints all``: with any other setting they may be deleted later, when the trial is
no longer among the best, and Optuna refuses to change a finished trial's artifact entries, so the
dashboard would go on listing weights that are gone. Weights are hard-linked into the store where
the file system allows (no extra disk); the config and log are copied (a resumed trial appends to its log).

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

        def write(self, artifact_id: str, content_body: BinaryIO) -> None:
            source = getattr(content_body, "name", None)
            if isinstance(source, str) and source in self.link and os.path.isfile(source):
                target = self.base_path / artifact_id
                if not os.path.isabs(artifact_id) and target.parent == self.base_path:
                    try:
                        os.link(source, target)
                        return
                    except OSError:
                        pass  # another file system: copied below
            super().write(artifact_id, content_body)

    return LinkingArtifactStore


class TrialArtifacts:
    """Uploads an ending trial's config, log and (with ``--keep-checkpoints all``) weights."""

    def __init__(self, results_dir: Path, *, with_weights: bool) -> None:
        self.store = artifact_store(results_dir)
        self.with_weights = with_weights

    def register(self, trial: optuna.Trial, directory: Path, *, config: bool = True) -> list[str]:
        """Upload the trial's files that exist; their artifact ids. ``config=False``: all but the config
        (uploaded at launch already, see :meth:`register_config`)."""
        from optuna.artifacts import upload_artifact

        names = [contract.CONFIG_FILE_NAME, contract.LOG_FILE_NAME] if config else [contract.LOG_FILE_NAME]
        if self.with_weights:
            weights = contract.declared_files(directory).weights
            names += list(weights)
            self.store.link = {str(directory / name) for name in weights}
        ids = []
        for name in names:
            path = directory / name
            if not path.is_file():
                continue
            mimetype = "text/plain" if name == contract.LOG_FILE_NAME else None
            try:
                ids.append(
                    upload_artifact(
                        artifact_store=self.store, file_path=str(path), study_or_trial=trial, mimetype=mimetype
                    )
                )
            except OSError:
                pass  # a copy for the dashboard is not worth a study: the file stays in the trial folder
        return ids

    def register_config(self, trial: optuna.Trial, directory: Path) -> list[str]:
        """Upload the trial's rendered config as soon as it runs (it does not change after the launch), so that
        the upload is made while the trial runs rather than between one trial's end and the next one's start."""
        from optuna.artifacts import upload_artifact

        path = directory / contract.CONFIG_FILE_NAME
        try:
            return [upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=trial)]
        except OSError:
            return []  # as in register: the file stays in the trial folder
