"""Per-trial overhead of `tune`: plain subprocess launch, warm launch, and the in-process floor.

The trainer is this file (``python -m benchmarks.trial_overhead --train CONFIG DIR``): it imports
torch, as real trainers do, and trains a small MLP for 5 steps (forward, backward, Adam step on
64 x 16 inputs; ~3 ms in a warm process), so that torch's first-call costs in a fresh trial
process show. ``--trainer sleeper`` uses tests/trainers/sleeper.py instead (imports torch, no work).

* plain:  ``--launch plain``: a fresh interpreter per trial (imports torch each time).
* warm:   ``--launch warm``: trials forked from a worker that already imported torch.
* warm-no-ahead: the same, the next trial asked only once the last one's outcome is told (with one slot
  `tune` asks it while the last one runs and samples it after the tell; this mode shows what that saves).
* optuna: the floor: Optuna's own in-process ask/suggest/tell loop on SQLite in WAL mode
  (synchronous=NORMAL, as `tune` uses it), running the same training body in process, no
  process and no config per trial.

Wall per trial = the median interval between consecutive trial completions (steady state: the
warm worker's one-off start is left out). Overhead = that minus the median time the trainer itself
ran (from its first line to its last, as it records in work.json; for plain launch that includes
its torch import; for the floor, the training body). The modes run interleaved, --repeats rounds;
the table gives median and min-max over the rounds, and warm's overhead as a multiple of the
floor's in the same round. Run from the repository root:
    python benchmarks/trial_overhead.py --trials 50 --repeats 3 [--modes warm optuna]
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # a trial process's first line (as a trainer: before importing torch)

import argparse
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch  # at the top, as real trainers import it (warm launch then preloads it)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = (
    "{x: std.parseJson(std.extVar('x')), duration: 0, import_torch: true, trainer: {validation_metric: '+accuracy'}}"
)
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
COMMANDS = {
    "torch": "{python} -m benchmarks.trial_overhead --train {config} {serialization_dir}",
    "sleeper": "{python} -m tests.trainers.sleeper {config} {serialization_dir}",
}


def train_body(x: float) -> float:
    """The trainer's work: 5 steps of a small MLP on CPU; returns a value that depends on ``x``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, targets = torch.randn(64, 16), torch.randint(0, 2, (64,))
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return x + 0.0 * float(loss.detach())


def train(config_path: str, directory: str) -> None:
    """The trial process: the body, a metrics line for `tune`, and its own times in work.json."""
    config = json.loads(Path(config_path).read_text())
    work_start = time.time()
    value = train_body(float(config["x"]))
    metrics = os.environ.get("TUNER_METRICS_FILE")
    if metrics:
        with open(metrics, "a") as handle:
            handle.write(json.dumps({"epoch": 0, "validation_accuracy": value}) + "\n")
    end = time.time()
    times = {"process_start": PROCESS_START, "work_start": work_start, "end": end}
    Path(directory, "work.json").write_text(json.dumps(times))


def time_tune(work: Path, trials: int, launch: str, trainer: str) -> tuple[list[float], float]:
    """Intervals between trial completions, and the trainer's median own time."""
    from rich.console import Console

    import tuner
    import tuner.trials.ahead

    asks_ahead = tuner.trials.ahead.samples_only_when_suggested
    if launch == "warm-no-ahead":
        tuner.trials.ahead.samples_only_when_suggested = lambda sampler: False

    (work / "c.jsonnet").write_text(CONFIG)
    result = tuner.tune(
        config=work / "c.jsonnet",
        search_space=SPACE,
        n_trials=trials,
        storage=f"sqlite:///{work / 'tune.db'}",
        serialization_dir=work / "results",
        command=COMMANDS[trainer],
        warm_launch=launch != "plain",
        pruner="none",
        console=Console(file=io.StringIO()),
    )
    tuner.trials.ahead.samples_only_when_suggested = asks_ahead
    assert result.summary.finished["COMPLETE"] == trials, result.summary
    works = [json.loads(path.read_text()) for path in (work / "results").glob("trial_*/work.json")]
    own = statistics.median(item["end"] - item["process_start"] for item in works)
    return completion_intervals(result.study.trials), own


def time_optuna(work: Path, trials: int, trainer: str) -> tuple[list[float], float]:
    """The floor: ask, suggest, the same body in process, tell; SQLite in WAL mode."""
    import optuna
    import sqlalchemy

    storage = optuna.storages.RDBStorage(f"sqlite:///{work / 'optuna.db'}")

    def configure(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", configure)
    storage.engine.dispose()
    study = optuna.create_study(storage=storage, direction="maximize")
    own = []
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        started = time.perf_counter()
        value = train_body(x) if trainer == "torch" else x
        own.append(time.perf_counter() - started)
        study.tell(trial, value)
    return completion_intervals(study.trials), statistics.median(own)


def completion_intervals(trials: list) -> list[float]:
    ends = sorted(trial.datetime_complete.timestamp() for trial in trials)
    return [later - earlier for earlier, later in itertools.pairwise(ends)]


def main() -> None:
    if sys.argv[1:2] == ["--train"]:
        return train(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    modes = ("plain", "warm", "warm-no-ahead", "optuna")
    parser.add_argument("--modes", nargs="+", choices=modes, default=["plain", "warm", "optuna"])
    parser.add_argument("--trainer", choices=tuple(COMMANDS), default="torch")
    args = parser.parse_args()
    os.chdir(ROOT)  # `python -m benchmarks.trial_overhead` is found from here
    sys.path.insert(0, str(ROOT))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    wall: dict[str, list[float]] = {mode: [] for mode in args.modes}
    overhead: dict[str, list[float]] = {mode: [] for mode in args.modes}
    for _ in range(args.repeats):
        for mode in args.modes:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                if mode == "optuna":
                    intervals, own = time_optuna(work, args.trials, args.trainer)
                else:
                    intervals, own = time_tune(work, args.trials, mode, args.trainer)
                wall[mode].append(statistics.median(intervals) * 1000)
                overhead[mode].append((statistics.median(intervals) - own) * 1000)
    report(args, wall, overhead)


def report(args: argparse.Namespace, wall: dict[str, list[float]], overhead: dict[str, list[float]]) -> None:
    print(json.dumps({"trials": args.trials, "repeats": args.repeats, "trainer": args.trainer}))
    print(f"{'mode':13s} {'ms/trial (wall)':>16s} {'min-max':>14s} {'overhead ms':>12s} {'min-max':>14s}")
    for mode, values in wall.items():
        own = overhead[mode]
        print(
            f"{mode:13s} {statistics.median(values):16.1f} {min(values):6.1f}-{max(values):<7.1f} "
            f"{statistics.median(own):12.1f} {min(own):6.1f}-{max(own):<7.1f}"
        )
    for mode in ("warm", "warm-no-ahead"):
        if mode in overhead and "optuna" in overhead:
            ratios = [warm / floor for warm, floor in zip(overhead[mode], overhead["optuna"], strict=True)]
            print(
                f"{mode} overhead / floor overhead, per round: median {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f}); goal <= 1.5"
            )


if __name__ == "__main__":
    main()
