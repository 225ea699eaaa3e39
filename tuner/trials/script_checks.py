"""Pre-flight for a script's ``--command`` and for ``--trial-cwd`` (README "Scripts that take flags").

:meth:`tuner.trials.launch.CommandTemplate.parse` already refuses unknown placeholders, placeholders
that are both built in and a parameter, and a program that does not exist; here: the script a Python
interpreter is to run exists, and no two parameters share an environment variable.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.errors import OptionError
from tuner.trials.launch import CommandTemplate
from tuner.trials.params_env import PLACEHOLDER, check_env_names, env_name
from tuner.trials.preloads import check_preloads

TRIAL_CWD_CHOICES = ("tune", "trial")


def check_script_command(
    template: CommandTemplate, parameters: Sequence[str], arguments: Mapping[str, Any]
) -> CommandTemplate:
    """``template``, once its script is found and the parameters' variable names are distinct; with
    ``trial_cwd="trial"`` in :func:`tuner.tune`'s ``arguments``, its paths made absolute."""
    check_env_names(parameters)
    if arguments.get("config") is None and not template.is_default:
        _warn_unplaced(template, parameters)
    script = _python_script(template.argv)
    if script is not None and not PLACEHOLDER.search(script) and not Path(script).is_file():
        raise OptionError(f"--command: script '{script}' not found (relative to {os.getcwd()})")
    return with_absolute_paths(template) if arguments.get("trial_cwd") == "trial" else template


class UnplacedParameterWarning(UserWarning):
    """A parameter of a study without a config that its ``--command`` holds no placeholder for."""


def _warn_unplaced(template: CommandTemplate, parameters: Sequence[str]) -> None:
    """One warning for the parameters a script's command never names: they reach it through the environment only."""
    missing = [name for name in parameters if PLACEHOLDER.fullmatch(f"{{{name}}}") and not template.uses(f"{{{name}}}")]
    if not missing:
        return
    if len(missing) == 1:
        what = f"parameter '{missing[0]}' has no {{{missing[0]}}} in --command: the script gets it only as "
        what += f"${env_name(missing[0])} and in $TUNER_PARAMS"
    else:
        shown = ", ".join(f"'{name}'" for name in missing[:5]) + (" ..." if len(missing) > 5 else "")
        what = f"{len(missing)} parameters ({shown}) have no placeholder in --command: the script gets them only "
        what += "as $TUNER_PARAM_<NAME> and in $TUNER_PARAMS"
    warnings.warn(what, UnplacedParameterWarning, stacklevel=3)


def script_launch_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``trial_cwd`` and ``preload`` of :func:`tuner.tune`'s ``arguments``, checked (TunePlan fields)."""
    trial_cwd = check_trial_cwd(arguments.get("trial_cwd", "tune"))
    preload = arguments.get("preload") or ()
    preload = (preload,) if isinstance(preload, str) else tuple(preload)
    return {"trial_cwd": trial_cwd, "preload": check_preloads(preload)}


def check_trial_cwd(trial_cwd: str) -> str:
    """``tune`` (trials run in tune's working directory) or ``trial`` (each in its own folder)."""
    if trial_cwd not in TRIAL_CWD_CHOICES:
        raise OptionError(f"trial_cwd must be one of {', '.join(TRIAL_CWD_CHOICES)}, got {trial_cwd!r}")
    return trial_cwd


def with_absolute_paths(template: CommandTemplate) -> CommandTemplate:
    """``template`` with each argument that names an existing file or folder here made absolute, so that a
    trial run in its own folder (``--trial-cwd trial``) finds ``train.py`` or ``data/`` where tune does."""
    return CommandTemplate(tuple(_absolute(argument) for argument in template.argv))


def _absolute(argument: str) -> str:
    if argument.startswith("-") or PLACEHOLDER.search(argument) or os.path.isabs(argument):
        return argument
    return os.path.abspath(argument) if os.path.exists(argument) else argument


def _python_script(argv: Sequence[str]) -> str | None:
    """The script of ``python [options] SCRIPT ...`` (None for ``-m``, ``-c`` or another program)."""
    if not _is_python(argv[0]):
        return None
    for argument in argv[1:]:
        if argument in ("-m", "-c", "-"):
            return None
        if not argument.startswith("-"):
            return argument
        if argument in ("-W", "-X"):  # options that take a value: not supported here, nothing checked
            return None
    return None


def _is_python(program: str) -> bool:
    if program == "{python}":
        return True
    name = os.path.basename(program)
    if not name.startswith("python"):
        return False
    found = shutil.which(program) if os.sep not in program else program
    return found is not None or program == sys.executable
