"""Warm launch: trials of `python -m` trainers forked from a worker, still isolated from each other."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import wait_for
from tuner.trials.warm import split_python_module

STORAGE = "sqlite:///tune.db"

# A trainer module that pollutes everything it can, and behaves as its config says.
POLLUTER = """
import json, os, random, sys, time
import torch

config = json.load(open(sys.argv[1]))
directory = sys.argv[2]
seen = {
    "pid": os.getpid(),
    "ppid": os.getppid(),
    "pgid": os.getpgid(0),
    "polluted_env": os.environ.get("POLLUTED"),
    "polluted_module": getattr(json, "polluted", None),
    "random": random.random(),
    "torch_random": torch.rand(1).item(),
    "trial": os.environ["TUNER_TRIAL_NUMBER"],
}
with open(os.path.join(directory, ".seen.json"), "w") as handle:
    json.dump(seen, handle)
os.replace(os.path.join(directory, ".seen.json"), os.path.join(directory, "seen.json"))  # whole when seen
os.environ["POLLUTED"] = "yes"
json.polluted = True
if config.get("hang"):
    time.sleep(3600)
if config.get("segfault"):
    os.kill(os.getpid(), 11)
from tuner import report
report(0, validation_accuracy=float(config["x"]))
"""

CONFIG = (
    "{x: std.parseJson(std.extVar('x')), hang: std.parseJson(std.extVar('hang')), "
    "segfault: std.parseJson(std.extVar('segfault')), trainer: {validation_metric: '+accuracy'}}"
)


@pytest.fixture
def module_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "polluter_trainer.py").write_text(POLLUTER)
    (tmp_path / "c.jsonnet").write_text(CONFIG)
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))

    def args(*, hang: bool = False, segfault: bool = False) -> list[str]:
        return [
            "c.jsonnet",
            "space.json",
            "--module",
            "polluter_trainer",
            "--pruner",
            "none",
            "--ext-var",
            f"hang={json.dumps(hang)}",
            "--ext-var",
            f"segfault={json.dumps(segfault)}",
        ]

    return args


def seen(tmp_path: Path, number: int) -> dict:
    return json.loads((tmp_path / "results" / "c" / f"trial_{number}" / "seen.json").read_text())


def processes_working_in(folder: Path) -> list[int]:
    """Live processes (not this one, not zombies) whose working directory is ``folder``:
    workers and the trial processes they fork ahead start there."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder and (entry / "stat").read_text().split()[2] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until_none_work_in(folder: Path, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_working_in(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_python_module_commands_are_recognised():
    assert split_python_module([sys.executable, "-m", "tuner.train", "c.json"]) == ("tuner.train", ["c.json"])
    assert split_python_module([sys.executable, "train.py", "c.json"]) is None
    assert split_python_module(["/bin/echo", "-m", "x"]) is None


def test_warm_trials_are_forked_from_one_worker_and_isolated(module_study, tune_cli, tmp_path):
    result = tune_cli(*module_study(), "--n-trials", "3")
    assert result.exit_code == 0, result.output

    trials = optuna.load_study(study_name="c", storage=STORAGE).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 3
    first, second, third = (seen(tmp_path, number) for number in range(3))
    assert first["ppid"] == second["ppid"] == third["ppid"] != os.getpid()  # the same warm worker
    assert all(view["pgid"] == view["pid"] for view in (first, second, third))  # own process groups
    assert second["polluted_env"] is None and second["polluted_module"] is None
    assert len({first["random"], second["random"], third["random"]}) == 3
    assert len({first["torch_random"], second["torch_random"], third["torch_random"]}) == 3
    assert trials[1].value == pytest.approx(trials[1].params["x"])
    assert wait_until_none_work_in(tmp_path) == []  # the worker and the child it forked ahead are gone


def test_plain_launch_starts_a_fresh_interpreter_per_trial(module_study, tune_cli, tmp_path):
    assert tune_cli(*module_study(), "--n-trials", "2", "--launch", "plain").exit_code == 0
    assert seen(tmp_path, 0)["ppid"] == os.getpid()  # tune's own child


def test_a_crashing_trial_does_not_break_the_next(module_study, tune_cli, tmp_path):
    assert tune_cli(*module_study(segfault=True), "--n-trials", "1").exit_code == 1  # its only trial failed
    result = tune_cli(*module_study(), "--n-trials", "2")
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="c", storage=STORAGE).trials
    assert trials[0].state.name == "FAIL" and trials[0].user_attrs["reason"] == "killed (SIGSEGV, signal 11)"
    assert trials[1].state.name == "COMPLETE"


def test_ctrl_c_with_four_busy_slots_leaves_no_process(module_study, tmp_path):
    tune = [sys.executable, "-m", "tuner", *module_study(hang=True), "--n-trials", "8", "--n-jobs", "4"]
    process = subprocess.Popen(tune, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(list(tmp_path.glob("results/c/trial_*/seen.json"))) < 4:
        time.sleep(0.1)
    assert len(list(tmp_path.glob("results/c/trial_*/seen.json"))) == 4
    views = [json.loads(path.read_text()) for path in tmp_path.glob("results/c/trial_*/seen.json")]
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 130, output
    for pid in {view["pid"] for view in views} | {view["ppid"] for view in views}:
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    trials = optuna.load_study(study_name="c", storage=STORAGE).trials
    interrupted = [trial for trial in trials if trial.state.name == "FAIL"]
    assert len(interrupted) == 4 and all(t.user_attrs["reason"] == "interrupted" for t in interrupted)
    assert not [trial for trial in trials if trial.state.name == "RUNNING"]
    assert wait_until_none_work_in(tmp_path) == []


HOLDING_TRAINER = """
import json, os, sys, time
config = json.load(open(sys.argv[1]))
with open(os.path.join(sys.argv[2], "pid"), "w") as handle:
    handle.write(str(os.getpid()))
while os.path.exists("hold"):  # in tune's working directory: the test removes it
    time.sleep(0.02)
from tuner import report
report(0, validation_accuracy=float(config["x"]))
"""


def sigterm_taken(pid: int) -> bool:
    """Whether ``pid`` has taken the SIGTERM sent to it (none pending), or is gone."""
    try:
        status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    except (FileNotFoundError, ProcessLookupError):
        return True
    pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
    return status["State"].startswith("Z") or not pending & (1 << (signal.SIGTERM - 1))


def test_sigterm_to_every_helper_process_leaves_the_warm_trials_running(module_study, tmp_path):
    """SLURM's `scancel --signal=TERM` signals every process of the job, the zygote and slot workers
    included: they must not end under their trials (their trials would die with them)."""
    (tmp_path / "holding_trainer.py").write_text(HOLDING_TRAINER)
    (tmp_path / "hold").touch()
    args = [arg if arg != "polluter_trainer" else "holding_trainer" for arg in module_study()]
    tune = [sys.executable, "-m", "tuner", *args, "--n-trials", "2", "--n-jobs", "2"]
    process = subprocess.Popen(tune, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def trial_pids() -> set[int] | None:
        found = {int(path.read_text()) for path in tmp_path.glob("results/c/trial_*/pid") if path.read_text()}
        return found if len(found) == 2 else None

    trials_running = wait_for(trial_pids, "both trials running", process=process)
    helpers = [pid for pid in processes_working_in(tmp_path) if pid != process.pid and pid not in trials_running]
    assert len(helpers) >= 3, helpers  # the zygote and the two slots' workers, and their spares
    for pid in helpers:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: all(sigterm_taken(pid) for pid in helpers), "the helpers to take their SIGTERM")
    (tmp_path / "hold").unlink()
    output, _ = process.communicate(timeout=120)

    assert process.returncode == 0, output
    trials = optuna.load_study(study_name="c", storage=STORAGE).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"], output
    assert wait_until_none_work_in(tmp_path) == []


FORKING_TRAINER = """
import json, os, sys, time
config = json.load(open(sys.argv[1]))
helper = os.fork()
if helper == 0:
    os._exit(0)  # a forked helper (as a fork-started data-loader worker) ends at once
os.waitpid(helper, 0)
time.sleep(0.5)  # the trial goes on after its helper ended
from tuner import report
report(0, validation_accuracy=float(config["x"]))
from tuner.contract import write_json_atomically
write_json_atomically(os.path.join(sys.argv[2], "metrics.json"), {"best_validation_accuracy": float(config["x"])})
"""


def test_a_forked_helper_ending_does_not_end_the_trial(module_study, tune_cli, tmp_path):
    (tmp_path / "forking_trainer.py").write_text(FORKING_TRAINER)
    args = [arg if arg != "polluter_trainer" else "forking_trainer" for arg in module_study()]
    result = tune_cli(*args, "--n-trials", "2")

    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="c", storage=STORAGE).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"]
    assert all(trial.value == pytest.approx(trial.params["x"]) for trial in trials)
    assert all(trial.duration.total_seconds() >= 0.5 for trial in trials)


SPARE_KILLER = '''
import json, os, signal, sys, time
config = json.load(open(sys.argv[1]))
worker = os.getppid()


def forked_ahead():
    """The worker's live children but this one: the process it forks ahead for the next trial."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == worker and fields[0] != "Z":
                found.append(int(entry))
    return found


seen = {"pid": os.getpid(), "ppid": worker}
if os.environ["TUNER_TRIAL_NUMBER"] == "0":
    deadline = time.monotonic() + 60
    while not forked_ahead():  # the worker forks it once this trial has started
        assert time.monotonic() < deadline, "the worker forked no process ahead"
        time.sleep(0.01)
    seen["killed"] = forked_ahead()
    for pid in seen["killed"]:
        os.kill(pid, signal.SIGKILL)
with open(os.path.join(sys.argv[2], ".seen.json"), "w") as handle:
    json.dump(seen, handle)
os.replace(os.path.join(sys.argv[2], ".seen.json"), os.path.join(sys.argv[2], "seen.json"))  # whole when seen
from tuner import report
report(0, validation_accuracy=float(config["x"]))
'''


def test_a_killed_process_forked_ahead_is_replaced_and_launch_stays_warm(module_study, tune_cli, tmp_path):
    (tmp_path / "spare_killer.py").write_text(SPARE_KILLER)
    args = [arg if arg != "polluter_trainer" else "spare_killer" for arg in module_study()]
    result = tune_cli(*args, "--n-trials", "2")

    assert result.exit_code == 0, result.output
    assert "warm launcher unavailable" not in result.output
    trials = optuna.load_study(study_name="c", storage=STORAGE).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE"]
    killed = seen(tmp_path, 0)["killed"]
    assert len(killed) == 1 and seen(tmp_path, 1)["pid"] not in killed  # trial 1 ran in a process forked anew
    assert seen(tmp_path, 0)["ppid"] == seen(tmp_path, 1)["ppid"] != os.getpid()  # same worker, still warm


# A trainer module that says where it was forked from and what its process was given.
PROBE = """
import json, os, sys, time
import torch

config = json.load(open(sys.argv[1]))
worker = os.getppid()
with open(f"/proc/{worker}/stat") as stat:
    worker_parent = int(stat.read().rsplit(")", 1)[1].split()[1])
seen = {
    "pid": os.getpid(),
    "worker": worker,
    "worker_parent": worker_parent,
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    "threads": torch.get_num_threads(),
    "cuda_initialised": torch.cuda.is_initialized(),
}
time.sleep(0.3)  # the slots overlap: each trial has its own slot's worker
with open(os.path.join(sys.argv[2], "seen.json"), "w") as handle:
    json.dump(seen, handle)
from tuner import report
report(0, validation_accuracy=float(config["x"]))
"""


def probe_args(module_study, tmp_path: Path, *extra: str) -> list[str]:
    (tmp_path / "probe_trainer.py").write_text(PROBE)
    return [arg if arg != "polluter_trainer" else "probe_trainer" for arg in module_study()] + list(extra)


def test_slot_workers_are_forked_from_one_zygote_and_keep_their_slot_environment(
    module_study, tune_cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1")
    result = tune_cli(*probe_args(module_study, tmp_path, "--n-trials", "4", "--gpus", "0,1"))

    assert result.exit_code == 0, result.output
    views = [seen(tmp_path, number) for number in range(4)]
    workers = {view["worker"] for view in views}
    assert len(workers) == 2 and os.getpid() not in workers  # one warm worker per slot
    assert len({view["worker_parent"] for view in views}) == 1  # both forked from the same process
    assert {view["worker_parent"] for view in views} != {os.getpid()}  # the zygote, not tune
    by_worker = {view["worker"]: view["cuda_visible_devices"] for view in views}
    assert sorted(by_worker.values()) == ["0", "1"]  # each slot's trials see their own GPU, always the same
    assert all(by_worker[view["worker"]] == view["cuda_visible_devices"] for view in views)
    assert not any(view["cuda_initialised"] for view in views)
    assert wait_until_none_work_in(tmp_path) == []  # zygote, workers and spares are gone


def test_a_warm_trial_gets_torch_default_thread_count_or_its_slot_share(module_study, tune_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    fresh = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tune_cli(*probe_args(module_study, tmp_path, "--n-trials", "1")).exit_code == 0
    # The worker warmed torch up with one thread; the trial has torch's own default again.
    assert seen(tmp_path, 0)["threads"] == int(fresh.stdout)


# A trainer whose top-level imports are all standard: its worker starts without torch.
LIGHT = """
import json, os, sys

config = json.load(open(sys.argv[1]))
seen = {"worker": os.getppid(), "torch_at_start": "torch" in sys.modules}
if config["x"] >= 0:  # as a script that imports torch for some configs only
    import torch

with open(os.path.join(sys.argv[2], "seen.json"), "w") as handle:
    json.dump(seen, handle)
from tuner import report
report(0, validation_accuracy=float(config["x"]))
"""


def test_a_trainer_without_top_level_torch_import_starts_light_and_its_worker_learns(module_study, tune_cli, tmp_path):
    (tmp_path / "light_trainer.py").write_text(LIGHT)
    args = [arg if arg != "polluter_trainer" else "light_trainer" for arg in module_study()]
    result = tune_cli(*args, "--n-trials", "3")

    assert result.exit_code == 0, result.output
    views = [seen(tmp_path, number) for number in range(3)]
    assert len({view["worker"] for view in views}) == 1 and views[0]["worker"] != os.getpid()  # all warm
    assert not views[0]["torch_at_start"]  # the first trial did not wait for torch's import
    assert views[2]["torch_at_start"]  # after a trial imported it, the worker has it
