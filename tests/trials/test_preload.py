"""Warm launch: ``--preload MODULE`` is imported once before forking; frameworks a trainer imports are
preloaded by themselves; a trial's own ``atexit`` handlers run, the worker's do not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import invoke_tune
from tuner.trials.preloads import framework_preloads

# A dependency that records every process that imports it, and registers an exit handler as it does.
DEPENDENCY = """
import atexit, os
from pathlib import Path

LOG = Path(__file__).with_name("events.log")
with open(LOG, "a") as log:
    log.write(f"imported {os.getpid()}\\n")
atexit.register(lambda: open(LOG, "a").write(f"inherited-handler {os.getpid()}\\n"))
"""
TRAINER = """
import argparse, atexit, os
import slowdep
from tuner import report

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args = parser.parse_args()
atexit.register(lambda: open(slowdep.LOG, "a").write(f"trial-handler {os.getpid()}\\n"))
report(0, last_epoch=0, score=args.x)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slowdep.py").write_text(DEPENDENCY)
    (tmp_path / "deptrain.py").write_text(TRAINER)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0}}))
    return tmp_path


def run_study(*extra: str) -> tuple[list[int], list[tuple[str, int]]]:
    result = invoke_tune(
        "space.json", "--module", "deptrain --x {x}", "--n-trials", "3", "--metric", "score", "--direction", "maximize",
        *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="space", storage="sqlite:///tune.db").trials
    events = [(line.split()[0], int(line.split()[1])) for line in Path("events.log").read_text().splitlines()]
    return [trial.user_attrs["launch"]["pid"] for trial in trials], events


def test_preloaded_module_is_imported_once_before_the_trials_fork(project):
    trial_pids, events = run_study("--preload", "slowdep")

    importers = [pid for event, pid in events if event == "imported"]
    assert len(importers) == 1
    assert importers[0] not in trial_pids  # the zygote imported it; every trial found it imported


def test_without_preload_every_trial_imports_it(project):
    trial_pids, events = run_study()

    assert sorted(pid for event, pid in events if event == "imported") == sorted(trial_pids)


def test_trials_run_their_own_exit_handlers_and_not_the_workers(project):
    trial_pids, events = run_study("--preload", "slowdep")

    assert sorted(pid for event, pid in events if event == "trial-handler") == sorted(trial_pids)
    assert not {pid for event, pid in events if event == "inherited-handler"} & set(trial_pids)


def test_a_preload_that_is_not_installed_is_refused(project):
    result = invoke_tune(
        "space.json", "--module", "deptrain --x {x}", "--metric", "score", "--direction", "maximize",
        "--preload", "no_such_mod",
    )  # fmt: skip

    assert result.exit_code == 2
    assert "--preload no_such_mod: no module 'no_such_mod'" in result.output
    assert not (project / "tune.db").exists()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import lightning as L\n", ("lightning.pytorch",)),
        ("from lightning.pytorch import Trainer\n", ("lightning.pytorch",)),
        ("from tuner.integrations import lightning\n", ("lightning.pytorch",)),
        ("import pytorch_lightning\n", ("pytorch_lightning",)),
        ("import json\nimport torch\n", ()),
    ],
)
def test_a_trainer_that_imports_a_framework_preloads_it(tmp_path, monkeypatch, source, expected):
    pytest.importorskip("lightning")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fwtrain.py").write_text(source)

    assert framework_preloads("fwtrain") == expected


def test_a_trainer_that_imports_transformers_preloads_it(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hftrain.py").write_text("from transformers import Trainer\n")

    assert framework_preloads("hftrain") == ("transformers", "transformers.trainer")
    assert sys.modules.get("hftrain") is None  # read, never imported
