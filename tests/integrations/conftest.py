"""Real Lightning and Hugging Face trainers under `tune`: skipped, with a message, without the extras."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from tests.conftest import invoke_tune
from tests.faults.conftest import live_pids, recorded_pids

TRAINERS = Path(__file__).parent / "trainers"
CONFIG = "{lr: std.parseJson(std.extVar('lr')), epochs: 3, report: std.extVar('report')}"
# One Hyperband bracket whose only rung is epoch 1: a trial is pruned there unless it is the best so far.
HYPERBAND = [
    "--pruner",
    "hyperband",
    "--pruner-kwargs",
    '{"min_resource": 1, "max_resource": 3, "reduction_factor": 4}',
]
# With --sampler random --seed 9 the three trials take the choices in the order good, good, bad: the bad
# one starts when a good one has ended, so it is compared with it at epoch 1 and pruned.
SEEDED = ["--sampler", "random", "--seed", "9", "--n-trials", "3", "--n-jobs", "2"]


def requires(module: str) -> None:
    """Skip the calling test module when ``module`` (a framework) is not installed."""
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'tuner[{module}]')")


@pytest.fixture
def framework_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., optuna.Study]:
    """Run `tune` on a trainer of tests/integrations/trainers with lr choices (bad first) and return the study."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "framework.jsonnet").write_text(CONFIG)

    def run(trainer: str, choices: list[float], report: str, *options: str) -> optuna.Study:
        (tmp_path / "space.json").write_text(json.dumps({"lr": {"type": "categorical", "choices": choices}}))
        command = f"{sys.executable} {TRAINERS / trainer} {{config}} {{serialization_dir}}"
        args = ["framework.jsonnet", "space.json", "--ext-var", f"report={report}", "--command", command]
        result = invoke_tune(*args, *SEEDED, *HYPERBAND, *options)
        assert result.exit_code == 0, result.output
        assert "warning" not in result.output.lower(), result.output
        return optuna.load_study(study_name="framework", storage="sqlite:///tune.db")

    return run


def trial_folder(number: int) -> Path:
    return Path("results") / "framework" / f"trial_{number}"


def epoch_lines(number: int) -> list[dict]:
    text = (trial_folder(number) / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def assert_ran_as_planned(study: optuna.Study, bad_lr: float) -> None:
    """Once per epoch, the bad trial pruned at epoch 1 with its workers, the best config the best trial's."""
    trials = study.trials
    pruned = [trial for trial in trials if trial.state.name == "PRUNED"]
    assert [trial.params["lr"] for trial in pruned if trial.params["lr"] == bad_lr] == [bad_lr]
    for trial in trials:
        epochs = [line["epoch"] for line in epoch_lines(trial.number)]
        if trial.state.name == "COMPLETE":
            assert epochs == [0, 1, 2] and sorted(trial.intermediate_values) == [0, 1, 2]
        else:  # ended at its report of epoch 1 (the line of epoch 2 may have been written meanwhile)
            assert epochs[:2] == [0, 1] and sorted(trial.intermediate_values) == [0, 1]
            assert trial.user_attrs["pruned_epoch"] == 1
    workers = recorded_pids(Path("results"))
    assert len(workers) >= 3 * len(trials)  # the trainer and its two DataLoader workers, at least
    assert live_pids(Path("results")) == set()
    best = json.loads((Path("results") / "framework" / "best_config.json").read_text())
    assert best == json.loads((trial_folder(study.best_trial.number) / "config.json").read_text())
