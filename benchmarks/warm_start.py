"""Warm start against cold start: trials needed to reach a target value on the digits study.

For each seed s: a source study of 20 TPE trials (seed 100 + s) of configs/digits_optuna.jsonnet over
search_spaces/digits.json; then two new studies with TPE seed s, --target T and at most --max-trials
trials: a cold one, and a warm one started with --warm-start-from the source (its trials do not count).
Trials needed = the number of the study's own trials (in trial order, pruned and failed ones included)
up to and including the first whose value reaches T; "> max" when none did. Default pruner, one trial at
a time, --parallel studies at once. Results go to --out as JSON lines; a Markdown table is printed.

Run from the repository root:
    python benchmarks/warm_start.py --seeds 5 --target 0.99 --max-trials 40 --parallel 2 --out /tmp/warm.jsonl
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna

from tuner.study.records import ATTR_WARM_START_FROM, NOT_COUNTED_REASONS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits_optuna.jsonnet"
SPACE = ROOT / "search_spaces" / "digits.json"
SOURCE_TRIALS = 20


def tune(work: Path, name: str, seed: int, extra: list[str]) -> float:
    """Run one `tune` study named ``name`` in ``work``; its wall time."""
    command = [sys.executable, "-m", "tuner", str(CONFIG), str(SPACE), "--seed", str(seed), "--study-name", name]
    command += ["--storage", f"sqlite:///{work / 'tune.db'}", *extra]
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, check=False, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: exit {done.returncode}: {done.stderr[-2000:]}")
    return time.monotonic() - started


def own_values(work: Path, name: str) -> list[float | None]:
    """The values of the study's own counted trials in trial order (None: pruned or failed)."""
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{work / 'tune.db'}")
    own = [
        trial
        for trial in study.trials
        if trial.state.is_finished()
        and trial.user_attrs.get("reason") not in NOT_COUNTED_REASONS
        and ATTR_WARM_START_FROM not in trial.user_attrs
    ]
    return [trial.value if trial.state.name == "COMPLETE" else None for trial in own]


def needed(values: list[float | None], target: float) -> int | None:
    return next((index + 1 for index, value in enumerate(values) if value is not None and value >= target), None)


def run_seed(seed: int, target: float, max_trials: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"warm-start-{seed}-") as name:
        work = Path(name)
        source_seconds = tune(work, "source", 100 + seed, ["--n-trials", str(SOURCE_TRIALS)])
        source_best = max(value for value in own_values(work, "source") if value is not None)
        budget = ["--n-trials", str(max_trials), "--target", str(target)]
        result = {"seed": seed, "source_best": source_best, "source_seconds": round(source_seconds, 1)}
        for kind, extra in (("cold", []), ("warm", ["--warm-start-from", "source"])):
            seconds = tune(work, kind, seed, budget + extra)
            values = own_values(work, kind)
            result[kind] = {"needed": needed(values, target), "trials": len(values), "seconds": round(seconds, 1)}
        return result


def table(results: list[dict], max_trials: int) -> str:
    lines = ["| start | seeds | trials needed per seed | mean ± std (reached) | reached | wall s per study |"]
    lines.append("|---|---|---|---|---|---|")
    for kind in ("cold", "warm"):
        counts = [result[kind]["needed"] for result in results]
        reached = [count for count in counts if count is not None]
        shown = " ".join(str(count) if count is not None else f">{max_trials}" for count in counts)
        spread = statistics.stdev(reached) if len(reached) > 1 else 0.0
        summary = f"{statistics.mean(reached):.1f} ± {spread:.1f}" if reached else "-"
        seconds = statistics.mean(result[kind]["seconds"] for result in results)
        lines.append(
            f"| {kind} | {len(results)} | {shown} | {summary} | {len(reached)}/{len(results)} | {seconds:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--max-trials", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=2, help="seeds run at once")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per seed, appended")
    args = parser.parse_args()
    started = time.monotonic()
    results = []
    with ThreadPoolExecutor(args.parallel) as pool, args.out.open("a") as out:
        futures = [pool.submit(run_seed, seed, args.target, args.max_trials) for seed in range(args.seeds)]
        for future in futures:
            results.append(future.result())
            out.write(json.dumps(results[-1]) + "\n")
            out.flush()
            print(json.dumps(results[-1]), flush=True)
    print(f"{args.seeds} seeds in {time.monotonic() - started:.0f} s wall; target {args.target:g}")
    print("source studies' best values: " + " ".join(f"{result['source_best']:.4f}" for result in results))
    print(table(results, args.max_trials))


if __name__ == "__main__":
    main()
