"""Finding a trial's processes that left its process group: the PID window and the group skip."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tuner.contract import ENV_TRIAL_TOKEN
from tuner.trials import descendants
from tuner.trials.descendants import PidWindow, end_marked_processes, marked_processes, new_trial_token

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def marked_sleeper(token: str) -> subprocess.Popen[bytes]:
    """A process that carries ``token`` in its environment, in a session of its own (as an escapee)."""
    env = {**os.environ, ENV_TRIAL_TOKEN: token}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], env=env, start_new_session=True)


def test_a_process_started_after_the_window_opened_is_found_through_it():
    token = new_trial_token()
    window = PidWindow()
    escapee = marked_sleeper(token)
    try:
        assert window.pids() is not None  # the kernel tells the last id here
        assert marked_processes(token, window=window) == [escapee.pid]
        end_marked_processes(token, window=window)
        assert escapee.wait(timeout=30) == -9
    finally:
        escapee.kill()


def test_a_window_too_wide_to_walk_reads_the_whole_process_table(monkeypatch):
    token = new_trial_token()
    window = PidWindow()
    escapee = marked_sleeper(token)
    try:
        monkeypatch.setattr(window, "_first", escapee.pid - descendants.MAX_WINDOW - 10)  # as if hours ago
        assert window.pids() is None
        assert marked_processes(token, window=window) == [escapee.pid]
    finally:
        escapee.kill()
        escapee.wait()


def test_processes_in_the_trials_own_group_are_left_to_the_group_kill():
    token = new_trial_token()
    window = PidWindow()
    leader = marked_sleeper(token)
    try:
        assert marked_processes(token, group=leader.pid, window=window) == []
        assert marked_processes(token, group=leader.pid + 1, window=window) == [leader.pid]
    finally:
        leader.kill()
        leader.wait()
