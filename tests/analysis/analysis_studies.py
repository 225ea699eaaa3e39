"""Small studies made in-process, with the attributes `tune` stores, for the analysis commands' tests."""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tuner.config.snapshot import ConfigSnapshot

CONFIG = (
    "{x: std.parseJson(std.extVar('x')), y: std.parseJson(std.extVar('y')), units: std.parseInt(std.extVar('units')), "
    "act: std.extVar('act'), fixed: std.extVar('fixed')}"
)
DISTRIBUTIONS = {
    "x": FloatDistribution(0.0, 1.0),
    "y": FloatDistribution(1e-4, 1e-1, log=True),
    "units": IntDistribution(8, 64),
    "act": CategoricalDistribution(["relu", "tanh"]),
}
START = datetime.datetime(2025, 1, 1, 12, 0, 0)


def make_study(
    storage: str | None, folder: Path, *, n_complete: int = 16, n_pruned: int = 3, n_failed: int = 1, name: str = "demo"
) -> optuna.Study:
    """A maximised study whose value is ``10 x`` plus noise: ``x`` dominates every importance.

    ``storage`` None keeps it in memory. Trials alternate between slots ``gpu 0`` and ``gpu 1``; each has
    three epochs of intermediate values (pruned ones stop after one) and a folder under ``folder``.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    snapshot = ConfigSnapshot("demo.jsonnet", {"demo.jsonnet": CONFIG}, {"fixed": "yes"})
    study.set_user_attr("metric", "best_validation_accuracy")
    study.set_user_attr("search_space", {"x": {"type": "float", "low": 0.0, "high": 1.0}})
    study.set_user_attr("config_path", snapshot.entry)
    study.set_user_attr(f"config_snapshot:{snapshot.key}", snapshot.to_dict())
    rng = random.Random(1)
    states = ["COMPLETE"] * n_complete + ["PRUNED"] * n_pruned + ["FAIL"] * n_failed
    rng.shuffle(states)
    trials = [_trial(number, state, rng, folder, snapshot.key) for number, state in enumerate(states)]
    study.add_trials(trials)
    return study


def _trial(number: int, state: str, rng: random.Random, folder: Path, snapshot_key: str) -> optuna.trial.FrozenTrial:
    params = {
        "x": rng.random(),
        "y": 10 ** rng.uniform(-4, -1),
        "units": rng.randint(8, 64),
        "act": rng.choice(["relu", "tanh"]),
    }
    value = 10 * params["x"] + rng.gauss(0, 0.01)
    epochs = 1 if state == "PRUNED" else 3
    curve = {epoch: value * (epoch + 1) / 3 for epoch in range(epochs)} if state != "FAIL" else {}
    directory = folder / f"trial_{number}"
    _write_folder(directory, curve)
    attrs = {
        "launch": {
            "config_snapshot": snapshot_key,
            "directory": str(directory),
            "slot": f"gpu {number % 2}",
            "pid": 1000 + number,
            "host": "box",
        }
    }
    if state == "PRUNED":
        attrs["pruned_epoch"] = 0
    if state == "FAIL":
        attrs.update(reason="out of memory", log_tail="CUDA error: out of memory")
    trial = optuna.trial.create_trial(
        params=params,
        distributions=DISTRIBUTIONS,
        value=value if state == "COMPLETE" else None,
        intermediate_values=curve,
        user_attrs=attrs,
        state=getattr(optuna.trial.TrialState, state),
    )
    trial.datetime_start = START + datetime.timedelta(seconds=10 * (number // 2))
    trial.datetime_complete = trial.datetime_start + datetime.timedelta(seconds=9.5 if state != "PRUNED" else 3)
    return trial


def _write_folder(directory: Path, curve: dict[int, float]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"epoch": epoch, "validation_accuracy": value, "validation_loss": 1 - value})
        for epoch, value in curve.items()
    ]
    (directory / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    if len(curve) == 3:
        (directory / "metrics.json").write_text(
            json.dumps({"best_validation_accuracy": max(curve.values()), "training_seconds": 9.5})
        )
    (directory / "out.log").write_text("training...\n")
    (directory / "config.json").write_text("{}")
