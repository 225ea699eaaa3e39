"""Per-trial overhead of `tune`: plain subprocess launch, warm launch, and the in-process floor.

The trainer (tests/trainers/sleeper.py, duration 0) imports torch, as real trainers do, and
does no work; so a trial's wall time is all overhead: tune's own (sampling, rendering the
Jsonnet config, storage writes, reading metrics) plus the trial process's start and exit.

* plain:  ``--launch plain``: a fresh interpreter per trial (imports torch each time).
* warm:   ``--launch warm``: trials forked from a worker that already imported torch.
* optuna: an in-process Optuna ask/suggest/tell loop on SQLite, no process, no config: the floor.

Per trial = the median interval between consecutive trial completions (steady state: the warm
worker's one-off start is left out), and the median of that over repeats. Run from the repository root:
    python benchmarks/trial_overhead.py --trials 50 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "{x: std.parseJson(std.extVar('x')), duration: 0, import_torch: true, trainer: {validation_metric: '+accuracy'}}"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def time_tune(work: Path, trials: int, launch: str) -> list[float]:
    from rich.console import Console

    import tuner

    (work / "c.jsonnet").write_text(CONFIG)
    result = tuner.tune(
        config=work / "c.jsonnet",
        search_space=SPACE,
        n_trials=trials,
        storage=f"sqlite:///{work / 'tune.db'}",
        serialization_dir=work / "results",
        command="{python} -m tests.trainers.sleeper {config} {serialization_dir}",
        warm_launch=launch == "warm",
        pruner="none",
        console=Console(file=open(os.devnull, "w")),
    )
    assert result.summary.finished["COMPLETE"] == trials, result.summary
    return completion_intervals(result.study.trials)


def time_optuna(work: Path, trials: int) -> list[float]:
    import optuna

    study = optuna.create_study(storage=f"sqlite:///{work / 'optuna.db'}", direction="maximize")
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
    return completion_intervals(study.trials)


def completion_intervals(trials: list) -> list[float]:
    ends = sorted(trial.datetime_complete.timestamp() for trial in trials)
    return [later - earlier for earlier, later in zip(ends, ends[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.chdir(ROOT)  # `python -m tests.trainers.sleeper` is found from here
    sys.path.insert(0, str(ROOT))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    per_trial: dict[str, list[float]] = {"plain": [], "warm": [], "optuna": []}
    for _ in range(args.repeats):
        for mode in per_trial:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                intervals = time_optuna(work, args.trials) if mode == "optuna" else time_tune(work, args.trials, mode)
                per_trial[mode].append(statistics.median(intervals))
    print(json.dumps({"trials": args.trials, "repeats": args.repeats}))
    print(f"{'mode':8s} {'median ms/trial':>16s} {'min':>8s} {'max':>8s}")
    for mode, values in per_trial.items():
        ms = [value * 1000 for value in values]
        print(f"{mode:8s} {statistics.median(ms):16.1f} {min(ms):8.1f} {max(ms):8.1f}")


if __name__ == "__main__":
    main()
