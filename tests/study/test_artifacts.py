"""Each trial's config, log and (with --keep-checkpoints all) weights in Optuna's artifact store, as
optuna-dashboard lists them (its WSGI app, in-process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from tests.conftest import TRAINERS, invoke_tune

CONFIG = "{ x: std.parseJson(std.extVar('x')), epochs: 1, trainer: { validation_metric: '+accuracy' } }"


def _run(tmp_path: Path, keep: str) -> Path:
    (tmp_path / "art.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "categorical", "choices": [1, 2, 3]}}))
    command = f"{sys.executable} {TRAINERS / 'weights.py'} {{config}} {{serialization_dir}}"
    result = invoke_tune(
        "run", "art.jsonnet", "space.json", "--sampler", "grid", "--n-trials", "3", "--pruner", "none",
        "--command", command, "--keep-checkpoints", keep, "-s", "results",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / "results"


def _get(app: Any, path: str, query: str = "") -> tuple[str, bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda code, headers, exc_info=None: status.append(code)))
    return status[0], body


def _dashboard(results: Path) -> tuple[Any, int]:
    from optuna_dashboard import wsgi

    store = optuna.artifacts.FileSystemArtifactStore(results / "artifacts")
    app = wsgi(optuna.storages.RDBStorage("sqlite:///tune.db"), artifact_store=store)
    status, body = _get(app, "/api/studies")
    assert status.startswith("200"), body[:300]
    (study,) = [study for study in json.loads(body)["study_summaries"] if study["study_name"] == "art"]
    return app, study["study_id"]


def test_the_dashboard_lists_each_trials_config_log_and_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("optuna_dashboard")
    monkeypatch.chdir(tmp_path)
    results = _run(tmp_path, "all")
    app, study_id = _dashboard(results)
    status, body = _get(app, f"/api/studies/{study_id}", "after=0")
    assert status.startswith("200"), body[:300]
    trials = json.loads(body)["trials"]
    assert len(trials) == 3
    for trial in trials:
        names = sorted(artifact["filename"] for artifact in trial["artifacts"])
        assert names == ["config.json", "model.th", "out.log"]
        folder = results / f"trial_{trial['number']}"
        for artifact in trial["artifacts"]:
            path = f"/artifacts/{study_id}/{trial['trial_id']}/{artifact['artifact_id']}"
            status, content = _get(app, path)
            assert status.startswith("200")
            assert content == (folder / artifact["filename"]).read_bytes()


def test_weights_that_keep_checkpoints_may_delete_are_not_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _run(tmp_path, "best")
    storage = optuna.storages.RDBStorage("sqlite:///tune.db")
    study = optuna.load_study(study_name="art", storage=storage)
    for trial in study.get_trials():
        names = sorted(meta.filename for meta in optuna.artifacts.get_all_artifact_meta(trial, storage=storage))
        assert names == ["config.json", "out.log"]
    assert len(list((tmp_path / "results" / "artifacts").iterdir())) == 6  # and no weights in the store
