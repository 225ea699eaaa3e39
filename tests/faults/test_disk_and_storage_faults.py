"""A full disk or a deleted database stops `tune` with one line; no trial is left running, the next run resumes."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest

from tests.conftest import TRAINERS
from tests.faults.conftest import live_pids, load_trials, run_tune, tune_process, wait_for_pid_files
from tuner.errors import StudyError
from tuner.study.storage import watch_storage_file

BAD_OUTPUT_COMMAND = f"{sys.executable} {TRAINERS / 'bad_output.py'} {{config}} {{serialization_dir}}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a tmpfs of the given size under tmp_path (needs root); skip where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` with one file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as error:
            if error.errno != errno.ENOSPC:  # only a full disk is what the test needs
                raise
    return filler


def one_error_line(output: str) -> str:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    return errors[0]


def test_deleted_database_stops_the_run_with_one_line_and_ends_the_running_trial(faulty_study, tmp_path):
    process = tune_process([*faulty_study(sleep=3600), "--n-trials", "3"], tmp_path)
    wait_for_pid_files(tmp_path / "results", 1)
    for name in ("tune.db", "tune.db-wal", "tune.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)

    output, _ = process.communicate(timeout=120)

    assert process.returncode == 2, output
    assert one_error_line(output).startswith("Error: the study's storage tune.db was deleted while tune ran")
    assert "complete" not in output.split("Error: ")[1]  # no "Finished: ... 3 complete" after it
    assert live_pids(tmp_path / "results") == set()
    assert not (tmp_path / "tune.db").exists()  # no empty database made in its place


def test_full_disk_under_the_trial_folders_stops_with_one_line_and_the_next_run_resumes(
    faulty_study, small_disk, tmp_path
):
    disk = small_disk("200k")
    (disk / "results").mkdir()
    arguments = [*faulty_study(), "-s", str(disk / "results")]
    assert run_tune([*arguments, "--n-trials", "1"], tmp_path).returncode == 0  # the folder is the study's now
    filler = fill(disk)

    full = run_tune([*arguments, "--n-trials", "3"], tmp_path)

    assert full.returncode == 2, full.stdout
    line = one_error_line(full.stdout)
    assert "cannot write trial 1's folder" in line and "No space left on device" in line
    assert [(t.state.name, t.user_attrs.get("reason")) for t in load_trials()] == [
        ("COMPLETE", None),
        ("FAIL", "not run: its trial folder could not be written"),
        ("WAITING", None),  # its parameters, queued again
    ]

    filler.unlink()
    resumed = run_tune([*arguments, "--n-trials", "3"], tmp_path)

    assert resumed.returncode == 0, resumed.stdout
    _, not_run, first, second = load_trials()
    assert (first.state.name, second.state.name) == ("COMPLETE", "COMPLETE")
    assert first.params == not_run.params  # the trial that could not be written runs first


def test_full_disk_under_the_database_stops_with_one_line_and_the_next_run_recovers(faulty_study, small_disk, tmp_path):
    disk = small_disk("4m")
    storage = f"sqlite:///{disk / 'tune.db'}"
    arguments = faulty_study(faults={"0": "fill"}, fill=str(disk / "filler"))
    command = arguments.index("--command")
    arguments[command + 1] = BAD_OUTPUT_COMMAND
    arguments += ["--n-trials", "2", "--storage", storage]

    full = run_tune(arguments, tmp_path)

    assert full.returncode == 2, full.stdout
    line = one_error_line(full.stdout)
    assert line.startswith(f"Error: storage {storage} failed: database or disk is full"), line
    assert live_pids(tmp_path / "results") == set()

    (disk / "filler").unlink()
    resumed = run_tune(arguments, tmp_path)

    assert resumed.returncode == 0, resumed.stdout
    trials = optuna.load_study(study_name="faulty", storage=storage).trials
    assert "RUNNING" not in [trial.state.name for trial in trials]
    assert [trial.state.name for trial in trials].count("COMPLETE") == 2


def test_database_replaced_by_another_file_is_noticed(tmp_path):
    (tmp_path / "tune.db").write_bytes(b"the study")
    watch = watch_storage_file(f"sqlite:///{tmp_path / 'tune.db'}")
    watch.check()  # unchanged: nothing to say
    (tmp_path / "restored.db").write_bytes(b"an older copy")
    (tmp_path / "restored.db").replace(tmp_path / "tune.db")

    with pytest.raises(StudyError, match="tune.db was replaced by another file while tune ran"):
        watch.check()
    assert watch.lost
