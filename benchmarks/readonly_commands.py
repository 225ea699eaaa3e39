"""How long the read-only commands take on a 500-trial study, start-up included.

Builds one SQLite study of --trials trials once (a real `tune` run: warm launch of the torch-free
sleeper trainer, 3 parameters, 2 epochs of learning curve each, a few failures), then times each
command as a user runs it, ``python -m tuner ...`` in a fresh interpreter, --repeats times, the
commands interleaved. ``python -c pass`` is timed beside them: the interpreter's own start, the floor.
``--with-optuna`` also times each command with ``TUNER_READ_WITH_OPTUNA=1`` (the study read through
Optuna, as before the fast SQLite reader), interleaved with the others.
Goal: each read-only command <= 0.4 s (median). Run from the repository root:
    python benchmarks/readonly_commands.py --trials 500 --repeats 5 [--keep DIR] [--with-optuna]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_READ_WITH_OPTUNA = "TUNER_READ_WITH_OPTUNA"  # tuner.study.sqlite_reader: read through Optuna instead
CONFIG = (
    "{lr: std.parseJson(std.extVar('lr')), layers: std.parseJson(std.extVar('layers')), "
    "act: std.extVar('act'), x: self.lr * self.layers, duration: 0, trainer: {validation_metric: '+accuracy'}}"
)
SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
}
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "tune --version": [sys.executable, "-m", "tuner", "--version"],
    "show-trials": [sys.executable, "-m", "tuner", "show-trials"],
    "show-trials --format csv": [sys.executable, "-m", "tuner", "show-trials", "--format", "csv"],
    "show-trials --top 5": [sys.executable, "-m", "tuner", "show-trials", "--top", "5"],
    "show-trials --trial 7": [sys.executable, "-m", "tuner", "show-trials", "--trial", "7"],
    "dump-best": [sys.executable, "-m", "tuner", "dump-best", "-o", "best.json"],
    "dump-best --trial 7": [sys.executable, "-m", "tuner", "dump-best", "--trial", "7", "-o", "t7.json"],
    "export --no-plots": [sys.executable, "-m", "tuner", "export", "--no-plots", "-o", "exported"],
    "export (with its plots)": [sys.executable, "-m", "tuner", "export", "-o", "exported"],
}


def build_study(work: Path, trials: int) -> None:
    """A real study of ``trials`` trials in ``work/tune.db`` (configs under ``work/results``)."""
    (work / "c.jsonnet").write_text(CONFIG)
    (work / "space.json").write_text(json.dumps(SPACE))
    command = [sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--n-trials", str(trials)]
    command += ["--pruner", "none", "--command", "{python} -m tests.trainers.sleeper {config} {serialization_dir}"]
    subprocess.run(command, cwd=work, env=_env(), check=True, capture_output=True)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def time_once(work: Path, argv: list[str], extra_env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    env = {**_env(), **(extra_env or {})}
    done = subprocess.run(argv, check=False, cwd=work, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the study here (reused when it already has tune.db)")
    parser.add_argument(
        "--with-optuna", action="store_true", help=f"also time each command with {ENV_READ_WITH_OPTUNA}=1"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "tune.db").exists():
            started = time.perf_counter()
            build_study(work, args.trials)
            print(f"built a {args.trials}-trial study in {time.perf_counter() - started:.1f} s")
        runs = {label: (argv, None) for label, argv in COMMANDS.items()}
        if args.with_optuna:  # the same commands through Optuna (the fast reader's fallback), interleaved
            for label, argv in COMMANDS.items():
                if argv[1:3] == ["-m", "tuner"] and "--version" not in argv:
                    runs[f"{label} [optuna]"] = (argv, {ENV_READ_WITH_OPTUNA: "1"})
        times: dict[str, list[float]] = {label: [] for label in runs}
        for label, (argv, extra) in runs.items():
            time_once(work, argv, extra)  # once unmeasured: the page cache and __pycache__ as a user has them
        for _ in range(args.repeats):
            for label, (argv, extra) in runs.items():
                times[label].append(time_once(work, argv, extra))
    load = os.getloadavg()[0]
    print(json.dumps({"trials": args.trials, "repeats": args.repeats, "load_average_1min": round(load, 2)}))
    print(f"{'command':37s} {'median s':>9s} {'min-max s':>13s}")
    for label, values in times.items():
        print(f"{label:37s} {statistics.median(values):9.3f} {min(values):6.3f}-{max(values):<6.3f}")


if __name__ == "__main__":
    main()
