"""``best_command.sh``: the best trial of a study without a config, as a shell script that runs it again.

``tune dump-best`` writes it next to ``best_config.json`` (which holds the parameters): the command the
trial ran (:func:`tuner.study.records.trial_command`), its parameters filled in and in the environment
(``TUNER_PARAM_*``, ``TUNER_PARAMS``), run where the trial ran (tune's working directory, or the output
folder with ``--trial-cwd trial``). Its outputs go to the folder given as its first argument (default
``best_run/`` beside the script), never into the trial's own folder.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.config.script_mode import is_parameters_snapshot
from tuner.contract import CONFIG_FILE_NAME, ENV_METRICS_FILE, ENV_SERIALIZATION_DIR, EPOCH_METRICS_FILE_NAME
from tuner.errors import StudyError
from tuner.study.records import ATTR_LAUNCH, ATTR_TRIAL_CWD, gpu_usage, stored_snapshot, trial_command, trial_config
from tuner.trials.launch import CommandTemplate
from tuner.trials.params_env import params_env

if TYPE_CHECKING:
    import optuna

BEST_COMMAND_FILE_NAME = "best_command.sh"
_OUT = "\x00out\x00"  # stands for "$out" until each argument is quoted
_GPUS = "\x00gpus\x00"


def has_no_config(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` ran without a Jsonnet config (``tune SPACE --command ...``)."""
    key = (trial.user_attrs.get(ATTR_LAUNCH) or {}).get("config_snapshot")
    return is_parameters_snapshot(stored_snapshot(study, key)) and bool(trial_command(study, trial))


def write_best_command_if_no_config(study: optuna.Study, trial: optuna.trial.FrozenTrial, config: Path) -> Path | None:
    """For a trial that ran without a config: :func:`write_best_command` beside its ``config`` file."""
    if not has_no_config(study, trial):
        return None
    name = BEST_COMMAND_FILE_NAME if config.name == "best_config.json" else f"{config.stem}_command.sh"
    return write_best_command(study, trial, config.with_name(name))


def write_best_command(study: optuna.Study, trial: optuna.trial.FrozenTrial, path: Path) -> Path:
    """Write the script that runs ``trial`` again to ``path``, executable; returns the path."""
    params = trial_config(study, trial)  # the parameters, inactive ones at their default
    where = study.user_attrs.get(ATTR_TRIAL_CWD) or {}
    n_gpus = str(int(gpu_usage(trial).get("gpus", 1)))
    stored = trial_command(study, trial)
    if not stored:
        raise StudyError(f"study '{study.study_name}' stores no command for trial {trial.number}")
    template = CommandTemplate(tuple(a.replace("{gpus}", _GPUS).replace("{n_gpus}", n_gpus) for a in stored))
    argv = template.render(
        config=Path(_OUT) / CONFIG_FILE_NAME, serialization_dir=Path(_OUT), trial_number=trial.number, params=params
    )
    env = {
        **{name: value for name, value in params_env(params).items() if value is not None},
        ENV_SERIALIZATION_DIR: _OUT,
        ENV_METRICS_FILE: f"{_OUT}/{EPOCH_METRICS_FILE_NAME}",
    }
    cwd = '"$out"' if where.get("mode") == "trial" else shlex.quote(where.get("directory") or os.getcwd())
    lines = [
        "#!/bin/sh",
        f"# Trial {trial.number} of study '{study.study_name}' (value {trial.value:.6g}), run again.",
        "# Its outputs go to the folder given as the first argument (default: best_run/ beside this script).",
        "set -e",
        'out="$(cd "$(dirname "$0")" && pwd)/best_run"',
        'if [ -n "$1" ]; then out="$(mkdir -p "$1" && cd "$1" && pwd)"; fi',
        'mkdir -p "$out"',
        f"printf '%s\\n' {shlex.quote(_json(params))} > \"$out\"/{CONFIG_FILE_NAME}",
        *(f"export {name}={_quoted(value)}" for name, value in env.items()),
        f"cd {cwd}",
        "exec " + " ".join(_quoted(argument) for argument in argv),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _quoted(argument: str) -> str:
    """``argument`` quoted for sh, with the stand-ins for the output folder and the GPUs as variables."""
    return _quoted_with(argument, ((_OUT, '"$out"'), (_GPUS, '"$CUDA_VISIBLE_DEVICES"'))) or "''"


def _quoted_with(text: str, stand_ins: tuple[tuple[str, str], ...]) -> str:
    if not stand_ins:
        return shlex.quote(text) if text else ""
    (marker, variable), rest = stand_ins[0], stand_ins[1:]
    return variable.join(_quoted_with(piece, rest) for piece in text.split(marker))


def _json(params: object) -> str:
    import json

    return json.dumps(params, indent=2)
