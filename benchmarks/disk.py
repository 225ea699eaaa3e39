"""Disk of a study under each ``--keep-checkpoints`` setting (benchmarks/README.md, "Disk per --keep-checkpoints").

Runs the digits study (configs/digits_optuna.jsonnet + search_spaces/digits.json, the built-in trainer)
once per setting, each in its own folder with the same seed, and measures what the results folder holds
at the end: trial folders, best_model/ and the artifact store, each file counted once (hard links are
one file on disk), as apparent bytes and as allocated blocks (what ``du`` counts).

Only declared files are ever deleted. A built-in trainer that declares nothing (before helper A's
branch adds ``declare_files`` to it) makes every setting equal; ``--declare`` runs the trainer through
this script, which declares ``best.th`` as weights and ``checkpoint.pt`` as a checkpoint before the trainer
starts, the way the built-in trainer does after that merge. The output says which was used.

    python benchmarks/disk.py --n-trials 50 [--declare] [--settings best,top-5,all,none] [-o disk.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(directory: Path) -> dict[str, int]:
    """Apparent bytes and allocated bytes of the files under ``directory``, each inode once."""
    seen: set[tuple[int, int]] = set()
    apparent = allocated = files = 0
    for root, _, names in os.walk(directory):
        for name in names:
            info = os.lstat(os.path.join(root, name))
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            apparent += info.st_size
            allocated += info.st_blocks * 512
            files += 1
    return {"apparent_bytes": apparent, "allocated_bytes": allocated, "files": files}


def run_setting(setting: str, work: Path, n_trials: int, declare: bool, seed: int) -> dict[str, object]:
    """One study with ``--keep-checkpoints setting`` in ``work/setting``; what its results folder holds."""
    folder = work / setting
    folder.mkdir(parents=True)
    wrapper = f"{{python}} {Path(__file__).resolve()} --train {{config}} {{serialization_dir}}"
    command = (
        [sys.executable, "-m", "tuner", "run", str(ROOT / "configs/digits_optuna.jsonnet"),
         str(ROOT / "search_spaces/digits.json"), "--n-trials", str(n_trials), "--seed", str(seed),
         "--keep-checkpoints", setting, "-s", "results", "--n-jobs", "2"]
        + (["--command", wrapper] if declare else [])
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    completed = subprocess.run(command, check=False, cwd=folder, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{setting}: tune exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    results = folder / "results"
    parts = {
        "trial_folders": sum(measure(path)["apparent_bytes"] for path in results.glob("trial_*")),
        "best_model": measure(results / "best_model")["apparent_bytes"],
        "artifacts": measure(results / "artifacts")["apparent_bytes"],
    }
    weights = sum(1 for _ in results.glob("trial_*/best.th"))
    return {"setting": setting, "seconds": round(time.monotonic() - started, 1), **measure(results), **parts,
            "trial_folders_with_weights": weights}  # fmt: skip


def train_and_declare(config: str, directory: str) -> int:
    """``--train``: declare ``best.th`` and ``checkpoint.pt``, then run the built-in trainer (which may declare too)."""
    from tuner.contract import declare_files
    from tuner.train.cli import main

    # Declared before training, as a trainer should: a pruned trial is ended before it could declare afterwards.
    Path(directory).mkdir(parents=True, exist_ok=True)
    declare_files(Path(directory), weights=["best.th"], checkpoints=["checkpoint.pt"])
    return main([config, "-s", directory])


def table(rows: list[dict[str, object]], declared_by: str) -> str:
    lines = [
        f"declared by: {declared_by}",
        (
            "| --keep-checkpoints | results folder (MB, apparent) | allocated (MB) | files | trial folders (MB) "
            "| best_model/ (kB) | artifacts/ (MB) | trial folders still holding best.th | run (s) |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['setting']} | {row['apparent_bytes'] / 1e6:.2f} | {row['allocated_bytes'] / 1e6:.2f} | "
            f"{row['files']} | {row['trial_folders'] / 1e6:.2f} | {row['best_model'] / 1e3:.1f} | "
            f"{row['artifacts'] / 1e6:.2f} | {row['trial_folders_with_weights']} | {row['seconds']} |"
        )
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--train":
        return train_and_declare(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=50)
    parser.add_argument("--settings", default="best,top-5,all,none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--declare", action="store_true", help="declare best.th for a trainer that does not")
    parser.add_argument("-o", "--output", help="also write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tune-disk-") as work:
        rows = [run_setting(s, Path(work), args.n_trials, args.declare, args.seed) for s in args.settings.split(",")]
    declared_by = "benchmarks/disk.py --declare (best.th)" if args.declare else "the trainer itself"
    print(table(rows, declared_by))
    if args.output:
        Path(args.output).write_text(json.dumps({"declared_by": declared_by, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
