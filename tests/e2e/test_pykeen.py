"""The PyKEEN trainer adapter: real PyKEEN runs on Nations, through `python -m tuner.pykeen_trainer` and `tune`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "nations_transe.jsonnet"
SPACE = REPO / "search_spaces" / "nations_transe.json"
COMMAND = f"{sys.executable} -m tuner.pykeen_trainer {{config}} -s {{serialization_dir}}"
NEEDS_PYKEEN = "PyKEEN is an optional extra: pip install 'tuner[pykeen]'"
FIXED = {
    "embedding_dim": "32",
    "scoring_fct_norm": "1",
    "margin": "1.0",
    "lr": "0.01",
    "num_negs_per_pos": "4",
    "batch_size": "256",
}


def short_config(tmp_path: Path, epochs: int = 3) -> Path:
    """The repository's Nations config, trained for a few epochs with validation after each."""
    path = tmp_path / "nations_short.jsonnet"
    path.write_text(
        f"(import '{CONFIG}') + {{training_kwargs+: {{num_epochs: {epochs}}}, trainer+: {{eval_every: 1}}}}"
    )
    return path


def run_adapter(
    config: Path, out: Path, *, env: dict[str, str] | None = None, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    code = f"{prelude}import sys; from tuner.pykeen_trainer.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, str(config), "-s", str(out)]
    return subprocess.run(
        args, check=False, capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, **(env or {})}
    )


def test_missing_pykeen_is_one_line_naming_the_extra(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"dataset": "nations", "model": "TransE"}))

    result = run_adapter(config, tmp_path / "out", prelude="import sys; sys.modules['pykeen'] = None; ")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: PyKEEN is not installed; install it with: pip install 'tuner[pykeen]'"
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dataset": "nations", "modle": "TransE"}, "error: unknown key 'modle'. Did you mean 'model'?"),
        (
            {"dataset": "nations", "training_kwargs": {"num_epoch": 2}},
            "error: unknown key 'training_kwargs.num_epoch'. Did you mean 'num_epochs'?",
        ),
        (
            {"dataset": "nations", "model": "TransEE"},
            "error: model: unknown PyKEEN model 'TransEE'. Did you mean 'transe'?",
        ),
        (
            {"dataset": "nations", "trainer": {"validation_metric": "+mrrr"}},
            "error: trainer.validation_metric: RankBasedEvaluator has no metric 'mrrr'",
        ),
    ],
)
def test_config_mistake_is_one_line_naming_it(tmp_path, capsys, config, message):
    pytest.importorskip("pykeen", reason=NEEDS_PYKEEN)
    from tuner.pykeen_trainer.cli import main

    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))

    # In-process (PyKEEN is imported once for all cases); the subprocess tests cover the real entry point.
    assert main([str(path), "-s", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)


def test_adapter_writes_validation_metrics_per_epoch_and_final_metrics(tmp_path):
    pytest.importorskip("pykeen", reason=NEEDS_PYKEEN)
    out = tmp_path / "run"

    result = run_adapter(short_config(tmp_path), out, env=FIXED)

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert {line["last_epoch"] for line in lines} == {3}  # PyKEEN counts from 1: tune never prunes at epoch 3
    for line in lines:
        assert 0 < line["validation_mrr"] <= 1 and 0 <= line["validation_hits_at_10"] <= 1
    final = json.loads((out / "metrics.json").read_text())
    best = max(lines, key=lambda line: line["validation_mrr"])
    assert final["best_validation_mrr"] == best["validation_mrr"]
    assert final["best_epoch"] == best["epoch"]
    assert final["validation_mrr"] == lines[-1]["validation_mrr"]
    assert 0 < final["test_mrr"] <= 1
    assert json.loads((out / "config.json").read_text())["model"] == "TransE"


def test_tune_study_on_nations_is_judged_by_best_validation_mrr(tmp_path):
    pytest.importorskip("pykeen", reason=NEEDS_PYKEEN)
    import optuna
    import rich.console

    import tuner

    with open(tmp_path / "console.txt", "w") as sink:
        result = tuner.tune(
            config=short_config(tmp_path, epochs=2),
            search_space=SPACE,
            n_trials=2,
            seed=0,
            command=COMMAND,
            storage=f"sqlite:///{tmp_path / 'tune.db'}",
            serialization_dir=tmp_path / "results",
            console=rich.console.Console(file=sink),
        )

    assert result.objective.metric == "best_validation_mrr" and result.objective.direction == "maximize"
    trials = result.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2
    reported = {}
    for trial in trials:
        lines = (tmp_path / "results" / f"trial_{trial.number}" / "metrics.jsonl").read_text().splitlines()
        reported[trial.number] = max(json.loads(line)["validation_mrr"] for line in lines)
        assert trial.value == pytest.approx(reported[trial.number])
    assert result.best_value == pytest.approx(max(reported.values()))


# Instrument the real run so that the SIGKILL lands at a known point: the process marks the point and waits.
# After PyKEEN saved its checkpoint of epoch 2 (before epoch 3):
STOP_AFTER_CHECKPOINT_2 = """import pathlib, time
import pykeen.training.training_loop as _loop
_save_state = _loop.TrainingLoop._save_state
def _save_then_wait(self, path, *args, **kwargs):
    _save_state(self, path, *args, **kwargs)
    if self._epoch == 2:
        pathlib.Path(path).with_name('stopped').touch()
        time.sleep(600)
_loop.TrainingLoop._save_state = _save_then_wait
"""
# After epoch 3 was reported, before PyKEEN saved its checkpoint (the last one is still epoch 2's):
STOP_AFTER_REPORT_3 = """import os, pathlib, time
from tuner.pykeen_trainer import reporting as _reporting
_post_epoch = _reporting.ValidationReporter.post_epoch
def _report_then_wait(self, epoch, epoch_loss, **kwargs):
    _post_epoch(self, epoch, epoch_loss, **kwargs)
    if epoch == 3:
        pathlib.Path(os.environ['TUNER_METRICS_FILE']).with_name('stopped').touch()
        time.sleep(600)
_reporting.ValidationReporter.post_epoch = _report_then_wait
"""


def run_until_killed(config: Path, out: Path, metrics: Path, stop: str) -> None:
    """Run the adapter with the ``stop`` instrumentation and SIGKILL it where that says."""
    from tests.conftest import wait_for

    out.mkdir()
    env = {**os.environ, **FIXED, "TUNER_METRICS_FILE": str(metrics)}
    code = f"{stop}import sys; from tuner.pykeen_trainer.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(config), "-s", str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: (out / "stopped").exists(), "the point to kill it at", timeout=120, process=process)
    finally:
        process.kill()
        process.communicate()


def epoch_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("stop", "reported"),
    [(STOP_AFTER_CHECKPOINT_2, [1, 2]), (STOP_AFTER_REPORT_3, [1, 2, 3])],
    ids=["checkpoint", "report"],
)
def test_a_killed_run_resumes_after_its_last_checkpoint_as_if_never_interrupted(tmp_path, stop, reported):
    pytest.importorskip("pykeen", reason=NEEDS_PYKEEN)

    config, out = short_config(tmp_path, epochs=4), tmp_path / "interrupted"
    metrics = out / "metrics.jsonl"  # as `tune` passes it: TUNER_METRICS_FILE in the trial folder
    run_until_killed(config, out, metrics, stop)
    assert [line["epoch"] for line in epoch_lines(metrics)] == reported and not (out / "metrics.json").exists()

    resumed = run_adapter(config, out, env={**FIXED, "TUNER_METRICS_FILE": str(metrics), "TUNER_RESUME": "1"})
    uninterrupted = run_adapter(config, tmp_path / "whole", env=FIXED)

    assert resumed.returncode == 0 and uninterrupted.returncode == 0, resumed.stderr + uninterrupted.stderr
    # PyKEEN goes on from epoch 3; an epoch 3 reported before the kill is trained again but not reported again.
    assert f"resuming after epoch 2; epochs already reported: {reported}" in resumed.stderr
    lines = epoch_lines(metrics)
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4]
    # Same seed, and PyKEEN's checkpoint restores model, optimizer and every RNG: on CPU, the very same numbers.
    assert lines == epoch_lines(tmp_path / "whole" / "metrics.jsonl")
    final, whole = (json.loads((folder / "metrics.json").read_text()) for folder in (out, tmp_path / "whole"))
    for metrics_json in (final, whole):
        metrics_json.pop("training_duration_seconds")
    assert final == whole and final["training_epochs"] == 4
    assert json.loads((out / "tuner_files.json").read_text()) == {
        "weights": ["trained_model.pkl"],
        "checkpoints": ["checkpoint.pt"],
    }
    assert (out / "trained_model.pkl").is_file() and (out / "checkpoint.pt").is_file()


def test_a_fresh_launch_ignores_a_checkpoint_left_in_its_folder(tmp_path):
    pytest.importorskip("pykeen", reason=NEEDS_PYKEEN)
    config, out = short_config(tmp_path, epochs=2), tmp_path / "run"
    assert run_adapter(config, out, env=FIXED).returncode == 0
    first = epoch_lines(out / "metrics.jsonl")

    again = run_adapter(config, out, env=FIXED)  # no TUNER_RESUME: PyKEEN must not load the finished checkpoint

    assert again.returncode == 0, again.stderr
    assert epoch_lines(out / "metrics.jsonl") == first and [line["epoch"] for line in first] == [1, 2]


def _hpo_pipeline_distributions() -> dict:
    """What PyKEEN's hpo_pipeline suggests for TransE + margin loss + Adam + basic sampler + sLCWA, in its order."""
    pytest.importorskip("pykeen", reason=NEEDS_PYKEEN)
    import optuna
    from pykeen.hpo.hpo import suggest_kwargs
    from pykeen.losses import MarginRankingLoss
    from pykeen.models import TransE
    from pykeen.optimizers import optimizers_hpo_defaults
    from pykeen.sampling import BasicNegativeSampler
    from pykeen.training import SLCWATrainingLoop
    from torch.optim import Adam

    trial = optuna.create_study().ask()
    for prefix, ranges in [
        ("model", TransE.hpo_default),
        ("loss", MarginRankingLoss.hpo_default),
        ("optimizer", optimizers_hpo_defaults[Adam]),
        ("negative_sampler", BasicNegativeSampler.hpo_default),
        ("training", SLCWATrainingLoop.hpo_default),
    ]:
        suggest_kwargs(trial, prefix, ranges, {"num_epochs": 8} if prefix == "training" else None)  # epochs are fixed
    return trial.distributions


def _tune_distributions(space: object) -> dict:
    import optuna

    from tuner.space.parse import parse_search_space

    trial = optuna.create_study().ask()
    parse_search_space(space).suggest(trial)
    return trial.distributions


def test_hpo_pipeline_samples_the_adam_lr_uniformly():
    from optuna.distributions import FloatDistribution

    assert _hpo_pipeline_distributions()["optimizer.lr"] == FloatDistribution(0.001, 0.1, log=False)


def test_the_shipped_space_has_hpo_pipelines_ranges_but_a_log_lr():
    from optuna.distributions import FloatDistribution

    pykeen = {name.split(".")[1]: distribution for name, distribution in _hpo_pipeline_distributions().items()}
    ours = _tune_distributions(json.loads(SPACE.read_text()))

    assert ours.pop("lr") == FloatDistribution(0.001, 0.1, log=True)
    pykeen.pop("lr")
    assert ours == pykeen


def test_the_benchmarks_matched_space_is_the_one_hpo_pipeline_samples_in_its_order():
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark", REPO / "benchmarks" / "pykeen_vs_hpo_pipeline.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    pykeen = _hpo_pipeline_distributions()
    ours = _tune_distributions(benchmark.MATCHED_SPACE)

    assert list(ours.items()) == list(pykeen.items())
