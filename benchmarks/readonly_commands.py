"""How long the read-only commands take on a 500-trial study, start-up included.

Builds one SQLite study of --trials trials once (a real `tune` run: warm launch of the torch-free
sleeper trainer, 3 parameters, 2 epochs of learning curve each, a few failures), then times each
command as a user runs it, ``python -m tuner ...`` in a fresh interpreter, --repeats times, the
commands interleaved. ``python -c pass`` is timed beside them: the interpreter's own start, the floor.
``--with-optuna`` also times each command with ``TUNER_READ_WITH_OPTUNA=1`` (the study read through
Optuna, as before the fast SQLite reader), interleaved with the others. The commands write and use
``__pycache__`` as an installed package does (``PYTHONDONTWRITEBYTECODE`` is dropped for them: without
bytecode each command compiles tuner's modules again, ~0.06 s). The commands print to a pipe (the
table as rich's plain text, as wide as it is), except "show-trials, 120-column terminal": its stdout is
a pseudo-terminal that wide (colours, columns fitted to the width). ``--baseline DIR`` also times the
table commands and ``status`` of another checkout (the code before a change), interleaved.
Goal: each read-only command <= 0.4 s (median). Run from the repository root:
    python benchmarks/readonly_commands.py --trials 500 --repeats 3 [--keep DIR] [--with-optuna] [--baseline DIR]
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
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMANDS = ("show-trials", "show-trials --sort value", "show-trials, 120-column terminal", "status")
ON_TERMINAL = {"show-trials, 120-column terminal": 120}  # run with stdout on a pseudo-terminal this wide
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
    "show-trials --sort value": [sys.executable, "-m", "tuner", "show-trials", "--sort", "value"],
    "show-trials, 120-column terminal": [sys.executable, "-m", "tuner", "show-trials"],
    "show-trials --top 5": [sys.executable, "-m", "tuner", "show-trials", "--top", "5"],
    "show-trials --trial 7": [sys.executable, "-m", "tuner", "show-trials", "--trial", "7"],
    "dump-best": [sys.executable, "-m", "tuner", "dump-best", "-o", "best.json"],
    "dump-best --trial 7": [sys.executable, "-m", "tuner", "dump-best", "--trial", "7", "-o", "t7.json"],
    "export --no-plots": [sys.executable, "-m", "tuner", "export", "--no-plots", "-o", "exported"],
    "status": [sys.executable, "-m", "tuner", "status"],
    "export (with its plots)": [sys.executable, "-m", "tuner", "export", "-o", "exported"],
}


class Run(NamedTuple):
    """A command to time: its argv, environment additions, the checkout it runs from, its terminal's width."""

    argv: list[str]
    extra_env: dict[str, str]
    root: Path = ROOT
    columns: int = 0  # 0: output piped


def build_study(work: Path, trials: int) -> None:
    """A real study of ``trials`` trials in ``work/tune.db`` (configs under ``work/results``)."""
    (work / "c.jsonnet").write_text(CONFIG)
    (work / "space.json").write_text(json.dumps(SPACE))
    command = [sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--n-trials", str(trials)]
    command += ["--pruner", "none", "--command", "{python} -m tests.trainers.sleeper {config} {serialization_dir}"]
    subprocess.run(command, cwd=work, env=_env(), check=True, capture_output=True)


def _env(root: Path = ROOT) -> dict[str, str]:
    """``root`` (this checkout) first on the path; bytecode written and read as an installed package has it."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}


def time_once(work: Path, run: Run) -> float:
    """Seconds ``run`` takes, its output piped (or on a pseudo-terminal)."""
    started = time.perf_counter()
    env = {**_env(run.root), **run.extra_env}
    if run.columns:
        from tests.display.terminal import run_on_terminal  # it fails on a command that fails

        run_on_terminal(run.argv, run.columns, env, cwd=str(work))
        return time.perf_counter() - started
    done = subprocess.run(run.argv, check=False, cwd=work, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(run.argv[1:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the study here (reused when it already has tune.db)")
    parser.add_argument(
        "--with-optuna", action="store_true", help=f"also time each command with {ENV_READ_WITH_OPTUNA}=1"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help=f"a checkout of tuner before a change (git archive COMMIT | tar -x -C DIR): also time {BASELINE_COMMANDS}"
        " from it, interleaved",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests.display.terminal
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "tune.db").exists():
            started = time.perf_counter()
            build_study(work, args.trials)
            print(f"built a {args.trials}-trial study in {time.perf_counter() - started:.1f} s")
        runs = _runs(args.with_optuna, args.baseline)
        times: dict[str, list[float]] = {label: [] for label in runs}
        load_before = os.getloadavg()[0]
        for run in runs.values():
            time_once(work, run)  # once unmeasured: the page cache and __pycache__ as a user has them
        for _ in range(args.repeats):
            for label, run in runs.items():
                times[label].append(time_once(work, run))
    load = os.getloadavg()[0]
    loads = {"load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(load, 2)}
    print(json.dumps({"trials": args.trials, "repeats": args.repeats, **loads}))
    print(f"{'command':42s} {'median s':>9s} {'min-max s':>13s}")
    for label, values in times.items():
        print(f"{label:42s} {statistics.median(values):9.3f} {min(values):6.3f}-{max(values):<6.3f}")


def _runs(with_optuna: bool, baseline: Path | None) -> dict[str, Run]:
    """Every command to time, by label: ours, then through Optuna, then the baseline checkout's."""
    runs = {label: Run(argv, {}, columns=ON_TERMINAL.get(label, 0)) for label, argv in COMMANDS.items()}
    if with_optuna:  # the same commands through Optuna (the fast reader's fallback), interleaved
        for label, run in list(runs.items()):
            if run.argv[1:3] == ["-m", "tuner"] and "--version" not in run.argv:
                runs[f"{label} [optuna]"] = run._replace(extra_env={ENV_READ_WITH_OPTUNA: "1"})
    if baseline:
        for label in BASELINE_COMMANDS:
            runs[f"{label} [baseline]"] = runs[label]._replace(root=baseline.resolve())
    return runs


if __name__ == "__main__":
    main()
