"""Real torchrun trials on the CPU (gloo, 2 ranks, a DataLoader worker each): they report once per epoch, and
pruning, --trial-timeout, Ctrl-C and SIGKILL of tune leave no process at all.

torchrun starts each rank in a session of its own (``start_new_session=True`` in torch's elastic
SubprocessHandler), so the ranks are not in the trial's process group: tune ends them by the trial
token in their environment, and when tune itself is killed its reaper does (tuner/trials/reaper.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import TRAINERS, invoke_tune, wait_for
from tests.faults.conftest import live_pids, pid_alive, recorded_pids, tune_process, wait_for_pid_files

pytest.importorskip("torch.distributed")

STORAGE = "sqlite:///tune.db"
DDP_TRAINER = TRAINERS / "ddp_trainer.py"
TORCHRUN_ARGS = "--standalone --nproc-per-node 2"
CONFIG = """
{
  x: std.parseJson(std.extVar('x')),
  trainer: { validation_metric: '+accuracy' },
} + std.parseJson(std.extVar('behaviour'))
"""
RANKS_AND_WORKERS = 4  # pid files: 2 ranks (each naming the agent as its parent) and their DataLoader workers


@pytest.fixture
def ddp_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """tune arguments for the DDP trainer under torchrun, run from tmp_path; whatever is left is killed after."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ddp.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 6.0}}))

    def make(*, program: str = f"{{python}} -m torch.distributed.run {TORCHRUN_ARGS}", **behaviour) -> list[str]:
        command = f"{program} {DDP_TRAINER} {{config}} {{serialization_dir}}"
        return ["ddp.jsonnet", "space.json", "--ext-var", f"behaviour={json.dumps(behaviour)}", "--command", command]

    yield make
    for pid in recorded_pids(tmp_path / "results"):
        if pid_alive(pid) and b"ddp_trainer" in _cmdline(pid) + _cmdline_of_parent(pid):
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cmdline_of_parent(pid: int) -> bytes:
    try:
        return _cmdline(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
    except (OSError, ValueError):
        return b""


def trials() -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="ddp", storage=STORAGE).trials


@pytest.mark.parametrize(
    "launch", ["warm", "plain", "torchrun"], ids=["python -m, warm", "python -m, plain", "torchrun program"]
)
def test_a_torchrun_trial_completes_and_reports_once_per_epoch(ddp_study, tmp_path, launch):
    program = f"{Path(sys.executable).parent / 'torchrun'} {TORCHRUN_ARGS}"
    args = ddp_study(epochs=3, **({"program": program} if launch == "torchrun" else {}))
    options = ["--launch", "plain"] if launch == "plain" else []
    result = invoke_tune(*args, "--n-trials", "1", "--pruner", "none", *options)

    assert result.exit_code == 0, result.output
    (trial,) = trials()
    assert trial.state.name == "COMPLETE"
    assert sorted(trial.intermediate_values) == [0, 1, 2]  # one report per epoch although both ranks call report
    lines = (tmp_path / "results" / "ddp" / "trial_0" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["world_size"] for line in lines] == [2, 2, 2]
    assert live_pids(tmp_path / "results") == set()


def test_a_pruned_torchrun_trial_leaves_no_process(ddp_study, tmp_path):
    # Every value is below the threshold: pruned at its first report, while epoch 1 hangs.
    args = ddp_study(epochs=3, hang=True)
    result = invoke_tune(*args, "--n-trials", "1", "--pruner", "threshold", "--pruner-kwargs", '{"lower": 10}')

    assert result.exit_code == 0, result.output
    assert [trial.state.name for trial in trials()] == ["PRUNED"]
    assert len(recorded_pids(tmp_path / "results")) >= RANKS_AND_WORKERS
    assert live_pids(tmp_path / "results") == set()


def test_a_timed_out_torchrun_trial_leaves_no_process(ddp_study, tmp_path):
    args = ddp_study(epochs=3, hang=True)
    result = invoke_tune(*args, "--n-trials", "1", "--pruner", "none", "--trial-timeout", "30")

    assert result.exit_code == 1, result.output  # its only trial failed
    (trial,) = trials()
    assert trial.state.name == "FAIL" and "timed out after 30 s" in result.output
    assert len(recorded_pids(tmp_path / "results")) >= RANKS_AND_WORKERS  # the ranks had started: ended, not spared
    assert live_pids(tmp_path / "results") == set()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["Ctrl-C", "SIGKILL"])
def test_tune_stopped_mid_trial_leaves_no_process(ddp_study, tmp_path, signum):
    tune = tune_process(["run", *ddp_study(epochs=3, hang=True), "--n-trials", "1", "--pruner", "none"], tmp_path)
    try:
        wait_for_pid_files(tmp_path / "results", RANKS_AND_WORKERS)
        metrics = tmp_path / "results" / "ddp" / "trial_0" / "metrics.jsonl"
        wait_for(lambda: metrics.exists() and metrics.read_text().endswith("\n"), "epoch 0 reported", process=tune)
        tune.send_signal(signum)
        tune.wait(timeout=120)
    finally:
        tune.kill()
    assert tune.returncode == (130 if signum == signal.SIGINT else -signal.SIGKILL)
    assert live_pids(tmp_path / "results") == set()
