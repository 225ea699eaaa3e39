"""Pre-flight for the built-in trainer: its own config check on the configs rendered at the corners.

A ``cuda_device`` that no trial can see, an unknown key or an unreachable dataset would
otherwise fail every trial the same way. The check runs once, as a trial would (the first
slot's environment, so ``CUDA_VISIBLE_DEVICES`` is the trials'), through
``python -m tuner.train.check``; it also downloads remote data into the cache trials read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.config.preflight import PreparedConfig
from tuner.config.snapshot import ext_var_string
from tuner.errors import ConfigError
from tuner.trials.launch import CommandTemplate
from tuner.trials.warm import split_python_module

BUILTIN_TRAINER_MODULE = "tuner.train"
CHECK_MODULE = "tuner.train.check"


def builtin_trainer_packages(template: CommandTemplate) -> list[str] | None:
    """The ``--include-package`` modules when ``template`` runs the built-in trainer, else None."""
    probe = template.render(config=Path("config.json"), serialization_dir=Path("."), trial_number=0)
    module = split_python_module(probe)
    if module is None or module[0] != BUILTIN_TRAINER_MODULE:
        return None
    args = module[1]
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--include-package"]


def check_with_builtin_trainer(
    prepared: PreparedConfig, template: CommandTemplate, env: Mapping[str, str]
) -> list[str]:
    """Run the built-in trainer's config check on the corner renders; return its notes.

    Does nothing (returns no notes) when the trials run another trainer.

    Raises:
        ConfigError: A corner config fails the check; the message is the trainer's, with the values.
    """
    packages = builtin_trainer_packages(template)
    if packages is None:
        return []
    corners = _distinct(list(prepared.corners))
    with tempfile.TemporaryDirectory(prefix="tune-check-") as folder:
        paths = []
        for index, (_, config) in enumerate(corners):
            paths.append(Path(folder) / f"corner_{index}.json")
            paths[-1].write_text(json.dumps(config), encoding="utf-8")
        argv = [sys.executable, "-m", CHECK_MODULE, *map(str, paths)]
        argv += [part for package in packages for part in ("--include-package", package)]
        finished = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False)
    answer = _answer(finished)
    if "error" in answer:
        params = corners[answer.get("index", 0)][0]
        values = ", ".join(f"{name}={ext_var_string(value)}" for name, value in params.items())
        raise ConfigError(f"{answer['error']} [pre-flight check by the built-in trainer, config rendered at: {values}]")
    return list(answer.get("notes", []))


def _distinct(corners: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The corners whose configs differ (many parameters never change what the trainer checks)."""
    seen: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for params, config in corners:
        seen.setdefault(json.dumps(config, sort_keys=True), (params, config))
    return list(seen.values())


def _answer(finished: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = finished.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        stderr = [line for line in finished.stderr.splitlines() if line.strip()]
        last = stderr[-1].strip() if stderr else f"exit status {finished.returncode}"
        raise ConfigError(f"the built-in trainer's config check failed: {last}")
    return answer
