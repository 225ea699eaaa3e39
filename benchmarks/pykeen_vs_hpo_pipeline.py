"""`tune` + the PyKEEN trainer vs PyKEEN's own `hpo_pipeline`, TransE on Nations, matched space, trials, epochs.

    python benchmarks/pykeen_vs_hpo_pipeline.py [--trials 8] [--epochs 8] [--repetitions 3]

Each repetition r runs, with TPE seeded r, each runner in a fresh Python process timed from outside
(so both pay their imports of torch and PyKEEN):
  * hpo_pipeline: PyKEEN's default ranges, objective = validation MRR after the last epoch;
  * tune (no pruning, metric validation_mrr): the same objective, the same space as hpo_pipeline
    really samples it (PyKEEN's parameter names, in its order, lr linear: see docs/pykeen.md);
  * tune (defaults: median pruner, best_validation_mrr over evaluations every 2 epochs), same space;
  * tune doing hpo_pipeline's work only (`--runners hpo,tune-equal`): no pruning, validation only after
    the last epoch, no evaluation on the test triples.
Prints whether each tune run drew the same parameters as hpo_pipeline, and a Markdown table of the
best objective value and wall time (median, min-max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMAND = f"{sys.executable} -m tuner.pykeen_trainer {{config}} -s {{serialization_dir}}"  # this venv's python
# The space hpo_pipeline samples for TransE + MarginRankingLoss + Adam + basic sampler + sLCWA (PyKEEN 1.11),
# in the order it suggests them: Adam's lr is written 'scale': 'log', which suggest_kwargs ignores for floats.
MATCHED_SPACE = {
    "model.embedding_dim": {"type": "int", "low": 16, "high": 256, "step": 16},
    "model.scoring_fct_norm": {"type": "int", "low": 1, "high": 2},
    "loss.margin": {"type": "float", "low": 0, "high": 3},
    "optimizer.lr": {"type": "float", "low": 0.001, "high": 0.1},
    "negative_sampler.num_negs_per_pos": {"type": "int", "low": 1, "high": 100, "log": True},
    "training.batch_size": {"type": "int", "scale": "power_two", "low": 4, "high": 12},
}
RENAMED = {name.split(".")[1]: name for name in MATCHED_SPACE}
RUNNERS = {
    "hpo": "pykeen hpo_pipeline (in-process trials)",
    "tune": "tune, no pruning, metric validation_mrr",
    "tune-defaults": "tune defaults (median pruner, best_validation_mrr)",
    "tune-equal": "tune, no pruning, validation after the last epoch only, no test evaluation",
}
DEFAULT_RUNNERS = "hpo,tune,tune-defaults"


def run_hpo_pipeline(trials: int, epochs: int, seed: int) -> dict:
    from pykeen.hpo import hpo_pipeline

    result = hpo_pipeline(
        n_trials=trials,
        dataset="nations",
        model="TransE",
        loss="marginranking",
        optimizer="adam",
        training_loop="slcwa",
        negative_sampler="basic",
        training_kwargs={"num_epochs": epochs, "use_tqdm": False},
        evaluation_kwargs={"batch_size": 1024, "use_tqdm": False},
        sampler="tpe",
        sampler_kwargs={"seed": seed},
    )
    return {"best": result.study.best_value, "params": [trial.params for trial in result.study.trials]}


def run_tune(trials: int, epochs: int, seed: int, work: Path, *, pruned: bool, equal_work: bool = False) -> dict:
    import optuna
    import rich.console

    import tuner

    text = (REPO / "configs" / "nations_transe.jsonnet").read_text()
    for name, matched in RENAMED.items():
        text = text.replace(f"std.extVar('{name}')", f"std.extVar('{matched}')")
    config = work / "nations.jsonnet"
    extra = f", trainer+: {{eval_every: {epochs}}}, use_testing_data: false" if equal_work else ""
    config.write_text(f"({text}) + {{training_kwargs+: {{num_epochs: {epochs}}}{extra}}}")
    space = work / "space.json"
    space.write_text(json.dumps(MATCHED_SPACE))
    options = {} if pruned else {"pruner": "none", "metric": "validation_mrr"}
    storage = f"sqlite:///{work / 'tune.db'}"
    with open(work / "console.txt", "w") as sink:
        result = tuner.tune(
            config=config,
            search_space=space,
            n_trials=trials,
            seed=seed,
            command=COMMAND,
            storage=storage,
            serialization_dir=work / "results",
            console=rich.console.Console(file=sink),
            **options,
        )
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    return {"best": result.best_value, "params": [trial.params for trial in study.trials]}


def run_one(args: argparse.Namespace) -> None:
    """The child: one runner, one seed; prints its result as one JSON line."""
    if args.one == "hpo":
        result = run_hpo_pipeline(args.trials, args.epochs, args.seed)
    else:
        result = run_tune(
            args.trials,
            args.epochs,
            args.seed,
            Path(args.work),
            pruned=args.one == "tune-defaults",
            equal_work=args.one == "tune-equal",
        )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--runners", default=DEFAULT_RUNNERS, help=f"comma-separated, of: {', '.join(RUNNERS)}")
    parser.add_argument("--one", choices=RUNNERS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return
    chosen = {name: RUNNERS[name] for name in args.runners.split(",")}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    for seed in range(args.repetitions):
        drawn = {}
        for name, title in chosen.items():
            with tempfile.TemporaryDirectory() as work:
                command = [
                    sys.executable,
                    __file__,
                    "--one",
                    name,
                    "--seed",
                    str(seed),
                    "--work",
                    work,
                    "--trials",
                    str(args.trials),
                    "--epochs",
                    str(args.epochs),
                ]
                started = time.perf_counter()
                output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=work).stdout
                seconds = time.perf_counter() - started
            result = json.loads(output.strip().splitlines()[-1])
            drawn[name] = result["params"]
            results[name].append((result["best"], seconds))
            same = (
                ""
                if "hpo" not in drawn or name == "hpo"
                else f"; same parameters as hpo_pipeline: {_same(drawn['hpo'], result['params'])}"
            )
            print(f"seed {seed}: {title}: best {result['best']:.4f} in {seconds:.1f} s{same}", flush=True)
    print(
        f"\n{args.trials} trials x {args.epochs} epochs, {args.repetitions} repetitions (seeds "
        f"0..{args.repetitions - 1})\n"
    )
    print("| runner | best MRR, median (min-max) | wall time s, median (min-max) |")
    print("|---|---|---|")
    for name, pairs in results.items():
        values, seconds = [p[0] for p in pairs], [p[1] for p in pairs]
        print(f"| {chosen[name]} | {_spread(values, '.3f')} | {_spread(seconds, '.1f')} |")


def _same(first: list[dict], second: list[dict]) -> str:
    """How many trials drew identical parameters (floats to 12 significant digits)."""

    def rounded(params: dict) -> dict:
        return {key: float(f"{value:.12g}") if isinstance(value, float) else value for key, value in params.items()}

    equal = sum(rounded(a) == rounded(b) for a, b in zip(first, second))
    return f"{equal}/{max(len(first), len(second))} trials"


def _spread(numbers: list[float], spec: str) -> str:
    return f"{statistics.median(numbers):{spec}} ({min(numbers):{spec}}-{max(numbers):{spec}})"


if __name__ == "__main__":
    main()
