"""Several objectives: the Optuna multi-objective study, its (feasible) Pareto front, and the front's files.

A multi-objective study has no single best config. While it runs, ``<results>/pareto/`` holds
``trial_<N>.json`` (the config of each trial on the front) and ``front.tsv`` (their numbers, values
and parameters), rewritten whenever the front changes; ``best_config.json`` is not written.
The front is Optuna's ``study.best_trials``: completed trials no other dominates, among the
feasible ones where the study has constraints.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import contract
from tuner.errors import StudyError
from tuner.study.heartbeat import opened_from
from tuner.study.records import ATTR_LAUNCH, remember_metrics, remember_prune_on, stored_metrics, trial_config

if TYPE_CHECKING:
    import optuna

PARETO_DIR_NAME = "pareto"
FRONT_FILE_NAME = "front.tsv"


def is_multi_objective(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def directions(study: optuna.Study) -> list[str]:
    return [direction.name.lower() for direction in study.directions]


def objectives_text(study: optuna.Study) -> str:
    """``maximize best_validation_accuracy, minimize param_count``."""
    return ", ".join(f"{way} {name}" for way, name in zip(directions(study), stored_metrics(study)))


def pareto_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The feasible Pareto front, by trial number (Optuna's ``best_trials``); [] for a single objective."""
    if not is_multi_objective(study):
        return []
    return sorted(study.best_trials, key=lambda trial: trial.number)


def create_or_resume_multi(
    storage: optuna.storages.BaseStorage,
    *,
    name: str,
    directions: list[str],
    metrics: list[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    restart: bool,
) -> tuple[optuna.Study, bool]:
    """Create the multi-objective study or load it to resume (same objectives, in the same order)."""
    import optuna

    exists = name in [summary.study_name for summary in storage.get_all_studies()]
    if exists and restart:
        optuna.delete_study(study_name=name, storage=storage)
        exists = False
    if not exists:
        try:
            study = optuna.create_study(
                storage=storage, study_name=name, directions=directions, sampler=sampler, pruner=pruner
            )
        except optuna.exceptions.DuplicatedStudyError:  # another process created it a moment ago
            exists = True
        else:
            remember_metrics(study, metrics)
            return opened_from(study, storage), False
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    check_objectives(study, directions, metrics)
    return opened_from(study, storage), True


def check_objectives(study: optuna.Study, wanted_directions: Sequence[str], metrics: Sequence[str]) -> None:
    """Refuse to resume ``study`` with other objectives, or the same in another order."""
    stored = list(zip(directions(study), stored_metrics(study)))
    wanted = list(zip(wanted_directions, metrics))
    if stored != wanted:
        shown = ", ".join(f"{way} {name}" for way, name in wanted)
        count = f"{len(stored)} objective{'s' if len(stored) != 1 else ''}"
        raise StudyError(
            f"study '{study.study_name}' has {count} ({objectives_text(study)}), not ({shown}); "
            "give the same --metric/--direction pairs in the same order, use another --study-name, "
            "or --restart to start it over"
        )


def front_summary(study: optuna.Study) -> str:
    """``front 3: best_validation_accuracy 0.98 (trial 4), param_count 1204 (trial 7)``: each objective's best."""
    front = pareto_trials(study)
    if not front:
        return "no front yet"
    parts = []
    for index, (name, way) in enumerate(zip(stored_metrics(study), directions(study))):
        pick = max if way == "maximize" else min
        best = pick(front, key=lambda trial: trial.values[index])
        parts.append(f"{name} {best.values[index]:.6g} (trial {best.number})")
    return f"front {len(front)}: " + ", ".join(parts)


def front_text(study: optuna.Study, front: Sequence[optuna.trial.FrozenTrial], separator: str = "\t") -> str:
    """``front.tsv``: one line per front trial, its number, each objective's value and its parameters."""
    names = stored_metrics(study)
    params = list(dict.fromkeys(name for trial in front for name in trial.params))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow(["number", *names, *(f"params_{name}" for name in params)])
    for trial in front:
        writer.writerow([trial.number, *trial.values, *(trial.params.get(name, "") for name in params)])
    return buffer.getvalue()


class ParetoFiles:
    """``<results>/pareto/``: the config of each trial on the front and ``front.tsv``, kept current."""

    def __init__(self, study: optuna.Study, results_dir: Path) -> None:
        self.study = study
        self.directory = Path(results_dir) / PARETO_DIR_NAME
        self._written: dict[int, Path] = {}

    @classmethod
    def for_run(cls, study: optuna.Study, results_dir: Path, objective: Any, runner: Any) -> ParetoFiles | None:
        """For a study of several objectives: the files, kept current by ``runner`` (its ``on_best``) in
        place of best_config.json; which objective pruning follows is stored. None for one objective."""
        if not objective.is_multi:
            return None
        remember_prune_on(study, objective.prune_metric, objective.prune_index)
        files = cls(study, results_dir)
        runner.on_best = files.update
        return files

    def summary(self) -> str:
        """The live view's ``best`` text: the front's size and each objective's best."""
        return front_summary(self.study)

    def result(self, result: Any) -> Any:
        """``result`` (a :class:`tuner.api.TuneResult`) with the front, its files written once more
        (trials of other processes may have joined it)."""
        result.pareto_trials, result.pareto_dir = self.update(), self.directory
        return result

    @property
    def front_file(self) -> Path:
        return self.directory / FRONT_FILE_NAME

    def update(self, _config_path: Path | None = None) -> list[optuna.trial.FrozenTrial]:
        """Rewrite the files for the study's front now (the runner's ``on_best``); returns the front."""
        front = pareto_trials(self.study)
        self.directory.mkdir(parents=True, exist_ok=True)
        numbers = {trial.number for trial in front}
        for trial in front:
            if trial.number not in self._written:
                self._written[trial.number] = self._write_config(trial)
        for path in self.directory.glob("trial_*.json"):
            if _number_of(path) not in numbers:
                path.unlink(missing_ok=True)
        self._written = {number: path for number, path in self._written.items() if number in numbers}
        _write_text_atomically(self.front_file, front_text(self.study, front))
        return front

    def _write_config(self, trial: optuna.trial.FrozenTrial) -> Path:
        """The config the trial ran with: its own file where its folder is here, else rendered from the study."""
        path = self.directory / f"trial_{trial.number}.json"
        directory = (trial.user_attrs.get(ATTR_LAUNCH) or {}).get("directory")
        source = Path(directory) / contract.CONFIG_FILE_NAME if directory else None
        if source is not None and source.is_file():
            shutil.copyfile(source, path.with_suffix(".json.tmp"))
            os.replace(path.with_suffix(".json.tmp"), path)
        else:
            contract.write_json_atomically(path, trial_config(self.study, trial))
        return path


def _number_of(path: Path) -> int | None:
    try:
        return int(path.stem.removeprefix("trial_"))
    except ValueError:
        return None


def _write_text_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def no_single_best(study: optuna.Study) -> StudyError:
    """The error for asking a multi-objective study for its one best trial."""
    return StudyError(
        f"study '{study.study_name}' has several objectives ({objectives_text(study)}): there is no single "
        "best trial; pick one of the Pareto front with --trial N (tune show-trials --pareto)"
    )


def values_text(values: Sequence[float] | None, names: Sequence[str] | None = None) -> str:
    """``0.98, 1204`` or ``best_validation_accuracy=0.98 param_count=1204``."""
    if not values:
        return "-"
    if names is None:
        return ", ".join(f"{value:.6g}" for value in values)
    return " ".join(f"{name}={value:.6g}" for name, value in zip(names, values))


def objective_values(trial: optuna.trial.FrozenTrial) -> list[float] | None:
    """A finished trial's values (several for a multi-objective study), None without."""
    values: Any = trial.values
    return list(values) if values else None
