"""Render cost per trial config, by Jsonnet engine, on the bundled configs at random interior points.

* cpp:       the C++ binding (``jsonnet``), in process: the engine `tune` used before.
* rjsonnet:  the Rust engine (``rjsonnet``), in process, if installed: the former fast path, unsound.
* go:        go-jsonnet's binding (``gojsonnet``), in process.
* tune:      `tune`'s render path: go-jsonnet in the render process (time and memory bounded),
             request and answer over a pipe, answer parsed: what a trial pays now.

Engines are interleaved render by render, so machine load falls on all alike. Run from the root:
    python benchmarks/jsonnet_engines.py --renders 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna

from tuner.config import jsonnet_engine
from tuner.config.preflight import prepare_config
from tuner.config.snapshot import capture_config, ext_var_string
from tuner.config.sources import load_search_space

BUNDLED = [
    ("configs/digits_optuna.jsonnet", "search_spaces/digits.json"),
    ("configs/imdb_optuna.jsonnet", "search_spaces/imdb.json"),
]


def engines(snapshot) -> dict:
    import _gojsonnet
    import _jsonnet

    entry, text = snapshot.entry, snapshot.files[snapshot.entry]
    found = {
        "cpp": lambda ext: _jsonnet.evaluate_snippet(entry, text, ext_vars=ext),
        "go": lambda ext: _gojsonnet.evaluate_snippet(entry, text, ext_vars=ext),
        "tune": lambda ext: jsonnet_engine.parse_rendered(jsonnet_engine.render(entry, snapshot.files, ext)),
    }
    try:
        import rjsonnet

        found["rjsonnet"] = lambda ext: rjsonnet.evaluate_snippet(entry, text, ext_vars=ext)
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("| config | engine | median ms | min ms | p90 ms |\n|---|---|---|---|---|")
    for config, space_path in BUNDLED:
        space = load_search_space(ROOT / space_path)
        snapshot = prepare_config(capture_config(ROOT / config), space, {}, environ={}).snapshot
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        by_engine = engines(snapshot)
        times: dict[str, list[float]] = {name: [] for name in by_engine}
        jsonnet_engine.render("warm-up", {"warm-up": "{}"}, {})
        for _ in range(args.renders):
            trial = study.ask()
            params = space.suggest(trial)
            study.tell(trial, 0.0)
            ext_vars = {**snapshot.fixed_ext_vars, **{name: ext_var_string(value) for name, value in params.items()}}
            for name, render in by_engine.items():
                start = time.perf_counter()
                render(ext_vars)
                times[name].append((time.perf_counter() - start) * 1000)
        for name, values in times.items():
            values.sort()
            p90 = values[int(0.9 * (len(values) - 1))]
            print(f"| {Path(config).name} | {name} | {statistics.median(values):.2f} | {values[0]:.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
