"""Per-trial overhead of `tune`: plain subprocess launch, warm launch, and the in-process floor.

The trainer (tests/trainers/sleeper.py, duration 0) imports torch, as real trainers do, and
does no work; so a trial's wall time is all overhead: tune's own (sampling, rendering the
Jsonnet config, storage writes, reading metrics) plus the trial process's start and exit.

* plain:  ``--launch plain``: a fresh interpreter per trial (imports torch each time).
* warm:   ``--launch warm``: trials forked from a worker that already imported torch.
* optuna: an in-process Optuna ask/suggest/tell loop on SQLite, no process, no config: the floor.

Wall per trial = the median interval between consecutive trial completions (steady state: the
warm worker's one-off start is left out). Overhead = that minus the median time the trainer itself
ran (from its first line to its last, as it records in work.json: its "own working time"; for plain
launch that includes its torch import). Medians over repeats. Run from the repository root:
    python benchmarks/trial_overhead.py --trials 50 --repeats 3 [--modes warm]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = (
    "{x: std.parseJson(std.extVar('x')), duration: 0, import_torch: true, trainer: {validation_metric: '+accuracy'}}"
)
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def time_tune(work: Path, trials: int, launch: str) -> tuple[list[float], float]:
    """Intervals between trial completions, and the trainer's median own time."""
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
        console=Console(file=io.StringIO()),
    )
    assert result.summary.finished["COMPLETE"] == trials, result.summary
    works = [json.loads(path.read_text()) for path in (work / "results").glob("trial_*/work.json")]
    own = statistics.median(item["end"] - item["process_start"] for item in works)
    return completion_intervals(result.study.trials), own


def time_optuna(work: Path, trials: int) -> tuple[list[float], float]:
    import optuna

    study = optuna.create_study(storage=f"sqlite:///{work / 'optuna.db'}", direction="maximize")
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
    return completion_intervals(study.trials), 0.0


def completion_intervals(trials: list) -> list[float]:
    ends = sorted(trial.datetime_complete.timestamp() for trial in trials)
    return [later - earlier for earlier, later in itertools.pairwise(ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=("plain", "warm", "optuna"), default=["plain", "warm", "optuna"])
    args = parser.parse_args()
    os.chdir(ROOT)  # `python -m tests.trainers.sleeper` is found from here
    sys.path.insert(0, str(ROOT))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    per_trial: dict[str, list[float]] = {mode: [] for mode in args.modes}
    overhead: dict[str, list[float]] = {mode: [] for mode in args.modes}
    for _ in range(args.repeats):
        for mode, medians in per_trial.items():
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                intervals, own = (
                    time_optuna(work, args.trials) if mode == "optuna" else time_tune(work, args.trials, mode)
                )
                medians.append(statistics.median(intervals))
                overhead[mode].append(statistics.median(intervals) - own)
    print(json.dumps({"trials": args.trials, "repeats": args.repeats}))
    print(f"{'mode':8s} {'ms/trial (wall)':>16s} {'min-max':>14s} {'overhead ms':>12s} {'min-max':>14s}")
    for mode, intervals in per_trial.items():
        wall = [value * 1000 for value in intervals]
        own = [value * 1000 for value in overhead[mode]]
        print(
            f"{mode:8s} {statistics.median(wall):16.1f} {min(wall):6.1f}-{max(wall):<7.1f} "
            f"{statistics.median(own):12.1f} {min(own):6.1f}-{max(own):<7.1f}"
        )


if __name__ == "__main__":
    main()
