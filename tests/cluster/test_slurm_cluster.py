"""`tune slurm` on a real single-node SLURM cluster (.ci/start-slurm) and the real PostgreSQL (.ci/start-postgres).

Two array tasks complete one study together; a task that SLURM signals (SIGTERM, as it does before a preemption's
or a cancel's kill) records its running trial as interrupted, and the other task resumes it in its folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest

from tests.conftest import wait_for

SLURM_CONF = os.environ.get("TUNER_TEST_SLURM_CONF")
POSTGRES_URL = os.environ.get("TUNER_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parents[2]
JOB_SECONDS = 300  # the deadline for a whole job array on a loaded machine; a passing wait ends at the event

pytestmark = pytest.mark.skipif(
    not (SLURM_CONF and POSTGRES_URL),
    reason="needs a SLURM cluster and PostgreSQL: TUNER_TEST_SLURM_CONF (.ci/start-slurm) and "
    "TUNER_TEST_POSTGRES_URL (.ci/start-postgres) are unset",
)

CONFIG = """
{ x: std.parseJson(std.extVar('x')), trainer: { validation_metric: '+accuracy' } } + std.parseJson(std.extVar('extra'))
"""


def slurm_env() -> dict[str, str]:
    """The test's environment, which sbatch hands to the tasks: this cluster, and this checkout importable."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "SLURM_CONF": str(SLURM_CONF), "PYTHONPATH": path}


def submit(tmp_path: Path, study: str, n_trials: int, extra: dict, *options: str) -> subprocess.CompletedProcess:
    (tmp_path / "quad.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 6}}))
    command = [
        *(sys.executable, "-m", "tuner", "slurm", "quad.jsonnet", "space.json"),
        *("--storage", str(POSTGRES_URL), "--study-name", study, "--n-trials", str(n_trials), "--pruner", "none"),
        *("--ext-var", f"extra={json.dumps(extra)}", "--workers", "2", "--time", "00:10:00"),
        *("--command", "{python} -m tests.cluster.slurm_trainer {config} {serialization_dir}", *options),
    ]
    return subprocess.run(
        command, cwd=tmp_path, env=slurm_env(), capture_output=True, text=True, timeout=120, check=False
    )


def job_id(submitted: subprocess.CompletedProcess) -> str:
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    match = re.search(r"Submitted SLURM job (\d+): 2 array tasks", submitted.stderr)
    assert match, submitted.stderr
    return match[1]


def queued(job: str) -> list[str]:
    """The job's array tasks SLURM still has pending or running."""
    listed = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%i"], env=slurm_env(), capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def cancel(job: str) -> None:
    subprocess.run(["scancel", job], env=slurm_env(), capture_output=True, check=False)  # done already, mostly


def trial_tasks(study: optuna.Study) -> dict[int, dict]:
    """What each completed trial's trainer recorded: the array task it ran in, and whether it resumed."""
    tasks = {}
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        folder = Path(trial.user_attrs["launch"]["directory"])
        tasks[trial.number] = json.loads((folder / "task.json").read_text())
    return tasks


def test_two_array_tasks_complete_one_study_together(tmp_path: Path) -> None:
    study_name = f"slurm-{uuid.uuid4().hex[:8]}"
    (tmp_path / "sync").mkdir()
    job = job_id(submit(tmp_path, study_name, 8, {"sync": str(tmp_path / "sync"), "wait_for_tasks": 2}))
    try:
        wait_for(lambda: not queued(job), f"job {job}'s two tasks to end", timeout=JOB_SECONDS)
    finally:
        cancel(job)
    study = optuna.load_study(study_name=study_name, storage=POSTGRES_URL)
    states = [trial.state for trial in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 8
    assert optuna.trial.TrialState.RUNNING not in states and optuna.trial.TrialState.WAITING not in states
    tasks = trial_tasks(study)
    assert {record["task"] for record in tasks.values()} == {"0", "1"}
    assert {record["job"] for record in tasks.values()} == {job}
    script = next((tmp_path / "results").glob(f"*/slurm/{job}/{job}_submission.sh")).read_text()
    for line in ("--array=0-1%2", "--time=00:10:00", "--signal=TERM@60"):  # SIGTERM at --grace 30 + 30 s before
        assert f"#SBATCH {line}\n" in script
    for task in ("0", "1"):
        log = next((tmp_path / "results").glob(f"*/slurm/{job}_{task}/{job}_{task}_0_log.out")).read_text()
        assert "Finished: the study has its 8 trials" in log


def test_each_task_s_trials_use_the_gpu_slurm_gave_it(tmp_path: Path) -> None:
    """--gpus-per-worker 1 on the CI node's two stand-in GPUs: each task's tune runs --gpus all on its own GPU."""
    study_name = f"slurm-{uuid.uuid4().hex[:8]}"
    (tmp_path / "sync").mkdir()
    extra = {"sync": str(tmp_path / "sync"), "wait_for_tasks": 2}
    job = job_id(submit(tmp_path, study_name, 4, extra, "--gpus-per-worker", "1"))
    try:
        wait_for(lambda: not queued(job), f"job {job}'s two tasks to end", timeout=JOB_SECONDS)
    finally:
        cancel(job)
    study = optuna.load_study(study_name=study_name, storage=POSTGRES_URL)
    gpus_of_task: dict[str, set] = {}
    for record in trial_tasks(study).values():
        gpus_of_task.setdefault(record["task"], set()).add(record["gpus"])
    assert sorted(gpus_of_task) == ["0", "1"] and all(len(gpus) == 1 for gpus in gpus_of_task.values())
    assert gpus_of_task["0"] | gpus_of_task["1"] == {"0", "1"}  # one GPU each, not the same one
    assert len(trial_tasks(study)) == 4


def test_a_signalled_task_s_trial_is_resumed_by_the_other_worker(tmp_path: Path) -> None:
    """scancel --signal=TERM: what SLURM sends a task before a preemption's (or cancel's, requeue's) kill."""
    study_name = f"slurm-{uuid.uuid4().hex[:8]}"
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "hold").touch()  # each trial waits for it to go
    job = job_id(submit(tmp_path, study_name, 3, {"sync": str(sync), "hold": True}, "--grace", "5"))
    try:
        started = wait_for(lambda: two_tasks_started(sync), "a running trial in each task")
        signalled = started["1"]
        subprocess.run(["scancel", "--signal=TERM", f"{job}_1"], env=slurm_env(), check=True)
        wait_for(lambda: f"{job}_1" not in queued(job), "the signalled task to end")
        (sync / "hold").unlink()
        wait_for(lambda: not queued(job), "the other task to finish the study", timeout=JOB_SECONDS)
    finally:
        cancel(job)
    study = optuna.load_study(study_name=study_name, storage=POSTGRES_URL)
    interrupted = study.trials[signalled]
    assert interrupted.state == optuna.trial.TrialState.FAIL and interrupted.user_attrs["reason"] == "interrupted"
    retry = next(trial for trial in study.trials if (trial.user_attrs.get("retry") or {}).get("of") == signalled)
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == interrupted.params
    assert {**trial_tasks(study)[retry.number], "gpus": None} == {"task": "0", "job": job, "resume": "1", "gpus": None}
    assert retry.user_attrs["launch"]["directory"] == interrupted.user_attrs["launch"]["directory"]
    states = [trial.state for trial in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3 and optuna.trial.TrialState.RUNNING not in states
    log = next((tmp_path / "results").glob(f"*/slurm/{job}_1/{job}_1_0_log.out")).read_text()
    assert f"trial {signalled}" in log and "failed: interrupted" in log and "Stopped: interrupted" in log


def test_a_killed_task_s_trial_is_recovered_and_resumed_by_the_other_worker(tmp_path: Path) -> None:
    """tune SIGKILLed (a KillWait shorter than --grace, the OOM killer): the other task's watch finds the RUNNING
    trial. (``scancel --signal=KILL`` would not do: SLURM cancels the job then, SIGTERM first.)"""
    study_name = f"slurm-{uuid.uuid4().hex[:8]}"
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "hold").touch()
    job = job_id(submit(tmp_path, study_name, 3, {"sync": str(sync), "hold": True}))
    try:
        killed = wait_for(lambda: two_tasks_started(sync), "a running trial in each task")["1"]
        study = optuna.load_study(study_name=study_name, storage=POSTGRES_URL)
        os.kill(study.trials[killed].user_attrs["launch"]["tuner_pid"], signal.SIGKILL)  # this host: one node
        wait_for(
            lambda: study.trials[killed].state == optuna.trial.TrialState.FAIL,
            f"trial {killed} to be recovered by the other task",
        )
        (sync / "hold").unlink()
        wait_for(lambda: not queued(job), "the other task to finish the study", timeout=JOB_SECONDS)
    finally:
        cancel(job)
    study = optuna.load_study(study_name=study_name, storage=POSTGRES_URL)
    assert study.trials[killed].user_attrs["reason"] == "tune process died"
    retry = next(trial for trial in study.trials if (trial.user_attrs.get("retry") or {}).get("of") == killed)
    assert retry.state == optuna.trial.TrialState.COMPLETE
    assert {**trial_tasks(study)[retry.number], "gpus": None} == {"task": "0", "job": job, "resume": "1", "gpus": None}
    states = [trial.state for trial in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3 and optuna.trial.TrialState.RUNNING not in states
    log = next((tmp_path / "results").glob(f"*/slurm/{job}_0/{job}_0_0_log.out")).read_text()
    assert f"tune slurm: trials {killed} were left running by a tune process that died" in log


def two_tasks_started(sync: Path) -> dict[str, int] | None:
    """Task -> trial number of its first trial, once trials of both tasks have started."""
    lines = (sync / "started").read_text().splitlines() if (sync / "started").exists() else []
    first: dict[str, int] = {}
    for task, trial, _ in (line.split() for line in lines if line.strip()):
        first.setdefault(task, int(trial))
    return first if len(first) == 2 else None


def test_sbatch_s_refusal_is_one_line_and_nothing_is_submitted(tmp_path: Path) -> None:
    submitted = submit(tmp_path, f"slurm-{uuid.uuid4().hex[:8]}", 2, {"sync": str(tmp_path)}, "--partition", "nosuch")
    assert submitted.returncode == 2, submitted.stderr
    lines = [line for line in submitted.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: sbatch refused the job array, nothing was submitted: ")
    assert "partition" in lines[0].lower()
    assert not list((tmp_path / "results").glob("*/slurm"))
