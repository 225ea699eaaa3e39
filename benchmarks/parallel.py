"""Parallel slots and cooperating processes: slot utilisation and throughput scaling.

1. utilisation: one `tune` with 4 slots (--n-jobs 4); trials sleep a random 0.5-2 s
   (tests/trainers/sleeper.py). Utilisation = time spent inside trials (the trainer's own
   clock, from the end of its imports to its end) / (4 x the window), the window running from
   the first trial's start to the last trial's start: while there were trials to start. (After
   that, slots fall idle as the last trials finish; that drain is shown separately.) Goal >= 98 %.
2. scaling: 1, 2, 4, 8 `tune` processes on one study (same --storage and --study-name),
   a trivial trainer (no sleep, no torch), until the study has --trials trials. Reports the
   study's trials per second and the errors (non-zero exits, tracebacks, trials that are not
   COMPLETE). Storages: SQLite, Optuna's journal file, and PostgreSQL when
   TUNER_TEST_POSTGRES_URL is set (`.ci/start-postgres` prints one).

3. startup: time to first trial with --slots slots (4 and 8 by default), warm and plain launch
   interleaved: from starting the `tune` command to the end of the first trial's work, and to
   the end of the last of the first --slots trials' work (every slot has had a trial). Trainers:
   the torch-free sleeper (0.5 s of sleep) and the torch trainer of trial_overhead.py (imports
   torch, 5 Adam steps of a small MLP: a few ms once torch is imported and warm).

Run from the repository root:
    python benchmarks/parallel.py utilisation --trials 40 --repeats 3
    python benchmarks/parallel.py scaling --trials 60
    python benchmarks/parallel.py startup --repeats 3 [--slots 4 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = ROOT / "tests" / "trainers" / "sleeper.py"
UTILISATION_CONFIG = (
    "{x: 0.5, duration: std.parseJson(std.extVar('duration')), trainer: {validation_metric: '+accuracy'}}"
)
UTILISATION_SPACE = {"duration": {"type": "float", "low": 0.5, "high": 2.0}}
SLEEPER_MODULE = "{python} -m tests.trainers.sleeper {config} {serialization_dir}"
SCALING_CONFIG = "{x: std.parseJson(std.extVar('x')), duration: 0, trainer: {validation_metric: '+accuracy'}}"
SCALING_SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def tune_command(work: Path, config: str, space: dict, extra: list[str]) -> list[str]:
    (work / "c.jsonnet").write_text(config)
    (work / "space.json").write_text(json.dumps(space))
    return [sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--pruner", "none", *extra]


def utilisation(work: Path, trials: int, launch: str) -> tuple[float, float]:
    command = tune_command(
        work,
        UTILISATION_CONFIG,
        UTILISATION_SPACE,
        [
            "--n-trials",
            str(trials),
            "--n-jobs",
            "4",
            "--storage",
            f"sqlite:///{work / 't.db'}",
            "--launch",
            launch,
            "--command",
            "{python} -m tests.trainers.sleeper {config} {serialization_dir}",
        ],
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    works = [json.loads(path.read_text()) for path in work.glob("results/*/trial_*/work.json")]
    assert len(works) == trials, len(works)
    first = min(item["process_start"] for item in works)
    last_start = max(item["process_start"] for item in works)
    inside = sum(max(0.0, min(item["end"], last_start) - max(item["work_start"], first)) for item in works)
    whole = sum(item["end"] - item["work_start"] for item in works)
    return inside / (4 * (last_start - first)), whole / (4 * (max(item["end"] for item in works) - first))


def startup(work: Path, slots: int, launch: str, torch: bool) -> tuple[float, float]:
    """Seconds from the command's start to the first trial's end of work, and to every slot's first trial's."""
    trainer = "{python} -m benchmarks.trial_overhead --train {config} {serialization_dir}" if torch else SLEEPER_MODULE
    command = tune_command(
        work,
        UTILISATION_CONFIG,
        {"duration": {"type": "float", "low": 0.5, "high": 0.5001}},
        ["--n-trials", str(slots), "--n-jobs", str(slots), "--launch", launch]
        + ["--storage", f"sqlite:///{work / 't.db'}", "--command", trainer],
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.time()
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    works = [json.loads(path.read_text()) for path in work.glob("results/*/trial_*/work.json")]
    assert len(works) == slots, len(works)
    working = sorted(item["end"] for item in works)
    return working[0] - started, working[-1] - started


def print_startup(slot_counts: list[int], repeats: int) -> None:
    cases = [(slots, torch, launch) for slots in slot_counts for torch in (False, True) for launch in ("warm", "plain")]
    first: dict[tuple, list[float]] = {case: [] for case in cases}
    every: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(repeats):
        for case in cases:  # interleaved: the rounds see the same machine
            with tempfile.TemporaryDirectory() as folder:
                one, all_slots = startup(Path(folder), case[0], case[2], case[1])
            first[case].append(one)
            every[case].append(all_slots)
    print(f"{'slots':>5s} {'trainer':>13s} {'launch':>6s} {'first trial done s':>24s} {'every slot s':>23s}")
    for case in cases:
        slots, torch, launch = case
        one, all_slots = first[case], every[case]
        print(
            f"{slots:5d} {'torch' if torch else 'sleeper':>13s} {launch:>6s} "
            f"{statistics.median(one):8.2f} ({min(one):.2f}-{max(one):.2f})      "
            f"{statistics.median(all_slots):8.2f} ({min(all_slots):.2f}-{max(all_slots):.2f})"
        )
    print(f"{repeats} interleaved rounds; load average (1 min) at the end {os.getloadavg()[0]:.2f}")


def scaling(work: Path, storage: str, processes: int, trials: int) -> tuple[float, int]:
    name = f"scale-{uuid.uuid4().hex[:8]}"
    command = tune_command(
        work,
        SCALING_CONFIG,
        SCALING_SPACE,
        [
            "--n-trials",
            str(trials),
            "--storage",
            storage,
            "--study-name",
            name,
            "--command",
            f"{sys.executable} {SLEEPER} {{config}} {{serialization_dir}}",
        ],
    )
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [*command, "-s", f"results/p{index}"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for index in range(processes)
    ]
    outputs = [(process.communicate()[0], process.returncode) for process in running]
    elapsed = time.perf_counter() - started
    errors = sum(1 for output, code in outputs if code != 0 or "Traceback" in output)
    states = [trial.state.name for trial in optuna.load_study(study_name=name, storage=_loadable(storage)).trials]
    errors += sum(1 for state in states if state not in ("COMPLETE",)) - _given_back(storage, name)
    return trials / elapsed, errors


def _loadable(storage: str) -> object:
    if storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage[len("journal:") :]))
    if storage.startswith("postgresql://"):
        return storage.replace("postgresql://", "postgresql+psycopg://", 1)
    return storage


def _given_back(storage: str, name: str) -> int:
    """Trials handed back unrun when several processes asked for the study's last trials (not errors)."""
    trials = optuna.load_study(study_name=name, storage=_loadable(storage)).trials
    return sum(1 for trial in trials if str(trial.user_attrs.get("reason", "")).startswith("not run:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["utilisation", "scaling", "startup"])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slots", type=int, nargs="+", default=[4, 8], help="for startup")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.what == "startup":
        return print_startup(args.slots, args.repeats)
    if args.what == "utilisation":
        for launch in ("warm", "plain"):
            steady, overall = [], []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as folder:
                    window, whole = utilisation(Path(folder), args.trials, launch)
                steady.append(window)
                overall.append(whole)
            print(
                f"{launch:5s} launch: utilisation {statistics.median(steady):.4f} "
                f"(min {min(steady):.4f}, max {max(steady):.4f}); with the final drain "
                f"{statistics.median(overall):.4f}; {args.repeats} runs of {args.trials} trials"
            )
        return
    storages = {"sqlite": "sqlite:///{work}/s.db", "journal": "journal:{work}/s.log"}
    if os.environ.get("TUNER_TEST_POSTGRES_URL"):
        storages["postgresql"] = os.environ["TUNER_TEST_POSTGRES_URL"]
    print(f"{'storage':11s} {'processes':>9s} {'trials/s':>9s} {'errors':>6s}")
    for label, template in storages.items():
        for processes in (1, 2, 4, 8):
            with tempfile.TemporaryDirectory() as folder:
                rate, errors = scaling(Path(folder), template.format(work=folder), processes, args.trials)
            print(f"{label:11s} {processes:9d} {rate:9.2f} {errors:6d}")


if __name__ == "__main__":
    main()
