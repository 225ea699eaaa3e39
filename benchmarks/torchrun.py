"""torchrun trials: what torchrun's own start adds per trial, and slot utilisation with 2-GPU groups.

The same trivial trainer (this file, ``trainer`` mode: import torch; under torchrun, a gloo process
group and one all_reduce; ``--work`` seconds of sleep; one report) runs as
1. ``torchrun``: ``{python} -m torch.distributed.run --standalone --nproc-per-node {n_gpus} ...``, 2 CPU ranks;
2. ``single``: ``{python} benchmarks/torchrun.py trainer ...``, one process;
3. ``torchrun-warm``: as 1 with ``--launch warm`` (the agent is forked from the slot's worker),
all with ``--gpus-per-trial 2`` on 8 fake GPUs (``TUNER_AVAILABLE_GPUS``), 1 and 2 with ``--launch plain``.
Two measurements, repeats interleaved:
* ``cycle``: one slot (``--gpus 0,1``), trials one after another. The cycle is the median time from one
  trial's launch to the next one's (tune's ``launch.started`` records); overhead = cycle - the trainer's
  own work (rank 0's clock from the end of its imports and process-group set-up to its end).
* ``utilisation``: 4 slots (8 fake GPUs), as ``parallel.py``: time inside trials (rank 0's clock, from its
  first line) / (4 x the window from the first trial's launch to the last trial's launch).

Run from the repository root:
    python benchmarks/torchrun.py --trials 8 --slot-trials 16 --repeats 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = (
    "{x: std.parseJson(std.extVar('x')), work: std.parseJson(std.extVar('work')), "
    "trainer: {validation_metric: '+accuracy'}}"
)
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
TRAINER = f"{Path(__file__).resolve()} trainer {{config}} {{serialization_dir}}"
TORCHRUN = f"{{python}} -m torch.distributed.run --standalone --nproc-per-node {{n_gpus}} {TRAINER}"
COMMANDS = {  # mode -> (command, --launch)
    "torchrun": (TORCHRUN, "plain"),
    "torchrun-warm": (TORCHRUN, "warm"),  # the agent forked from the slot's warm worker; the ranks fresh
    "single": (f"{{python}} {TRAINER}", "plain"),
}


def trainer(config_path: str, directory: str) -> None:
    """The trivial trainer: rank 0 writes work.json (its first line, after set-up, end: wall clock)."""
    first_line = time.time()
    import torch

    sys.path.insert(0, str(ROOT))
    from tuner.contract import is_rank_zero, report

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        dist.init_process_group("gloo")
        dist.all_reduce(torch.ones(1))
    set_up = time.time()
    config = json.loads(Path(config_path).read_text())
    time.sleep(float(config["work"]))
    report(0, validation_accuracy=float(config["x"]))
    if is_rank_zero():
        Path(directory, "metrics.json").write_text(json.dumps({"best_validation_accuracy": float(config["x"])}))
        Path(directory, "work.json").write_text(json.dumps({"first": first_line, "set_up": set_up, "end": time.time()}))


def run_tune(work: Path, mode: str, trials: int, gpus: str, seconds: float) -> list[dict]:
    """One `tune` run; per trial: its launch time (tune's record) and the trainer's work.json."""
    (work / "c.jsonnet").write_text(CONFIG)
    (work / "space.json").write_text(json.dumps(SPACE))
    command = [sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--pruner", "none", "--n-trials", str(trials)]
    template, launch = COMMANDS[mode]
    command += ["--gpus", gpus, "--gpus-per-trial", "2", "--launch", launch, "--ext-var", f"work={seconds}"]
    command += ["--storage", f"sqlite:///{work / 't.db'}", "--command", template]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNER_AVAILABLE_GPUS": "0,1,2,3,4,5,6,7"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    import optuna

    found = []
    for trial in optuna.load_study(study_name="c", storage=f"sqlite:///{work / 't.db'}").trials:
        launch = trial.user_attrs["launch"]
        record = json.loads((Path(launch["directory"]) / "work.json").read_text())
        found.append({**record, "launched": float(launch["started"])})
    assert len(found) == trials, len(found)
    return sorted(found, key=lambda item: item["launched"])


def cycle(records: list[dict]) -> dict[str, float]:
    """Median launch-to-launch time, the trainer's own work, and the launch-to-first-line time, in ms."""
    gaps = [after["launched"] - before["launched"] for before, after in itertools.pairwise(records)]
    return {
        "cycle_ms": 1000 * statistics.median(gaps),
        "work_ms": 1000 * statistics.median(item["end"] - item["set_up"] for item in records),
        "start_ms": 1000 * statistics.median(item["set_up"] - item["launched"] for item in records),
    }


def utilisation(records: list[dict], slots: int) -> float:
    first, last = records[0]["launched"], records[-1]["launched"]
    inside = sum(max(0.0, min(item["end"], last) - max(item["first"], first)) for item in records)
    return inside / (slots * (last - first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8, help="trials of each one-slot run")
    parser.add_argument("--slot-trials", type=int, default=16, help="trials of each 4-slot run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default=",".join(COMMANDS), help=f"some of {','.join(COMMANDS)}")
    parser.add_argument("--work", type=float, default=1.0, help="seconds of the trainer's own work per trial")
    args = parser.parse_args()
    modes = args.modes.split(",")
    results: dict[str, list] = {f"{mode} {kind}": [] for mode in modes for kind in ("cycle", "utilisation")}
    for _ in range(args.repeats):
        for mode in modes:  # interleaved: the machine's noise falls on both alike
            with tempfile.TemporaryDirectory() as folder:
                results[f"{mode} cycle"].append(cycle(run_tune(Path(folder), mode, args.trials, "0,1", args.work)))
            with tempfile.TemporaryDirectory() as folder:
                records = run_tune(Path(folder), mode, args.slot_trials, "all", args.work)
                results[f"{mode} utilisation"].append(utilisation(records, 4))
    for mode in modes:
        runs = results[f"{mode} cycle"]
        cycles = [run["cycle_ms"] for run in runs]
        overheads = [run["cycle_ms"] - run["work_ms"] for run in runs]
        starts = [run["start_ms"] for run in runs]
        shares = results[f"{mode} utilisation"]
        print(
            f"{mode:13} cycle {statistics.median(cycles):7.0f} ms ({min(cycles):.0f}-{max(cycles):.0f}); "
            f"overhead {statistics.median(overheads):6.0f} ms ({min(overheads):.0f}-{max(overheads):.0f}); "
            f"launch to set-up done {statistics.median(starts):6.0f} ms; "
            f"utilisation {statistics.median(shares):.3f} ({min(shares):.3f}-{max(shares):.3f})"
        )
    print(f"{args.repeats} repeats; {args.trials} trials per one-slot run, {args.slot_trials} per 4-slot run")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "trainer":
        trainer(sys.argv[2], sys.argv[3])
    else:
        main()
