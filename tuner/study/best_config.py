"""``best_config.json``: the best trial's config, written by one function, once per new best.

While `tune` runs, each trial of this run that becomes the study's best has its config file copied
(the file the trainer read, so nothing is rendered again). At the end the file is written once more
only when the study's best is another trial: one that another tune process ran, or an earlier run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import contract
from tuner.study.checkpoints import BestModel
from tuner.study.records import ATTR_LAUNCH, trial_config

if TYPE_CHECKING:
    import optuna

BEST_CONFIG_FILE_NAME = "best_config.json"


def write_best_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` to ``path`` atomically (a reader never sees half a file); returns the path."""
    contract.write_json_atomically(Path(path), dict(config))
    return Path(path)


class BestConfigFile:
    """The results folder's ``best_config.json``, kept current while a study runs."""

    def __init__(self, results_dir: Path) -> None:
        self.path = Path(results_dir) / BEST_CONFIG_FILE_NAME
        self._source: Path | None = None  # the trial config file written last
        self._config: dict[str, Any] | None = None
        self.best_model = BestModel(Path(results_dir))  # the best trial's declared weights, next to this file

    def new_best(self, trial_config_path: Path) -> None:
        """A trial of this run became the best: copy the config it ran with (the runner's ``on_best``),
        and hard-link (or copy) its declared weights into ``best_model/``."""
        config = json.loads(Path(trial_config_path).read_text(encoding="utf-8"))
        write_best_config(self.path, config)
        self._source, self._config = Path(trial_config_path).resolve(), config
        self.best_model.update(Path(trial_config_path).parent)

    def settle(self, study: optuna.Study, best: optuna.trial.FrozenTrial) -> dict[str, Any]:
        """The config of the study's ``best`` trial, written unless it is the one written last."""
        if self._config is not None and self._source == _config_file(best):
            return self._config
        config = trial_config(study, best)  # rendered from the study: its folder may be another host's
        write_best_config(self.path, config)
        self._source, self._config = _config_file(best), config
        if self._source is not None and self._source.parent.is_dir():
            self.best_model.update(self._source.parent)  # another host's folder: best_model/ is left as it is
        return config


def _config_file(trial: optuna.trial.FrozenTrial) -> Path | None:
    """The config file the trial ran with, by its launch record; None for a trial never launched."""
    directory = (trial.user_attrs.get(ATTR_LAUNCH) or {}).get("directory")
    return (Path(directory) / contract.CONFIG_FILE_NAME).resolve() if directory else None
