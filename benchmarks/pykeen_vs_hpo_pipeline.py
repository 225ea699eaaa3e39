"""`tune` + the PyKEEN trainer vs PyKEEN's own `hpo_pipeline`, TransE on Nations, same space, trials, epochs.

    python benchmarks/pykeen_vs_hpo_pipeline.py [--trials 10] [--epochs 10] [--repetitions 3]

Each repetition r runs, with TPE seeded r:
  * hpo_pipeline: in-process, PyKEEN's default ranges, objective = validation MRR after the last epoch;
  * tune (no pruning, metric validation_mrr): the same objective, one subprocess per trial;
  * tune (defaults: median pruner, best_validation_mrr over evaluations every 2 epochs).
Prints a Markdown table of the best objective value and wall time (median, min-max).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMAND = "python -m tuner.pykeen_trainer {config} -s {serialization_dir}"


def run_hpo_pipeline(trials: int, epochs: int, seed: int) -> float:
    from pykeen.hpo import hpo_pipeline

    result = hpo_pipeline(
        n_trials=trials, dataset="nations", model="TransE", loss="marginranking", optimizer="adam",
        training_loop="slcwa", negative_sampler="basic",
        training_kwargs={"num_epochs": epochs, "use_tqdm": False},
        evaluation_kwargs={"batch_size": 1024, "use_tqdm": False},
        sampler="tpe", sampler_kwargs={"seed": seed},
    )
    return result.study.best_value


def run_tune(trials: int, epochs: int, seed: int, work: Path, *, pruned: bool) -> float:
    import rich.console

    import tuner

    config = work / "nations.jsonnet"
    config.write_text(
        f"(import '{REPO / 'configs' / 'nations_transe.jsonnet'}') + {{training_kwargs+: {{num_epochs: {epochs}}}}}"
    )
    options = {} if pruned else {"pruner": "none", "metric": "validation_mrr"}
    with open(os.devnull, "w") as sink:
        result = tuner.tune(
            config=config, search_space=REPO / "search_spaces" / "nations_transe.json", n_trials=trials, seed=seed,
            command=COMMAND, storage=f"sqlite:///{work / 'tune.db'}", serialization_dir=work / "results",
            console=rich.console.Console(file=sink), **options,
        )
    return result.best_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    runners = {
        "pykeen hpo_pipeline (in-process)": lambda seed, work: run_hpo_pipeline(args.trials, args.epochs, seed),
        "tune, no pruning, metric validation_mrr": lambda seed, work: run_tune(
            args.trials, args.epochs, seed, work, pruned=False),
        "tune defaults (median pruner, best_validation_mrr)": lambda seed, work: run_tune(
            args.trials, args.epochs, seed, work, pruned=True),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for seed in range(args.repetitions):
        for name, runner in runners.items():
            with tempfile.TemporaryDirectory() as work:
                started = time.perf_counter()
                value = runner(seed, Path(work))
                results[name].append((value, time.perf_counter() - started))
            print(f"seed {seed}: {name}: best {value:.4f} in {results[name][-1][1]:.1f} s", flush=True)
    print(f"\n{args.trials} trials x {args.epochs} epochs, {args.repetitions} repetitions (seeds 0..{args.repetitions - 1})\n")
    print("| runner | best MRR, median (min-max) | wall time s, median (min-max) |")
    print("|---|---|---|")
    for name, pairs in results.items():
        values, seconds = [p[0] for p in pairs], [p[1] for p in pairs]
        print(f"| {name} | {_spread(values, '.3f')} | {_spread(seconds, '.1f')} |")


def _spread(numbers: list[float], spec: str) -> str:
    return f"{statistics.median(numbers):{spec}} ({min(numbers):{spec}}-{max(numbers):{spec}})"


if __name__ == "__main__":
    main()
