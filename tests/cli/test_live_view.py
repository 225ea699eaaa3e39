"""The live view of `tune`: each running trial with its slot, epoch, latest value and elapsed time; an ETA; the best."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import tuner

# Trial 0 reports 0.5 and ends at once; every other trial reports epochs 0 and 1, then waits for
# the release file.
TRAINER = """
import json, os, sys, time
config = json.load(open(sys.argv[1]))
metrics = os.environ["TUNER_METRICS_FILE"]
def report(epoch, value):
    with open(metrics, "a") as handle:
        handle.write(json.dumps({"epoch": epoch, "validation_accuracy": value}) + "\\n")
if os.environ["TUNER_TRIAL_NUMBER"] == "0":
    report(0, 0.5)
    best = 0.5
else:
    report(0, 0.125)
    report(1, 0.25)
    while not os.path.exists(config["release"]):
        time.sleep(0.05)
    best = 0.25
json.dump({"best_validation_accuracy": best}, open(os.path.join(sys.argv[2], "metrics.json"), "w"))
"""
CONFIG = (
    "{x: std.parseJson(std.extVar('x')), release: std.extVar('release'), trainer: {validation_metric: '+accuracy'}}"
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WAIT_SECONDS = 120


class LiveStudy:
    """Runs ``tuner.tune`` in a thread with a terminal-like console whose output the test reads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.release = folder / "release"
        (folder / "trainer.py").write_text(TRAINER)
        (folder / "config.jsonnet").write_text(CONFIG)
        (folder / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0}}))
        self.buffer = io.StringIO()

    def text(self) -> str:
        return ANSI.sub("", self.buffer.getvalue()).replace("\r", "\n")

    def tune(self, n_trials: int) -> threading.Thread:
        console = Console(file=self.buffer, force_terminal=True, width=150, color_system=None)
        arguments: dict[str, Any] = {
            "config": str(self.folder / "config.jsonnet"),
            "search_space": str(self.folder / "space.json"),
            "n_trials": n_trials,
            "command": f"{sys.executable} {self.folder / 'trainer.py'} {{config}} {{serialization_dir}}",
            "ext_vars": {"release": str(self.release)},
            "storage": f"sqlite:///{self.folder / 'tune.db'}",
            "serialization_dir": str(self.folder / "results"),
            "console": console,
        }
        thread = threading.Thread(target=tuner.tune, kwargs=arguments, daemon=True)
        thread.start()
        return thread

    def wait_for(self, seen: Callable[[str], bool]) -> str:
        """The output once ``seen`` holds for it (polled: the live view is redrawn by rich's own thread)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            text = self.text()
            if seen(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"not seen within {WAIT_SECONDS} s:\n{self.text()[-3000:]}")

    def finish(self, thread: threading.Thread) -> None:
        self.release.touch()
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LiveStudy:
    monkeypatch.chdir(tmp_path)
    return LiveStudy(tmp_path)


def running_row(number: int, epoch: int, value: str) -> re.Pattern[str]:
    return re.compile(rf"trial {number}\s+job0\s+{epoch}\s+{re.escape(value)}\s+\d+:\d\d:\d\d")


def test_live_view_shows_the_running_trial_with_slot_epoch_latest_value_and_elapsed(live):
    thread = live.tune(n_trials=2)
    try:
        text = live.wait_for(lambda text: running_row(1, 1, "0.25").search(text) is not None)
        assert re.search(r"running\s+slot\s+epoch\s+latest\s+elapsed", text)
        assert "trial 1 " not in text.split("trial 0    0.5")[0]  # trial 1 showed only once it ran
    finally:
        live.finish(thread)


def test_live_view_gives_an_eta_from_the_trial_rate_with_n_trials(live):
    thread = live.tune(n_trials=3)
    try:
        text = live.wait_for(lambda text: running_row(1, 1, "0.25").search(text) is not None and "ETA" in text)
        progress = [line for line in text.splitlines() if "ETA" in line]
        assert all(re.search(r"1/3 .*ETA \d+:\d\d:\d\d", line) for line in progress)  # only after a trial finished
    finally:
        live.finish(thread)


def test_resumed_study_shows_its_best_before_any_new_trial_finishes(live):
    first = live.tune(n_trials=1)
    live.finish(first)
    live.buffer = io.StringIO()
    live.release.unlink()
    thread = live.tune(n_trials=2)
    try:
        text = live.wait_for(lambda text: running_row(1, 1, "0.25").search(text) is not None)
        assert "best 0.5 (trial 0)" in text
        assert "none yet" not in text
    finally:
        live.finish(thread)
