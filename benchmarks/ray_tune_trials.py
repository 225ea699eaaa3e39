"""Ray Tune's side of ``benchmarks/trial_overhead.py``: the same training body as a Ray Tune trial.

Ray Tune runs a function trainable in a reused actor (``reuse_actors=True``): every trial in one
long-lived process, no process or config per trial (and no isolation between trials). Its search is
Optuna's TPE through Ray's ``OptunaSearch``, one trial at a time, on 2 CPUs. ``--storage memory`` is
Ray's default (the Optuna study only in memory); a storage URL (``sqlite:///PATH``, ``journal:PATH``) gives
``OptunaSearch`` the storage that ``tune`` and the floor use in the same run.

Ray is not one of tune's dependencies: install it in a virtual environment of its own, with torch,
and pass its interpreter to trial_overhead.py (``--ray-python``), which runs this file with it:
    python -m venv /tmp/ray && /tmp/ray/bin/pip install torch==2.13.0 'ray[tune]' optuna
Prints one JSON line: the median interval between trial ends and the body's median time, in seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.trial_overhead import train_body


def trainable(config: dict[str, Any]) -> None:
    """One trial: the body, and its own start and end in the reported result."""
    from ray import tune

    started = time.time()
    value = train_body(config["x"])
    tune.report({"accuracy": value, "body_start": started, "body_end": time.time()})


def optuna_storage(spec: str) -> Any:
    """The Optuna storage for ``memory`` (None: OptunaSearch's own in-memory study) or a storage URL,
    opened as `tune` opens it."""
    from tuner.study.storage import open_storage

    return None if spec == "memory" else open_storage(spec, must_exist=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--storage", default="memory", help="memory, or a storage URL (sqlite:///PATH, journal:PATH)")
    args = parser.parse_args()

    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as folder:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"x": tune.uniform(0.0, 1.0)},
            tune_config=tune.TuneConfig(
                metric="accuracy",
                mode="max",
                num_samples=args.trials,
                max_concurrent_trials=1,
                search_alg=OptunaSearch(storage=optuna_storage(args.storage)),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(storage_path=folder, verbose=0),
        )
        results = tuner.fit()
    ray.shutdown()
    ends = sorted(result.metrics["body_end"] for result in results)
    intervals = [later - earlier for earlier, later in itertools.pairwise(ends)]
    body = statistics.median(result.metrics["body_end"] - result.metrics["body_start"] for result in results)
    print(json.dumps({"interval": statistics.median(intervals), "own": body}))


if __name__ == "__main__":
    main()
