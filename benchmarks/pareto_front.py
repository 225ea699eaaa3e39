"""Two objectives on the digits study: validation accuracy against parameter count, the front after 40 trials.

One study of configs/digits_optuna.jsonnet over search_spaces/digits.json with two objectives
(``--metric best_validation_accuracy --direction maximize --metric param_count --direction minimize``;
``param_count`` is the built-in trainer's count of trainable parameters), TPE with a fixed seed,
``--launch warm``, one trial at a time, and no pruner by default: the median pruner judges the first
objective's epochs, and small models that learn slowly, the front's other end, would be cut early.
Then the product draws the front: ``tune plot pareto --format png``, copied to --png. Prints the
load average before, the wall time, the counts by state and the front as a Markdown table.

Run from the repository root:
    python benchmarks/pareto_front.py --trials 40 --seed 0 --pruner none --png docs/pareto_digits.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits_optuna.jsonnet"
SPACE = ROOT / "search_spaces" / "digits.json"
OBJECTIVES = ["--metric", "best_validation_accuracy", "--direction", "maximize"]
OBJECTIVES += ["--metric", "param_count", "--direction", "minimize"]
STUDY = "pareto_digits"
SPACE_PARAMS = ("lr", "dropout", "hidden_dim", "num_filters", "batch_size", "optimizer")


def tune(work: Path, *args: str) -> float:
    """Run ``python -m tuner ARGS`` in ``work``; its wall time (a failure raises with its stderr's tail)."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tuner", *args]
    done = subprocess.run(command, check=False, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])}: exit {done.returncode}: {done.stderr[-2000:]}")
    return time.monotonic() - started


def front_table(study: optuna.Study) -> str:
    """The front by parameter count: each trial's two values and parameters."""
    front = sorted(study.best_trials, key=lambda trial: trial.values[1])
    params = list(SPACE_PARAMS)
    lines = ["| trial | accuracy | param_count | " + " | ".join(params) + " |"]
    lines.append("|---" * (3 + len(params)) + "|")
    for trial in front:
        cells = [_cell(trial.params.get(name)) for name in params]
        lines.append(f"| {trial.number} | {trial.values[0]:.4f} | {trial.values[1]:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruner", default="none", help="tune's --pruner (median: its default)")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "pareto_digits.png")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pareto-front-") as name:
        work = Path(name)
        storage = f"sqlite:///{work / 'tune.db'}"
        common = ["--storage", storage, "--study-name", STUDY]
        run = [str(CONFIG), str(SPACE), *common, *OBJECTIVES, "--n-trials", str(args.trials)]
        options = ["--seed", str(args.seed), "--sampler", "tpe", "--pruner", args.pruner, "--launch", "warm"]
        seconds = tune(work, *run, *options)
        tune(work, "plot", "pareto", "--format", "png", "-o", str(work / "plots"), *common)
        args.png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "plots" / "pareto_front.png", args.png)
        study = optuna.load_study(study_name=STUDY, storage=storage)
        counts = Counter(trial.state.name.lower() for trial in study.trials)
        print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
        print(f"pruner {args.pruner}, seed {args.seed}")
        states = ", ".join(f"{count} {state}" for state, count in counts.items())
        print(f"{len(study.trials)} trials in {seconds:.0f} s wall: {states}")
        print(f"front: {len(study.best_trials)} trials; plot: {args.png} ({args.png.stat().st_size} bytes)")
        print(front_table(study))


if __name__ == "__main__":
    main()
