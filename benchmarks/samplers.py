"""TPE against random search at equal trial counts on the digits study.

For each sampler and seed, one `tune` study of --trials trials of configs/digits_optuna.jsonnet over
search_spaces/digits.json (the default median pruner, --launch warm, one trial at a time so that TPE
sees every earlier result), in a fresh folder. The best value after the first 10, 20, 40 trials (by
trial number; pruned and failed trials count as trials and have no value) is read from the stored
study. --parallel studies run at once. Results go to --out as JSON lines as each study ends, and a
table of mean +- sample std per sampler and trial count is printed in Markdown.

Run from the repository root:
    python benchmarks/samplers.py --seeds 5 --trials 40 --parallel 2 --out /tmp/samplers.jsonl
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

from tuner.study.records import NOT_COUNTED_REASONS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits_optuna.jsonnet"
SPACE = ROOT / "search_spaces" / "digits.json"


def config_file(work: Path, epochs: int | None) -> Path:
    """The digits config, or a variant with ``epochs`` epochs (the rest unchanged)."""
    if epochs is None:
        return CONFIG
    path = work / "digits_fast.jsonnet"
    path.write_text(f"(import '{CONFIG}') + {{ trainer+: {{ num_epochs: {epochs} }} }}\n")
    return path


def run_study(sampler: str, seed: int, trials: int, epochs: int | None, extra: list[str]) -> dict:
    """One study in a fresh folder; the values of its counted trials, in trial order."""
    with tempfile.TemporaryDirectory(prefix=f"samplers-{sampler}-{seed}-") as name:
        work = Path(name)
        storage = f"sqlite:///{work / 'tune.db'}"
        command = [sys.executable, "-m", "tuner", str(config_file(work, epochs)), str(SPACE)]
        command += ["--n-trials", str(trials), "--sampler", sampler, "--seed", str(seed), "--storage", storage]
        command += ["--study-name", "digits", *extra]
        started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
        seconds = time.monotonic() - started
        study = optuna.load_study(study_name="digits", storage=storage)
        counted = [
            trial
            for trial in study.trials
            if trial.state.is_finished() and trial.user_attrs.get("reason") not in NOT_COUNTED_REASONS
        ]
        values = [trial.value if trial.state.name == "COMPLETE" else None for trial in counted[:trials]]
        return {"sampler": sampler, "seed": seed, "values": values, "seconds": round(seconds, 1)}


def best_after(values: list[float | None], count: int) -> float | None:
    done = [value for value in values[:count] if value is not None]
    return max(done) if done else None


def table(results: list[dict], checkpoints: list[int]) -> str:
    lines = ["| sampler | seeds | " + " | ".join(f"best after {k}" for k in checkpoints) + " |"]
    lines.append("|---|---|" + "---|" * len(checkpoints))
    for sampler in sorted({result["sampler"] for result in results}):
        runs = [result for result in results if result["sampler"] == sampler]
        cells = []
        for count in checkpoints:
            bests = [best_after(run["values"], count) for run in runs]
            bests = [value for value in bests if value is not None]
            spread = statistics.stdev(bests) if len(bests) > 1 else 0.0
            cells.append(f"{statistics.mean(bests):.4f} ± {spread:.4f}" if bests else "-")
        lines.append(f"| {sampler} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--samplers", nargs="+", default=["tpe", "random"])
    parser.add_argument("--parallel", type=int, default=2, help="studies run at once")
    parser.add_argument("--epochs", type=int, help="num_epochs of a faster config variant (default: the config's 15)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per study, appended")
    args = parser.parse_args()
    jobs = [(sampler, seed) for seed in range(args.seeds) for sampler in args.samplers]
    started = time.monotonic()
    with ThreadPoolExecutor(args.parallel) as pool, args.out.open("a") as out:
        futures = [pool.submit(run_study, sampler, seed, args.trials, args.epochs, []) for sampler, seed in jobs]
        results = []
        for future in futures:
            result = future.result()
            results.append(result)
            out.write(json.dumps(result) + "\n")
            out.flush()
            print(f"{result['sampler']} seed {result['seed']}: {result['seconds']} s", flush=True)
    print(f"{len(jobs)} studies, {len(jobs) * args.trials} trials in {time.monotonic() - started:.0f} s wall")
    print(table(results, args.checkpoints))


if __name__ == "__main__":
    main()
