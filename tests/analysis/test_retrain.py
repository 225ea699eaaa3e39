"""`tune retrain` and `tune compare`: real runs of a small trainer whose metric is seed / 100."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from tuner.analysis.retrain import compare, retrain, with_seed
from tuner.errors import ConfigError, OptionError

TRAINER = Path(__file__).resolve().parents[1] / "trainers" / "seeded.py"
COMMAND = f"{sys.executable} {TRAINER} {{config}} {{serialization_dir}}"
CONFIG = {"random_seed": 42, "numpy_seed": 42, "offset": 0.5, "trainer": {"validation_metric": "+accuracy"}}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "best_config.json"
    path.write_text(json.dumps({**CONFIG, "count_file": str(tmp_path / "runs.txt")}))
    return path


def runs_started(tmp_path: Path) -> list[int]:
    path = tmp_path / "runs.txt"
    return sorted(int(line) for line in path.read_text().split()) if path.exists() else []


def test_retrain_reports_mean_and_sample_std_over_real_runs(config, tmp_path):
    result = retrain(config=config, seeds=5, serialization_dir="runs", command=COMMAND, n_jobs=2)

    expected = [0.5, 0.51, 0.52, 0.53, 0.54]
    assert result.values == pytest.approx(expected)
    assert result.mean == pytest.approx(statistics.fmean(expected))
    assert result.std == pytest.approx(statistics.stdev(expected))
    assert result.summary() == "0.520 ± 0.016"
    assert json.loads((tmp_path / "runs" / "seed_3" / "config.json").read_text())["random_seed"] == 3


def test_seed_keys_present_are_overridden_else_all_three_are_set():
    assert with_seed({"random_seed": 1, "numpy_seed": 1, "lr": 0.1}, 7) == {
        "random_seed": 7,
        "numpy_seed": 7,
        "lr": 0.1,
    }
    assert with_seed({"lr": 0.1}, 7) == {"lr": 0.1, "random_seed": 7, "numpy_seed": 7, "pytorch_seed": 7}


def test_rerunning_trains_only_what_is_missing(config, tmp_path):
    retrain(config=config, seeds=2, serialization_dir="runs", command=COMMAND)
    result = retrain(config=config, seeds=3, serialization_dir="runs", command=COMMAND)

    assert runs_started(tmp_path) == [0, 1, 2]
    assert [run.reused for run in sorted(result.runs, key=lambda run: run.seed)] == [True, True, False]
    assert result.values == pytest.approx([0.5, 0.51, 0.52])


def test_metric_from_epoch_lines_is_stored_so_a_rerun_skips_it(config, tmp_path):
    config.write_text(json.dumps({**json.loads(config.read_text()), "no_final": True}))
    first = retrain(config=config, seeds=1, serialization_dir="runs", command=COMMAND)
    again = retrain(config=config, seeds=1, serialization_dir="runs", command=COMMAND)

    assert first.values == again.values == pytest.approx([0.5])
    assert json.loads((tmp_path / "runs" / "seed_0" / "metrics.json").read_text()) == {"best_validation_accuracy": 0.5}
    assert runs_started(tmp_path) == [0]


def test_default_folder_follows_the_config_content(config, tmp_path):
    first = retrain(config=config, seeds=1, command=COMMAND)
    config.write_text(json.dumps({**json.loads(config.read_text()), "offset": 0.25}))
    second = retrain(config=config, seeds=1, command=COMMAND)

    assert first.directory.parent == second.directory.parent == Path("results") / "retrain"
    assert first.directory != second.directory
    assert second.values == pytest.approx([0.25])


def test_a_failed_seed_is_reported_and_left_out_of_the_mean(config):
    config.write_text(json.dumps({**json.loads(config.read_text()), "fail_seed": 1}))
    result = retrain(config=config, seeds=3, serialization_dir="runs", command=COMMAND)

    assert result.values == pytest.approx([0.5, 0.52])
    (failed,) = result.failed
    assert failed.seed == 1 and failed.reason.startswith("crashed (exit code 3)")


def test_jsonnet_config_is_rendered_with_ext_vars(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.jsonnet").write_text(
        "{random_seed: 1, offset: std.parseJson(std.extVar('offset')), trainer: {validation_metric: '+accuracy'}}"
    )
    result = retrain(config="base.jsonnet", seeds=2, command=COMMAND, ext_vars={"offset": "0.1"})
    assert result.values == pytest.approx([0.1, 0.11])
    with pytest.raises(ConfigError, match="ext var 'offset'"):
        retrain(config="base.jsonnet", seeds=1, command=COMMAND)


def test_compare_retrains_both_with_the_same_seeds(config, tmp_path):
    (tmp_path / "baseline.json").write_text(json.dumps({**CONFIG, "offset": 0.25}))
    baseline, tuned = compare(
        baseline="baseline.json", tuned=config, seeds=3, serialization_dir="cmp", command=COMMAND, n_jobs=2
    )

    assert baseline.values == pytest.approx([0.25, 0.26, 0.27])
    assert tuned.values == pytest.approx([0.5, 0.51, 0.52])
    assert (baseline.directory, tuned.directory) == (Path("cmp") / "baseline", Path("cmp") / "tuned")


def test_compare_refuses_configs_judged_by_different_metrics(config, tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({**CONFIG, "trainer": {"validation_metric": "-loss"}}))
    with pytest.raises(OptionError, match="judged by different metrics"):
        compare(baseline="other.json", tuned=config, seeds=1, command=COMMAND)
    assert runs_started(tmp_path) == []


def test_compare_command_prints_the_side_by_side_table(config, tmp_path, tune_cli):
    (tmp_path / "baseline.json").write_text(json.dumps({**CONFIG, "offset": 0.25}))
    result = tune_cli("compare", "baseline.json", str(config), "--seeds", "2", "--command", COMMAND)

    assert result.exit_code == 0, result.output
    assert "best_validation_accuracy over seeds" in result.output
    footer = next(line for line in result.output.splitlines() if "mean ± std" in line)
    assert "0.255 ± 0.007" in footer and "0.505 ± 0.007" in footer
    assert "tuned seed 1: 0.51" in result.output


def test_retrain_command_exits_1_when_a_seed_failed(config, tune_cli):
    config.write_text(json.dumps({**json.loads(config.read_text()), "fail_seed": 0}))
    result = tune_cli("retrain", str(config), "--seeds", "2", "--command", COMMAND)
    assert result.exit_code == 1
    assert "seed 0: failed: crashed (exit code 3)" in result.output
    assert "0.510" in result.output
