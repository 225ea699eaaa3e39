"""``--trial-cwd``: trials run in tune's working directory (the default) or each in its own folder.

A framework that writes to a default relative folder (Lightning's ``./lightning_logs``) then keeps
each trial's files in that trial's folder, warm and plain launch alike.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import invoke_tune

# Writes to a relative folder as Lightning does (./lightning_logs/version_N), and says where it ran.
SCRIPT = """
import argparse, json, os
from tuner import report

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args = parser.parse_args()
os.makedirs("framework_logs", exist_ok=True)
version = len(os.listdir("framework_logs"))
with open(os.path.join("framework_logs", f"version_{version}.json"), "w") as handle:
    json.dump({"x": args.x, "cwd": os.getcwd()}, handle)
report(0, last_epoch=0, score=args.x)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flagtrain.py").write_text(SCRIPT)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0}}))
    return tmp_path


def tune(*args: str):
    return invoke_tune("space.json", *args, "--n-trials", "3", "--metric", "score", "--direction", "maximize")


@pytest.mark.parametrize(
    "how",
    [["--command", f"{sys.executable} flagtrain.py --x {{x}}"], ["--module", "flagtrain --x {x}"]],
    ids=["plain script", "warm module"],
)
def test_trial_cwd_trial_keeps_each_trials_relative_files_in_its_folder(project, how):
    result = tune(*how, "--trial-cwd", "trial")

    assert result.exit_code == 0, result.output
    assert not (project / "framework_logs").exists()
    for trial in optuna.load_study(study_name="space", storage="sqlite:///tune.db").trials:
        folder = project / "results" / "space" / f"trial_{trial.number}"
        written = json.loads((folder / "framework_logs" / "version_0.json").read_text())
        assert written == {"x": trial.params["x"], "cwd": str(folder)}


def test_by_default_trials_run_in_tunes_working_directory(project):
    result = tune("--command", f"{sys.executable} flagtrain.py --x {{x}}")

    assert result.exit_code == 0, result.output
    versions = sorted((project / "framework_logs").iterdir())
    assert [path.name for path in versions] == ["version_0.json", "version_1.json", "version_2.json"]
    assert {json.loads(path.read_text())["cwd"] for path in versions} == {str(project)}
