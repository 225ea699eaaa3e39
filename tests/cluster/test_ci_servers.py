"""The CI's throw-away servers (.ci/start-postgres, .ci/start-slurm): each start is a server of its own (a fresh
folder, free ports), so two CI runs on one machine never share one, and its stop script ends exactly that one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parents[2] / ".ci"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the CI's servers are started as root (runuser, slurmd)")


def start(script: str) -> dict[str, str]:
    """Run a start script and return the settings it prints (NAME=VALUE lines)."""
    done = subprocess.run([str(CI / script)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def stop(script: str, settings: dict[str, str]) -> None:
    subprocess.run([str(CI / script)], env={**os.environ, **settings}, timeout=120, check=True)


def alive(pid_file: Path) -> bool:
    try:
        return running(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError):
        return False


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an ended daemon its new parent has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@ROOT_ONLY
@pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb"), reason="Debian's postgresql is not installed")
def test_two_postgres_starts_are_two_servers_and_stop_ends_only_its_own() -> None:
    first, second = start("start-postgres"), start("start-postgres")
    try:
        assert first["TUNER_TEST_POSTGRES_URL"] != second["TUNER_TEST_POSTGRES_URL"]
        assert first["TUNER_PG_DATA"] != second["TUNER_PG_DATA"]
        pid_file = Path(first["TUNER_PG_DATA"]) / "postmaster.pid"
        assert alive(pid_file)
        master = int(pid_file.read_text().split()[0])
        stop("stop-postgres", first)
        assert not Path(first["TUNER_PG_DATA"]).exists()
        assert not running(master)
        assert alive(Path(second["TUNER_PG_DATA"]) / "postmaster.pid")  # the other run's server is untouched
    finally:
        stop("stop-postgres", first)
        stop("stop-postgres", second)
    assert not Path(second["TUNER_PG_DATA"]).exists()


@ROOT_ONLY
@pytest.mark.skipif(shutil.which("slurmctld") is None, reason="Debian's slurm-wlm is not installed")
def test_a_slurm_start_is_a_cluster_of_its_own_and_stop_ends_it() -> None:
    settings = start("start-slurm")
    folder = Path(settings["TUNER_SLURM_DIR"])
    try:
        assert settings["SLURM_CONF"] == settings["TUNER_TEST_SLURM_CONF"] == str(folder / "slurm.conf")
        assert os.environ.get("TUNER_SLURM_DIR") != str(folder)  # not the CI's own cluster
        env = {**os.environ, "SLURM_CONF": settings["SLURM_CONF"]}
        ran = subprocess.run(
            ["srun", "-n1", "echo", "ran"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert ran.stdout.strip() == "ran", ran.stderr
        daemons = [folder / "slurmctld.pid", folder / "slurmd.pid", folder / "munge" / "munged.pid"]
        pids = [int(path.read_text()) for path in daemons]
        assert all(alive(path) for path in daemons)
    finally:
        stop("stop-slurm", settings)
    assert not folder.exists()
    assert not any(running(pid) for pid in pids)
