"""The configs in configs/ render and pass every check that needs no data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuner.train.pipeline import RunPlan, train
from tuner.train.render import render_config_file

ROOT = Path(__file__).resolve().parents[2]


def _values(space: str) -> dict[str, str]:
    """A value from the middle of each range of an allennlp-optuna search space."""
    values = {}
    for entry in json.loads((ROOT / "search_spaces" / space).read_text()):
        attributes = entry["attributes"]
        if entry["type"] == "categorical":
            value = attributes["choices"][0]
        else:
            value = (attributes["low"] + attributes["high"]) / 2
            value = int(value) if entry["type"] == "int" else value
        values[attributes["name"]] = value if isinstance(value, str) else json.dumps(value)
    return values


@pytest.mark.parametrize("name,space", [("imdb", "imdb.json"), ("digits", "digits.json")])
def test_baseline_and_optuna_configs_render_and_validate(name: str, space: str) -> None:
    baseline = render_config_file(ROOT / "configs" / f"{name}_baseline.jsonnet", environ={})
    tuned = render_config_file(ROOT / "configs" / f"{name}_optuna.jsonnet", _values(space), environ={})
    for config in (baseline, tuned):
        RunPlan.from_config(config)
        assert config["trainer"]["validation_metric"] == "+accuracy"
    assert set(baseline) == set(tuned)


def test_imdb_port_keeps_the_seeds_data_and_values() -> None:
    config = render_config_file(ROOT / "configs" / "imdb_baseline.jsonnet", environ={})
    assert config["train_data_path"] == "https://s3-us-west-2.amazonaws.com/allennlp/datasets/imdb/train.jsonl"
    assert config["model"]["seq2vec_encoder"]["ngram_filter_sizes"] == [2, 3, 4]
    assert config["trainer"]["optimizer"] == {"lr": 0.1, "type": "sgd"}


def test_digits_baseline_runs_offline(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    config = render_config_file(ROOT / "configs" / "digits_baseline.jsonnet", environ={})
    config["trainer"]["num_epochs"] = 2
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert metrics["epoch"] == 1
