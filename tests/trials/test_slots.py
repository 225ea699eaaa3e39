"""Parallel slots: every running trial gets its own slot (and GPU), and slots really overlap."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tuner.errors import OptionError
from tuner.trials.slots import build_slots, cpu_thread_env, usable_cores

STORAGE = "sqlite:///tune.db"


def process_times(trial: optuna.trial.FrozenTrial) -> tuple[float, float]:
    """When the trial's process started and ended, by its own clock (tests/trainers/quadratic.py)."""
    times = json.loads((Path(trial.user_attrs["launch"]["directory"]) / "times.json").read_text())
    return times["start"], times["end"]


def max_concurrency(trials: list[optuna.trial.FrozenTrial]) -> int:
    """The most trial processes that ran at once."""
    events = sorted(
        [(process_times(trial)[0], 1) for trial in trials] + [(process_times(trial)[1], -1) for trial in trials],
        key=lambda event: (event[0], event[1]),  # an end and a start at the same instant do not overlap
    )
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def test_gpus_all_gives_each_running_trial_its_own_gpu(study_files, tune_cli, quadratic_command, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1,2,3")
    args = study_files(epochs=2, sleep=0.4, extra={"dump_env": True})
    result = tune_cli(*args, "--n-trials", "8", "--gpus", "all", "--pruner", "none", "--command", quadratic_command)

    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="quad", storage=STORAGE).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 8
    for trial in trials:
        seen = json.loads((tmp_path / "results" / "quad" / f"trial_{trial.number}" / "env.json").read_text())
        assert seen["CUDA_VISIBLE_DEVICES"] == trial.user_attrs["launch"]["gpu"]
    assert max_concurrency(trials) == 4
    # No two overlapping trials shared a GPU.
    for first in trials:
        for second in trials:
            (first_start, first_end), (second_start, second_end) = process_times(first), process_times(second)
            overlap = first_start < second_end and second_start < first_end
            if first.number < second.number and overlap:
                assert first.user_attrs["launch"]["gpu"] != second.user_attrs["launch"]["gpu"]


def test_n_jobs_runs_cpu_trials_at_the_same_time(study_files, tune_cli, quadratic_command):
    args = study_files(epochs=2, sleep=0.4, extra={"dump_env": True})
    result = tune_cli(*args, "--n-trials", "4", "--n-jobs", "2", "--pruner", "none", "--command", quadratic_command)

    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="quad", storage=STORAGE).trials
    assert max_concurrency(trials) == 2
    assert {trial.user_attrs["launch"]["slot"] for trial in trials} == {"job0", "job1"}


def test_trials_per_gpu_shares_a_gpu_between_slots(monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1")
    slots = build_slots(gpus="1", trials_per_gpu=3)
    assert [slot.label for slot in slots] == ["gpu1.0", "gpu1.1", "gpu1.2"]
    assert {slot.env["CUDA_VISIBLE_DEVICES"] for slot in slots} == {"1"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gpus": "7"}, "GPU 7, which does not exist (GPUs here: 0, 1)"),
        ({"gpus": "0,0"}, "lists a GPU twice"),
        ({"gpus": "first"}, "GPU indices"),
        ({"gpus": "0", "n_jobs": 2}, "--n-jobs is for CPU trials"),
        ({"trials_per_gpu": 2}, "--trials-per-gpu needs --gpus"),
        ({"n_jobs": 0}, "n_jobs must be at least 1"),
    ],
)
def test_bad_slot_options_are_refused(monkeypatch, options, message):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1")
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_slots(**options)


def test_gpus_all_without_gpus_is_refused(monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "")
    with pytest.raises(OptionError, match="no NVIDIA GPU found"):
        build_slots(gpus="all")


def test_bad_gpu_on_the_command_line_leaves_no_study(study_files, tune_cli, quadratic_command, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0")
    result = tune_cli(*study_files(), "--n-trials", "1", "--gpus", "3", "--command", quadratic_command)
    assert result.exit_code == 2
    assert "GPU 3, which does not exist" in result.output
    assert not Path(tmp_path / "tune.db").exists()


# A trainer module that says how many threads it was given.
THREADS_TRAINER = """
import json, os, sys
import torch

json.dump({"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
           "torch": torch.get_num_threads()}, open(os.path.join(sys.argv[2], "threads.json"), "w"))
from tuner import report
report(0, validation_accuracy=json.load(open(sys.argv[1]))["x"])
"""


def _threads_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tune_cli, *options: str) -> list[dict]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "threads_trainer.py").write_text(THREADS_TRAINER)
    (tmp_path / "c.jsonnet").write_text(
        "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    )
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))
    result = tune_cli("c.jsonnet", "space.json", "--module", "threads_trainer", "--n-trials", "2", *options)
    assert result.exit_code == 0, result.output
    return [json.loads(path.read_text()) for path in sorted((tmp_path / "results" / "c").glob("trial_*/threads.json"))]


@pytest.mark.parametrize("launch", ["warm", "plain"])
def test_n_jobs_gives_each_trial_its_share_of_the_cores(tmp_path, monkeypatch, tune_cli, launch):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    share = max(1, usable_cores() // 2)

    seen = _threads_seen(tmp_path, monkeypatch, tune_cli, "--n-jobs", "2", "--launch", launch)

    assert seen == [{"OMP_NUM_THREADS": str(share), "MKL_NUM_THREADS": str(share), "torch": share}] * 2


def test_a_thread_count_the_user_set_is_kept(tmp_path, monkeypatch, tune_cli):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)

    seen = _threads_seen(tmp_path, monkeypatch, tune_cli, "--n-jobs", "2")

    assert [(trial["OMP_NUM_THREADS"], trial["torch"]) for trial in seen] == [("3", 3)] * 2
    assert {trial["MKL_NUM_THREADS"] for trial in seen} == {str(max(1, usable_cores() // 2))}


@pytest.mark.parametrize(("slots", "cores", "share"), [(2, 16, "8"), (3, 8, "2"), (4, 2, "1")])
def test_the_cores_are_shared_out_between_cpu_slots(slots, cores, share):
    assert cpu_thread_env(slots, {}, cores=cores) == {"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share}


def test_one_cpu_slot_and_gpu_slots_leave_the_thread_count_alone(monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0")
    assert build_slots(n_jobs=1, environ={})[0].env == {}
    assert "OMP_NUM_THREADS" not in build_slots(gpus="0", trials_per_gpu=2, environ={})[0].env
