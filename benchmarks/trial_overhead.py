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
* ray:    Ray Tune, the same body in a reused actor (``reuse_actors=True``), Optuna's TPE through
  Ray's OptunaSearch on the same storage; ray-memory: Ray's default, the Optuna study in memory
  only. Ray runs in its own virtual environment: ``--ray-python`` (see benchmarks/ray_tune_trials.py).

``--storage journal`` gives `tune`, the floor and Ray an Optuna journal file instead of SQLite.

Wall per trial = the median interval between consecutive trial completions (steady state: the
warm worker's one-off start is left out). Overhead = that minus the median time the trainer itself
ran (from its first line to its last, as it records in work.json; for plain launch that includes
its torch import; for the floor, the training body). The modes run interleaved, --repeats rounds;
the table gives median and min-max over the rounds, and warm's overhead as a multiple of the
floor's in the same round. Run from the repository root:
    python benchmarks/trial_overhead.py --trials 50 --repeats 3 [--modes warm optuna] [--storage journal]
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
import subprocess
import sys
import tempfile
from pathlib import Path

import torch  # at the top, as real trainers import it (warm launch then preloads it)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = (
    "{x: std.parseJson(std.extVar('x')), duration: 0, import_torch: true, trainer: {validation_metric: '+accuracy'}}"
)
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
STORAGE_KINDS = ("sqlite", "journal")
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


def storage_url(kind: str, work: Path, name: str = "study") -> str:
    """Where a mode keeps its study: an SQLite file or a journal file in ``work``."""
    return f"sqlite:///{work / name}.db" if kind == "sqlite" else f"journal:{work / name}.log"


def time_tune(work: Path, trials: int, launch: str, trainer: str, storage: str) -> tuple[list[float], float]:
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
        storage=storage_url(storage, work),
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


def time_optuna(work: Path, trials: int, trainer: str, storage_kind: str) -> tuple[list[float], float]:
    """The floor: ask, suggest, the same body in process, tell; on the storage opened as `tune` opens it
    (SQLite in WAL mode with synchronous=NORMAL, or a journal file)."""
    import optuna

    from tuner.study.storage import open_storage

    storage = open_storage(storage_url(storage_kind, work), must_exist=False)
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


def time_ray(work: Path, trials: int, python: str, storage: str) -> tuple[list[float], float]:
    """Ray Tune in its own interpreter (benchmarks/ray_tune_trials.py): its median interval and body time."""
    argv = [python, str(ROOT / "benchmarks" / "ray_tune_trials.py"), "--trials", str(trials), "--storage", storage]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"Ray Tune failed ({python}):\n{done.stderr[-2000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return [measured["interval"]], measured["own"]


def completion_intervals(trials: list) -> list[float]:
    ends = sorted(trial.datetime_complete.timestamp() for trial in trials)
    return [later - earlier for earlier, later in itertools.pairwise(ends)]


def main() -> None:
    if sys.argv[1:2] == ["--train"]:
        return train(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    modes = ("plain", "warm", "warm-no-ahead", "optuna", "ray", "ray-memory")
    parser.add_argument("--modes", nargs="+", choices=modes, default=["plain", "warm", "optuna"])
    parser.add_argument("--trainer", choices=tuple(COMMANDS), default="torch")
    parser.add_argument("--storage", choices=STORAGE_KINDS, default="sqlite")
    parser.add_argument("--ray-python", default=sys.executable, help="an interpreter with ray[tune] and torch")
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
                    intervals, own = time_optuna(work, args.trials, args.trainer, args.storage)
                elif mode.startswith("ray"):
                    ray_storage = "memory" if mode == "ray-memory" else storage_url(args.storage, work, "ray_study")
                    intervals, own = time_ray(work, args.trials, args.ray_python, ray_storage)
                else:
                    intervals, own = time_tune(work, args.trials, mode, args.trainer, args.storage)
                wall[mode].append(statistics.median(intervals) * 1000)
                overhead[mode].append((statistics.median(intervals) - own) * 1000)
    report(args, wall, overhead)


def report(args: argparse.Namespace, wall: dict[str, list[float]], overhead: dict[str, list[float]]) -> None:
    settings = {"trials": args.trials, "repeats": args.repeats, "trainer": args.trainer, "storage": args.storage}
    print(json.dumps(settings))
    print(f"{'mode':13s} {'ms/trial (wall)':>16s} {'min-max':>14s} {'overhead ms':>12s} {'min-max':>14s}")
    for mode, values in wall.items():
        own = overhead[mode]
        print(
            f"{mode:13s} {statistics.median(values):16.1f} {min(values):6.1f}-{max(values):<7.1f} "
            f"{statistics.median(own):12.1f} {min(own):6.1f}-{max(own):<7.1f}"
        )
    pairs = [(mode, "optuna") for mode in ("warm", "warm-no-ahead", "ray", "ray-memory")]
    pairs += [("warm", ray) for ray in ("ray", "ray-memory")]
    for mode, against in pairs:
        if mode in overhead and against in overhead:
            ratios = [ours / theirs for ours, theirs in zip(overhead[mode], overhead[against], strict=True)]
            goal = {"optuna": "; goal <= 1.5" if mode == "warm" else "", "ray": "; goal < 1", "ray-memory": ""}[against]
            print(
                f"{mode} overhead / {against} overhead, per round: median {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f}){goal}"
            )


if __name__ == "__main__":
    main()
