"""`tune --terminator` runs: the Terminator's thread ends with the run, and its fits' warnings stay off the console."""

from __future__ import annotations

import json
import signal
import sys
import threading

import pytest

import tuner
from tests.conftest import QUADRATIC_CONFIG, TRAINERS
from tests.faults.conftest import run_tune, tune_process, write_faulty_study
from tuner.trials.terminator import THREAD_NAME

STORAGE = "sqlite:///tune.db"
QUADRATIC = f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 6.0}}
FIXED = {"epochs": "1", "sleep": "0", "extra": "{}"}
# Objective values near the largest float: the Gaussian-process fits overflow, and Optuna warns of each.
HUGE_SPACE = {"x": {"type": "float", "low": 1e307, "high": 1.7e308}}


@pytest.fixture
def quadratic_run(tmp_path):
    """``quadratic_run(n_trials)``: `tune run --terminator` arguments for the quadratic trainer in tmp_path."""
    (tmp_path / "quad.jsonnet").write_text(QUADRATIC_CONFIG)
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    ext_vars = [option for name, value in FIXED.items() for option in ("--ext-var", f"{name}={value}")]

    def arguments(n_trials: int) -> list[str]:
        return [
            *("run", "quad.jsonnet", "space.json", *ext_vars, "--command", QUADRATIC, "--storage", STORAGE),
            *("--pruner", "none", "--seed", "0", "--terminator", "--n-trials", str(n_trials)),
        ]

    return arguments


def assert_ended_cleanly(output: str) -> None:
    assert "terminate called" not in output, output
    assert "Traceback" not in output, output


def test_a_run_ending_during_a_judgement_exits_with_its_normal_status(quadratic_run, tmp_path):
    # The 45th trial's judgement (a Gaussian-process fit) starts as the run reaches its trial count.
    result = run_tune(quadratic_run(45), tmp_path)
    assert result.returncode == 0, result.stdout
    assert_ended_cleanly(result.stdout)
    assert "the study has its 45 trials" in result.stdout or "Stopped: --terminator" in result.stdout


def test_ctrl_c_during_a_judgement_exits_as_an_interrupt(quadratic_run, tmp_path):
    tune = tune_process(quadratic_run(100), tmp_path)
    assert tune.stdout is not None
    for line in tune.stdout:  # the line of a trial comes after its judgement was asked for
        if line.startswith("trial 44 "):
            break
    tune.send_signal(signal.SIGINT)
    output, _ = tune.communicate(timeout=120)
    assert tune.returncode == 130, output
    assert_ended_cleanly(output)
    assert "Stopped: interrupted" in output


def test_the_terminator_thread_is_gone_when_tune_returns(quadratic_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The 30th trial's judgement is the longest: the regret bound and the 20 fits of the error it is compared to.
    tuner.tune(
        config="quad.jsonnet",
        search_space="space.json",
        ext_vars=FIXED,
        command=QUADRATIC,
        storage=STORAGE,
        pruner="none",
        seed=0,
        warm_launch=False,
        n_trials=30,
        terminator=True,
    )
    assert THREAD_NAME not in [thread.name for thread in threading.enumerate()]


def test_the_gaussian_process_warnings_stay_off_the_console(tmp_path):
    args = write_faulty_study(tmp_path)()
    (tmp_path / "space.json").write_text(json.dumps(HUGE_SPACE))
    args = [*args, "--storage", STORAGE, "--sampler", "random"]
    assert run_tune([*args, "--n-trials", "30"], tmp_path).returncode == 0
    # Resumed with 30 complete trials, the run waits for the Terminator's first judgement: 21 fits that warn.
    result = run_tune([*args, "--n-trials", "31", "--terminator"], tmp_path)
    assert result.returncode == 0, result.stdout
    assert "the study has its 31 trials" in result.stdout, result.stdout
    assert "kernel parameters" not in result.stdout
    assert "Warning" not in result.stdout and "[W " not in result.stdout
