"""--keep-checkpoints: which trials keep their declared weights, best_model/ next to best_config.json, and locks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import TRAINERS, invoke_tune
from tuner.study.checkpoints import BestModel, CheckpointKeeper, reading_trial_files

CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  epochs: 2,
  check_best: true,
  trainer: { validation_metric: '+accuracy' },
}
"""
VALUES = list(range(8))


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: str, values: list[int] = VALUES) -> Path:
    """A grid study over x in ``values`` (value = x, so the best are the largest); the results folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "categorical", "choices": values}}))
    command = f"{sys.executable} {TRAINERS / 'weights.py'} {{config}} {{serialization_dir}}"
    result = invoke_tune(
        "run", "weights.jsonnet", "space.json", "--sampler", "grid", "--seed", "3", "--pruner", "none",
        "--n-trials", str(len(values)), "--command", command, "--keep-checkpoints", keep, "-s", "results",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Its weights: {Path('results') / 'best_model'}/" in result.output
    return tmp_path / "results"


def _folders(results: Path) -> dict[int, Path]:
    """Each trial folder by the x it ran with."""
    folders = {}
    for folder in results.glob("trial_*"):
        folders[int(json.loads((folder / "config.json").read_text())["x"])] = folder
    return folders


def test_top_2_keeps_exactly_the_weights_of_the_best_two_and_never_deletes_the_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _run(tmp_path, monkeypatch, "top-2")
    folders = _folders(results)
    assert sorted(folders) == VALUES
    kept = sorted(x for x, folder in folders.items() if (folder / "model.th").exists())
    assert kept == [6, 7]
    assert not any((folder / "checkpoint.pt").exists() for folder in folders.values())  # finished: no resume
    assert all((folder / "notes.txt").exists() for folder in folders.values())  # undeclared: never deleted
    assert all((folder / "config.json").exists() and (folder / "out.log").exists() for folder in folders.values())
    # Every trial checked, before it trained, that the best so far still had its weights.
    checks = (results / "best_checks.txt").read_text().splitlines()
    assert len(checks) == len(VALUES) - 1
    assert not [line for line in checks if line.endswith("MISSING")]
    assert (results / "best_model" / "model.th").read_text() == "weights of x=7.0\n"
    assert json.loads((results / "best_config.json").read_text())["x"] == 7


def test_none_keeps_only_the_copy_next_to_best_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _run(tmp_path, monkeypatch, "none", values=[0, 1, 2, 3])
    assert not list(results.glob("trial_*/model.th"))
    assert not list(results.glob("trial_*/checkpoint.pt"))
    assert (results / "best_model" / "model.th").read_text() == "weights of x=3.0\n"


def test_all_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _run(tmp_path, monkeypatch, "all", values=[0, 1, 2])
    assert len(list(results.glob("trial_*/model.th"))) == 3
    assert len(list(results.glob("trial_*/checkpoint.pt"))) == 3
    best = _folders(results)[2] / "model.th"
    assert (results / "best_model" / "model.th").stat().st_ino == best.stat().st_ino  # a hard link: no extra disk


def test_a_folder_another_process_reads_is_left_until_it_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _run(tmp_path, monkeypatch, "all", values=[0, 1, 2])
    folders = _folders(results)
    study = optuna.load_study(study_name="weights", storage="sqlite:///tune.db")
    keeper = CheckpointKeeper(study, 1, BestModel(results))
    with reading_trial_files(folders[0]):  # as `flock -s results/trial_N ...` would
        keeper.sweep()
        assert (folders[0] / "model.th").exists()
        assert not (folders[1] / "model.th").exists()
    keeper.sweep()
    assert not (folders[0] / "model.th").exists()
    assert (folders[2] / "model.th").exists()


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke_tune("run", "a.jsonnet", "b.json", "--keep-checkpoints", "top-0")
    assert result.exit_code == 2
    assert "--keep-checkpoints" in result.output and "top-K" in result.output
