"""Stress: a study of a trainer that randomly crashes, hangs, emits NaN or succeeds; Ctrl-C midway; resume.

The trainer is tests/trainers/faulty.py with ``fault: random`` (by the sampled x: 15 % exit 3,
10 % hang until ``--trial-timeout``, 10 % NaN objective, 65 % succeed), run as a script, each
trial starting a grandchild in its process group. `tune` runs with ``--n-jobs``, gets SIGINT
once half the trials have started, and the same command is run again to finish the study.
Afterwards it counts trials by state and reason, RUNNING ones left, and processes of the run
still alive (pids the trainers recorded, and any process whose environment names a trial folder).
Run from the repository root:
    python benchmarks/stress.py --trials 200 --n-jobs 4
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tuner.study.records import NOT_COUNTED_REASONS

CONFIG = (
    "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    " + std.parseJson(std.extVar('behaviour'))"
)
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def tune_command(trials: int, n_jobs: int, sleep: float) -> list[str]:
    behaviour = json.dumps({"fault": "random", "spawn": True, "sleep": sleep})
    trainer = f"{sys.executable} {ROOT / 'tests' / 'trainers' / 'faulty.py'} {{config}} {{serialization_dir}}"
    return [
        sys.executable,
        "-m",
        "tuner",
        "stress.jsonnet",
        "space.json",
        "--ext-var",
        f"behaviour={behaviour}",
        "--command",
        trainer,
        "--n-trials",
        str(trials),
        "--n-jobs",
        str(n_jobs),
        "--sampler",
        "random",
        "--seed",
        "0",
        "--pruner",
        "none",
        "--trial-timeout",
        "1",
        "--study-name",
        "stress",
    ]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def processes_of_run(results: Path) -> set[int]:
    """Live processes the trainers recorded, or whose environment names a trial folder under ``results``."""
    recorded = set()
    for path in results.glob("trial_*/pids/*"):
        recorded.add(int(path.name))
        recorded.update(int(word) for word in path.read_text().split() if word.isdigit())
    marker = f"TUNER_SERIALIZATION_DIR={results.resolve()}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                recorded.add(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return {pid for pid in recorded if alive(pid)}


def run(trials: int, n_jobs: int, sleep: float, workdir: Path) -> dict:
    (workdir / "stress.jsonnet").write_text(CONFIG)
    (workdir / "space.json").write_text(json.dumps(SPACE))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = tune_command(trials, n_jobs, sleep)
    results = workdir / "results" / "stress"
    started = time.monotonic()
    first = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(results.glob("trial_*"))) < trials // 2 and first.poll() is None:
        time.sleep(0.05)
    interrupted_at = time.monotonic() - started
    first.send_signal(signal.SIGINT)
    first_status = first.wait()
    stopped_at = time.monotonic() - started
    orphans_after_interrupt = len(processes_of_run(results))
    second = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started

    import optuna

    study = optuna.load_study(study_name="stress", storage=f"sqlite:///{workdir / 'tune.db'}")
    trials_done = study.trials
    return {
        "trials_requested": trials,
        "n_jobs": n_jobs,
        "first_run_exit": first_status,
        "sigint_after_s": round(interrupted_at, 1),
        "first_run_stopped_after_s": round(stopped_at, 1),
        "resume_exit": second.returncode,
        "wall_s": round(wall, 1),
        "trials_in_storage": len(trials_done),
        "by_state": dict(Counter(t.state.name for t in trials_done)),
        "by_reason": dict(Counter(t.user_attrs.get("reason", "-") for t in trials_done if t.state.name != "COMPLETE")),
        "counted_towards_n_trials": sum(
            1 for t in trials_done if t.user_attrs.get("reason") not in NOT_COUNTED_REASONS
        ),
        "running_left": sum(1 for t in trials_done if t.state.name in ("RUNNING", "WAITING")),
        "orphans_after_interrupt": orphans_after_interrupt,
        "orphans_at_end": len(processes_of_run(results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=0.1, help="seconds each trial waits before its fault")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        figures = run(options.trials, options.n_jobs, options.sleep, Path(workdir))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
