"""The read-only commands print and write byte for byte the same whether a study is read by the fast
SQLite reader or through Optuna (``TUNER_READ_WITH_OPTUNA=1``), on a study made by `tune`.

The study has what users send these commands: every kind of parameter (float, log float, int with a
step, bool, categorical of mixed types, a conditional parameter), complete, pruned and failed trials,
a running and a queued one, and a curve with NaN and infinities added through Optuna.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tests.conftest import TRAINERS, invoke_tune
from tuner.cli import common
from tuner.cli import main as tune_main
from tuner.study.sqlite_reader import ENV_READ_WITH_OPTUNA, StoredStudy

CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  lr: std.parseJson(std.extVar('lr')),
  units: std.parseInt(std.extVar('units')),
  flag: std.parseJson(std.extVar('flag')),
  act: std.extVar('act'),
  mix: std.extVar('mix'),
  slope: std.parseJson(std.extVar('slope')),
  epochs: 3,
  sleep: 0,
  fail_at_epoch: if self.x > 5.0 then 1 else null,
  trainer: { validation_metric: '+accuracy' },
}
"""
SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 6.0},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "units": {"type": "int", "low": 8, "high": 64, "step": 8},
    "flag": {"type": "bool"},
    "act": {"type": "categorical", "choices": ["relu", "tanh"]},
    "mix": {"type": "categorical", "choices": [1, 2.5, True, None, "s"]},
    "slope": {"type": "float", "low": 0.0, "high": 0.3, "condition": {"act": "relu"}, "default": 0.1},
}
READ_WITHOUT_OPTUNA = common._read_without_optuna
COMMANDS = [
    ["show-trials"],
    ["show-trials", "--format", "csv"],
    ["show-trials", "--format", "json"],
    ["show-trials", "--top", "3"],
    ["show-trials", "--sort", "value", "--reverse", "--format", "csv"],
    ["show-trials", "--sort", "duration"],
    ["show-trials", "--state", "fail", "--state", "running", "--format", "json"],
    ["show-trials", "--param", "l*", "--param", "mix"],
    ["dump-best", "-o", "best.json"],
    ["export", "--no-plots", "-o", "exported"],
    ["export", "--no-plots", "--csv", "-o", "exported_csv"],
    ["show-trials", "--trial", "999"],
    ["show-trials", "--study-name", "nope"],
    ["show-trials", "--param", "zzz"],
]


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fast_read")
    (folder / "c.jsonnet").write_text(CONFIG)
    (folder / "space.json").write_text(json.dumps(SPACE))
    command = f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        result = invoke_tune("c.jsonnet", "space.json", "--n-trials", "14", "--seed", "4", "--command", command)
        assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="c", storage=f"sqlite:///{folder / 'tune.db'}")
    curve = {0: 0.5, 1: math.nan, 2: math.inf, 3: -math.inf}
    params, distributions = study.trials[0].params, study.trials[0].distributions
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED,
            params=params,
            distributions=distributions,
            intermediate_values=curve,
            user_attrs={"pruned_epoch": 3, "note": {"nested": [1, None, "ü"]}},
        )
    )
    study.ask()  # running
    study.enqueue_trial({"x": 1.5, "act": "tanh"})  # waiting
    states = {trial.state.name for trial in study.trials}
    assert states == {"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"}, states
    return folder


def run(folder: Path, argv: list[str], *, with_optuna: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Exit code, stdout, stderr and every file the command wrote, and how the study was read."""
    out = folder / ("optuna" if with_optuna else "fast")
    out.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    read: list[type] = []

    def spy(*args):
        study = READ_WITHOUT_OPTUNA(*args)
        read.append(type(study))
        return study

    monkeypatch.setattr(common, "_read_without_optuna", spy)
    argv = [part if part not in ("best.json", "exported", "exported_csv") else str(out / part) for part in argv]
    env = {ENV_READ_WITH_OPTUNA: "1" if with_optuna else None, "COLUMNS": "250"}
    result = CliRunner().invoke(tune_main, argv, env=env, catch_exceptions=False)
    files = {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    stdout = result.stdout.replace(str(out), "OUT")
    stderr = result.stderr.replace(str(out), "OUT")
    return (result.exit_code, stdout, stderr, files), read


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_fast_and_optuna_reads_give_the_same_bytes(study_folder, argv, monkeypatch):
    fast, read_fast = run(study_folder, argv, with_optuna=False, monkeypatch=monkeypatch)
    slow, read_slow = run(study_folder, argv, with_optuna=True, monkeypatch=monkeypatch)
    # Each way was the one taken; a study not in the file is Optuna's way to report ("did you mean").
    assert read_fast == [type(None) if "nope" in argv else StoredStudy] and read_slow == [type(None)]
    assert fast == slow
    failing = "999" in argv or "nope" in argv or "zzz" in argv
    assert fast[0] == (2 if failing else 0), fast
    assert (fast[2] if failing else fast[1] + fast[2]).strip()  # an error line, or the output


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_each_trial_in_full_is_the_same_either_way(study_folder, fmt, monkeypatch):
    trials = optuna.load_study(study_name="c", storage=f"sqlite:///{study_folder / 'tune.db'}").trials
    for trial in trials:
        argv = ["show-trials", "--trial", str(trial.number), "--format", fmt]
        fast, _ = run(study_folder, argv, with_optuna=False, monkeypatch=monkeypatch)
        slow, _ = run(study_folder, argv, with_optuna=True, monkeypatch=monkeypatch)
        assert fast == slow, trial.number


def test_dump_best_of_each_complete_and_unfinished_trial_is_the_same_either_way(study_folder, monkeypatch):
    trials = optuna.load_study(study_name="c", storage=f"sqlite:///{study_folder / 'tune.db'}").trials
    answers = set()
    for trial in trials:
        argv = ["dump-best", "--trial", str(trial.number), "-o", "best.json"]
        fast, _ = run(study_folder, argv, with_optuna=False, monkeypatch=monkeypatch)
        slow, _ = run(study_folder, argv, with_optuna=True, monkeypatch=monkeypatch)
        assert fast == slow, trial.number
        answers.add(fast[0])
    assert answers == {0, 2}  # configs of complete trials; one error line for the others
