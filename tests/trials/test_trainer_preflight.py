"""Pre-flight with the built-in trainer: its own config check at the corners, before any trial; data fetched once."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.train.conftest import write_text_split

LR_SPACE = {"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}


def digits_config(**trainer: Any) -> str:
    """A one-epoch digits config (scikit-learn's bundled data, no download) with extra trainer keys."""
    settings = {"num_epochs": 1, "validation_metric": "+accuracy", "num_threads": 1, **trainer}
    return f"""{{
  dataset_reader: {{type: 'sklearn', dataset: 'digits'}},
  train_data_path: 'train', validation_data_path: 'validation',
  model: {{type: 'cnn', channels: [2, 4], hidden_dim: 8}},
  trainer: {json.dumps(settings)} + {{optimizer: {{type: 'adam', lr: std.parseJson(std.extVar('lr'))}}}},
}}"""


def text_config(train: str, validation: str) -> str:
    """A one-epoch text classification config reading ``train`` and ``validation``."""
    return f"""{{
  dataset_reader: {{type: 'text_classification_json'}},
  train_data_path: {json.dumps(train)}, validation_data_path: {json.dumps(validation)},
  model: {{type: 'basic_classifier', text_field_embedder: {{token_embedders: {{tokens: {{embedding_dim: 4}}}}}},
           seq2vec_encoder: {{type: 'boe', embedding_dim: 4}}}},
  trainer: {{num_epochs: 1, validation_metric: '+accuracy', num_threads: 1,
             optimizer: {{type: 'adam', lr: std.parseJson(std.extVar('lr'))}}}},
}}"""


@pytest.fixture
def run_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tune_cli) -> Callable[..., Any]:
    """Write ``config`` and the lr space into tmp_path (the working directory) and run `tune` on them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "space.json").write_text(json.dumps(LR_SPACE))

    def run(config: str, *options: str) -> Any:
        (tmp_path / "study.jsonnet").write_text(config)
        return tune_cli("study.jsonnet", "space.json", "--pruner", "none", "--seed", "0", *options)

    return run


def stored_trials() -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="study", storage="sqlite:///tune.db").trials


def no_study_was_created(tmp_path: Path) -> bool:
    return not (tmp_path / "tune.db").exists() or not optuna.get_all_study_names("sqlite:///tune.db")


def test_a_cuda_device_no_trial_can_see_is_one_error_before_any_trial(run_study, tmp_path):
    result = run_study(digits_config(cuda_device=7), "--n-trials", "3")

    assert result.exit_code == 2, result.output
    assert "Error: trainer.cuda_device: GPU 7 requested but" in result.output
    assert "use -1 for CPU or null for automatic [pre-flight check by the built-in trainer" in result.output
    assert no_study_was_created(tmp_path)


def test_an_unknown_trainer_key_is_caught_by_pre_flight_with_a_did_you_mean(run_study, tmp_path):
    result = run_study(digits_config(num_epoch=2), "--n-trials", "3")

    assert result.exit_code == 2, result.output
    assert "unknown key 'trainer.num_epoch' (did you mean 'num_epochs'?)" in result.output
    assert no_study_was_created(tmp_path)


def test_a_missing_data_path_is_caught_by_pre_flight(run_study, tmp_path):
    result = run_study(text_config(str(tmp_path / "missing.jsonl"), "file:///nowhere/dev.jsonl"), "--n-trials", "3")

    assert result.exit_code == 2, result.output
    assert f"train_data_path: file not found: {tmp_path / 'missing.jsonl'}" in result.output
    assert no_study_was_created(tmp_path)


def test_an_unreachable_dataset_url_is_one_error_before_any_trial(run_study, tmp_path):
    train = write_text_split(tmp_path / "train.jsonl", 40, 1)
    result = run_study(text_config(str(train), "http://127.0.0.1:9/dev.jsonl"), "--n-trials", "3")

    assert result.exit_code == 2, result.output
    assert "validation_data_path: cannot download http://127.0.0.1:9/dev.jsonl" in result.output
    assert no_study_was_created(tmp_path)


@pytest.fixture
def data_server(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """A local HTTP server over tmp_path/served; yields its URL and the paths requested, with when."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[tuple[str, float]] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self) -> None:
            requests.append((self.path, time.time()))
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_remote_data_is_downloaded_once_by_pre_flight_not_by_every_trial(run_study, data_server, tmp_path):
    url, requests = data_server
    write_text_split(tmp_path / "served" / "train.jsonl", 60, 1)
    write_text_split(tmp_path / "served" / "dev.jsonl", 30, 2)
    result = run_study(text_config(f"{url}/train.jsonl", f"{url}/dev.jsonl"), "--n-trials", "3")

    assert result.exit_code == 0, result.output
    assert [trial.state.name for trial in stored_trials()] == ["COMPLETE"] * 3
    assert sorted(path for path, _ in requests) == ["/dev.jsonl", "/train.jsonl"]
    first_launch = min(trial.user_attrs["launch"]["started"] for trial in stored_trials())
    assert max(when for _, when in requests) < first_launch  # fetched by pre-flight, before trial 0 started


def test_the_tutorials_optuna_pruner_callback_runs_with_a_note_that_it_is_not_needed(run_study):
    result = run_study(digits_config(callbacks=[{"type": "optuna_pruner"}]), "--n-trials", "1")

    assert result.exit_code == 0, result.output
    assert (
        "note: trainer.callbacks: 'optuna_pruner' is not needed and is ignored: tune prunes trials by itself"
        in result.output
    )
    assert result.output.count("note: trainer.callbacks") == 1
    assert [trial.state.name for trial in stored_trials()] == ["COMPLETE"]


def test_another_callback_type_is_refused_by_pre_flight_naming_the_one_accepted(run_study, tmp_path):
    result = run_study(digits_config(callbacks=[{"type": "tensorboard"}]), "--n-trials", "1")

    assert result.exit_code == 2, result.output
    assert "trainer.callbacks[0]: unknown type 'tensorboard'. Available: optuna_pruner" in result.output
    assert no_study_was_created(tmp_path)
