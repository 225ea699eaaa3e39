"""``python -m tuner.train`` as a real process: exit codes, --include-package, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.train.conftest import text_config

ROOT = Path(__file__).resolve().parents[2]

CUSTOM_MODEL = """
import torch
from tuner.train import MODELS


@MODELS.register("mean_of_embeddings")
def build(cfg, info):
    return MeanOfEmbeddings(info.vocab.size("tokens"), cfg.pop("dim", int, 8), info.num_labels)


class MeanOfEmbeddings(torch.nn.Module):
    def __init__(self, vocab_size, dim, num_labels):
        super().__init__()
        self.embedding = torch.nn.EmbeddingBag(vocab_size, dim, padding_idx=0)
        self.output = torch.nn.Linear(dim, num_labels)

    def forward(self, inputs):
        return self.output(self.embedding(inputs["tokens"]))

    def get_metrics(self, reset=False):
        return {}
"""


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TUNER_METRICS_FILE"}
    environ.update(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}", OMP_NUM_THREADS="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "tuner.train", *args],
        check=False,
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _jsonnet(tmp_path: Path, data: dict[str, str]) -> Path:
    config = text_config(data, num_epochs=2)
    config["trainer"]["optimizer"]["lr"] = "@LR@"
    text = json.dumps(config, indent=1).replace('"@LR@"', "std.parseJson(std.extVar('lr'))")
    path = tmp_path / "config.jsonnet"
    path.write_text(text)
    return path


def test_jsonnet_run_with_ext_vars_from_option_and_environment(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = _jsonnet(tmp_path, text_data)
    done = _run([str(config), "-s", str(tmp_path / "run")], tmp_path, lr="0.02")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["trainer"]["optimizer"]["lr"] == 0.02
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epoch"] == 1
    sink = tmp_path / "trial.jsonl"
    done = _run(
        [str(config), "-s", str(tmp_path / "run2"), "--ext-var", "lr=0.01"], tmp_path, TUNER_METRICS_FILE=str(sink)
    )
    assert done.returncode == 0, done.stderr
    assert len(sink.read_text().splitlines()) == 2


def test_bad_config_exits_2_with_one_line(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config(text_data)
    config["model"]["dropuot"] = 0.1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    done = _run([str(path), "-s", str(tmp_path / "run")], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown key 'model.dropuot' (did you mean 'dropout'?); allowed here: dropout, seq2vec_encoder, "
        + "text_field_embedder, type"
    ]


def test_include_package_registers_a_custom_model(tmp_path: Path, text_data: dict[str, str]) -> None:
    (tmp_path / "my_models.py").write_text(CUSTOM_MODEL)
    config = text_config(text_data, num_epochs=2)
    config["model"] = {"type": "mean_of_embeddings", "dim": 8}
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(config))
    done = _run([str(path), "-s", str(tmp_path / "run"), "--include-package", "my_models"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "metrics.json").exists()
    missing = _run([str(path), "-s", str(tmp_path / "run2")], tmp_path)
    assert missing.returncode == 2 and "unknown type 'mean_of_embeddings'" in missing.stderr


def test_sigterm_leaves_no_final_metrics(tmp_path: Path, text_data: dict[str, str]) -> None:
    config = text_config(text_data, num_epochs=100000)
    path = tmp_path / "long.json"
    path.write_text(json.dumps(config))
    run = tmp_path / "run"
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    environ.pop("TUNER_METRICS_FILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tuner.train", str(path), "-s", str(run)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        lines = run / "metrics.jsonl"
        while not (lines.exists() and lines.read_text().count("\n") >= 1) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a file written by another process; no event to await
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) != 0
    finally:
        process.kill()
        process.wait()
    assert lines.read_text().count("\n") >= 1
    assert not (run / "metrics.json").exists()
