"""Per-trial overhead of `tune` itself, for a trivial trainer.

Three ways to run N trials of the same trivial trainer (tests/trainers/quadratic.py,
1 epoch, no sleep), each timed end to end:

* ``direct``:  the trainer launched N times with subprocess.run, no Optuna: the cost
  of the trainer process itself (interpreter start, its work, exit).
* ``tune``:    tuner.tune(...) with a SQLite study, N trials.
* ``optuna``:  an in-process Optuna loop (ask/suggest/tell, SQLite, no process): the
  floor any Optuna-based tool pays.

tune's own overhead per trial is (tune - direct) / N. Run:
    python benchmarks/trial_overhead.py --trials 50 --repeats 3
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
TRAINER = ROOT / "tests" / "trainers" / "quadratic.py"
CONFIG = "{x: std.parseJson(std.extVar('x')), epochs: 1, sleep: 0, trainer: {validation_metric: '+accuracy'}}"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 6.0}}


def time_direct(work: Path, trials: int) -> float:
    config = work / "direct.json"
    config.write_text(json.dumps({"x": 1.0, "epochs": 1, "sleep": 0}))
    started = time.perf_counter()
    for number in range(trials):
        out = work / f"direct_{number}"
        out.mkdir()
        subprocess.run([sys.executable, str(TRAINER), str(config), str(out)], check=True, stdout=subprocess.DEVNULL, env={**os.environ, "TUNER_METRICS_FILE": str(out / "m.jsonl")})
    return time.perf_counter() - started


def time_tune(work: Path, trials: int) -> float:
    from rich.console import Console

    import tuner

    (work / "c.jsonnet").write_text(CONFIG)
    started = time.perf_counter()
    result = tuner.tune(
        config=work / "c.jsonnet",
        search_space=SPACE,
        n_trials=trials,
        storage=f"sqlite:///{work / 'tune.db'}",
        serialization_dir=work / "results",
        command=f"{sys.executable} {TRAINER} {{config}} {{serialization_dir}}",
        pruner="none",
        console=Console(file=open(os.devnull, "w")),
    )
    elapsed = time.perf_counter() - started
    assert result.summary.finished["COMPLETE"] == trials, result.summary
    return elapsed


def time_optuna(work: Path, trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    study = optuna.create_study(storage=f"sqlite:///{work / 'optuna.db'}", direction="maximize")
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 6.0)
        study.tell(trial, 1.0 / (1.0 + (x - 3.0) ** 2))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_trial: dict[str, list[float]] = {"direct": [], "tune": [], "optuna": [], "tune_overhead": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            direct = time_direct(work, args.trials) / args.trials
            tuned = time_tune(work, args.trials) / args.trials
            floor = time_optuna(work, args.trials) / args.trials
        per_trial["direct"].append(direct)
        per_trial["tune"].append(tuned)
        per_trial["optuna"].append(floor)
        per_trial["tune_overhead"].append(tuned - direct)
    print(f"{args.trials} trials x {args.repeats} repeats; milliseconds per trial (median, min-max)")
    for name, values in per_trial.items():
        ms = [value * 1000 for value in values]
        print(f"  {name:14s} {statistics.median(ms):8.1f}   ({min(ms):.1f}-{max(ms):.1f})")


if __name__ == "__main__":
    main()
