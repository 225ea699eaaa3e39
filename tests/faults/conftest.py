"""Fault-suite helpers: a study of the faulty trainer, `tune` as a real process, the pids it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.conftest import TRAINERS, WAIT_SECONDS, wait_for

STORAGE = "sqlite:///tune.db"
STUDY = "faulty"
REPO = TRAINERS.parent.parent
FAULTY_CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  trainer: { validation_metric: '+accuracy' },
} + std.parseJson(std.extVar('behaviour'))
"""
SCRIPT_COMMAND = f"{sys.executable} {TRAINERS / 'faulty.py'} {{config}} {{serialization_dir}}"


@pytest.fixture
def faulty_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """Write the faulty trainer's config and space into tmp_path (the working directory); return tune arguments.

    ``warm=True`` runs the trainer as ``--module faulty`` (forked by a warm worker), else as a script.
    """
    monkeypatch.chdir(tmp_path)
    return write_faulty_study(tmp_path)


def write_faulty_study(folder: Path) -> Callable[..., list[str]]:
    """Write the faulty trainer's config and space into ``folder``; return what makes tune arguments."""
    (folder / "faulty.jsonnet").write_text(FAULTY_CONFIG)
    (folder / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0}}))

    def make(*, warm: bool = False, **behaviour: Any) -> list[str]:
        launch = ["--module", "faulty"] if warm else ["--command", SCRIPT_COMMAND]
        if warm:  # the worker imports the module from tune's working directory
            (folder / "faulty.py").write_text((TRAINERS / "faulty.py").read_text())
        return [
            "faulty.jsonnet",
            "space.json",
            "--pruner",
            "none",
            "--seed",
            "0",
            "--ext-var",
            f"behaviour={json.dumps(behaviour)}",
            *launch,
        ]

    return make


def tune_process(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """`tune` as its own process (for signals), with the repository importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "tuner", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_tune(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    process = tune_process(args, cwd)
    output, _ = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def load_trials() -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY, storage=STORAGE).trials


def states(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    return [trial.state.name for trial in trials]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def recorded_pids(results: Path) -> set[int]:
    """Every pid the faulty trainers, their parents and their grandchildren wrote under ``results``.

    A trainer's parent is `tune` or its warm worker; the test process itself (tune in-process) is left out.
    """
    pids = set()
    for path in results.glob("**/trial_*/pids/*"):
        if path.name.isdigit():
            pids.add(int(path.name))
            pids.update(int(word) for word in path.read_text().split() if word.isdigit())
    return pids - {os.getpid()}


def processes_in_environment(results: Path) -> set[int]:
    """Live processes of the whole process table whose environment names a trial folder under ``results``."""
    marker = f"TUNER_SERIALIZATION_DIR={results.resolve()}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and any(
                v.startswith(marker) for v in (entry / "environ").read_bytes().split(b"\0")
            ):
                found.add(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return {pid for pid in found if pid_alive(pid)}


def live_pids(results: Path, settle: float = 10) -> set[int]:
    """Processes of the run still alive: those whose pids the trainers recorded, and any process whose environment
    names a trial folder.

    Waits up to ``settle`` seconds for the set to empty (the kernel delivering pending kills), so a passing check
    returns as soon as the last one is gone; on a deadline it returns the survivors for the assertion to show.
    """
    deadline = time.monotonic() + settle
    while True:
        alive = {pid for pid in recorded_pids(results) if pid_alive(pid)} | processes_in_environment(results)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def wait_for_pid_files(results: Path, count: int, timeout: float = WAIT_SECONDS) -> None:
    """Wait until the trainers and grandchildren of the run wrote ``count`` pid files, contents included."""

    def written() -> bool:  # each writer ends its file with a newline
        return sum(1 for path in results.glob("**/trial_*/pids/*") if _text(path).endswith("\n")) >= count

    wait_for(written, f"{count} pid files under {results}", timeout=timeout)


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


@pytest.fixture(autouse=True)
def no_process_survives(tmp_path: Path):
    """Whatever a test asserts, kill what a failing test would leave behind."""
    yield
    for pid in recorded_pids(tmp_path / "results"):
        if pid_alive(pid) and _is_ours(pid):
            os.kill(pid, signal.SIGKILL)


def _is_ours(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return b"faulty" in command or b"sleep" in command or b"tuner.trials.worker" in command
