"""SIGTERM (a scheduler preempting `tune`) and --grace: trainers get the grace to save a checkpoint, then SIGKILL."""

from __future__ import annotations

import json
import signal

from tests.faults.conftest import pid_alive, run_tune, tune_process
from tests.trials.test_resume import events, resumable, study_trials, trainer_pids, wait_for_event

__all__ = ["resumable"]  # the fixture, used by name


def test_sigterm_gives_trainers_the_grace_to_write_their_checkpoint_and_the_rerun_resumes_from_it(resumable, tmp_path):
    results = tmp_path / "results"
    # Saving takes longer than the 5 s that tune used to give.
    behaviour = {"hang_times": 1, "hang_after": 1, "on_sigterm": "checkpoint", "save_seconds": 6}
    args = resumable("--n-trials", "1", "--grace", "120", **behaviour)
    tune = tune_process(args, tmp_path)
    wait_for_event(results, "hanging after 1", 1, tune)
    checkpoint = results / "resumable" / "trial_0" / "checkpoint.json"
    checkpoint.unlink()  # so that only the SIGTERM handler can write it again
    tune.send_signal(signal.SIGTERM)
    output, _ = tune.communicate(timeout=180)

    assert tune.returncode == 130, output
    assert "Traceback" not in output
    assert events(results)[-2:] == ["sigterm", "checkpoint written"]
    assert json.loads(checkpoint.read_text()) == {"epoch": 1}
    assert study_trials()[0].user_attrs["reason"] == "interrupted"

    rerun = run_tune(args, tmp_path)

    assert rerun.returncode == 0, rerun.stdout
    assert "start resume=1 argv_resume=True from=2" in events(results)
    assert [t.state.name for t in study_trials()] == ["FAIL", "COMPLETE"]


def test_trainer_that_ignores_sigterm_is_killed_once_the_grace_is_over(resumable, tmp_path):
    results = tmp_path / "results"
    args = resumable("--n-trials", "1", "--grace", "2", hang_times=1, on_sigterm="ignore")
    tune = tune_process(args, tmp_path)
    wait_for_event(results, "hanging after 0", 1, tune)
    (trainer,) = trainer_pids(results)
    tune.send_signal(signal.SIGTERM)
    output, _ = tune.communicate(timeout=120)

    assert tune.returncode == 130, output
    assert "sigterm" in events(results)  # it got SIGTERM and went on: only SIGKILL ended it
    assert "checkpoint written" not in events(results)
    assert not pid_alive(trainer)
    assert study_trials()[0].user_attrs["reason"] == "interrupted"
