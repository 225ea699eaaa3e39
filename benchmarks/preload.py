"""Wall time per trial of a small Lightning study: warm launch with and without ``--preload lightning``, and plain.

The trainer is a script that takes flags (``--lr {lr} --hidden {hidden}``, no Jsonnet config), a tiny
MLP on random data trained by ``lightning.pytorch.Trainer`` for ``--epochs`` epochs, reporting each
validation epoch with ``tuner.report``. It is written into a temporary folder twice: once importing
Lightning inside ``main()`` (the warm worker then imports only torch, unless ``--preload lightning``)
and once at its top (``tune`` then preloads Lightning by itself: the trainer names it).

Modes, each a fresh study of ``--trials`` trials in one slot, run in turn for ``--repeats`` rounds:

* ``plain``: ``--launch plain``, a fresh interpreter per trial (imports torch and Lightning).
* ``warm``: warm launch, Lightning imported in ``main()``: every trial imports it.
* ``warm-preload``: the same with ``--preload lightning``.
* ``warm-auto``: warm launch of the trainer that imports Lightning at its top, no option.

Per trial = the study's wall time (``tune`` started to ``tune`` ended, pre-flight and the worker's
start included) divided by the trials; and the median trial duration as ``tune`` records it (launch to
end). Run from the repository root:
    python benchmarks/preload.py --trials 8 --epochs 1 --repeats 1
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
    "hidden": {"type": "int", "low": 8, "high": 32},
}
TRAINER = """
import argparse
import torch  # at the top, as trainers do: warm workers import it
{top_import}

def main():
    {inner_import}
    from tuner import report

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--hidden", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    class Model(L.LightningModule):
        def __init__(self):
            super().__init__()
            hidden = args.hidden
            self.net = torch.nn.Sequential(torch.nn.Linear(16, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))

        def training_step(self, batch, _):
            inputs, targets = batch
            return torch.nn.functional.cross_entropy(self.net(inputs), targets)

        def validation_step(self, batch, _):
            inputs, targets = batch
            self.log("val_acc", (self.net(inputs).argmax(1) == targets).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=args.lr)

    class Report(L.Callback):
        def on_validation_epoch_end(self, trainer, module):
            if not trainer.sanity_checking:
                acc = float(trainer.callback_metrics["val_acc"])
                report(trainer.current_epoch, last_epoch=args.epochs - 1, validation_accuracy=acc)

    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(512, 16, generator=generator)
    data = torch.utils.data.TensorDataset(inputs, (inputs[:, 0] > 0).long())
    loader = torch.utils.data.DataLoader(data, batch_size=64)
    trainer = L.Trainer(
        max_epochs=args.epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[Report()],
    )
    trainer.fit(Model(), loader, loader)


if __name__ == "__main__":
    main()
"""
MODES = ("plain", "warm", "warm-preload", "warm-auto")


def write_trainers(folder: Path) -> None:
    inner = TRAINER.format(top_import="", inner_import="import lightning.pytorch as L")
    top = TRAINER.format(top_import="import lightning.pytorch as L", inner_import="")
    (folder / "lazy_lightning_train.py").write_text(inner)
    (folder / "lightning_train.py").write_text(top)
    (folder / "space.json").write_text(json.dumps(SPACE))


def run_mode(folder: Path, mode: str, trials: int, epochs: int, index: int) -> dict[str, float]:
    module = "lightning_train" if mode == "warm-auto" else "lazy_lightning_train"
    options = ["--launch", "plain"] if mode == "plain" else []
    options += ["--preload", "lightning"] if mode == "warm-preload" else []
    name = f"{mode}-{index}"
    trainer = f"{module} --lr {{lr}} --hidden {{hidden}} --epochs {epochs}"
    command = [
        sys.executable, "-m", "tuner", "space.json", "--module", trainer,
        "--n-trials", str(trials), "--study-name", name, "--metric", "best_validation_accuracy",
        "--direction", "maximize", "--pruner", "none", "--seed", "0", *options,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    return {"wall_per_trial": wall / trials, "median_trial": median_trial_seconds(folder, name)}


def median_trial_seconds(folder: Path, name: str) -> float:
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'tune.db'}")
    assert all(trial.state.name == "COMPLETE" for trial in study.trials), [t.user_attrs for t in study.trials]
    durations = []
    for trial in study.trials:
        launched = trial.user_attrs["launch"]["started"]
        durations.append(trial.datetime_complete.timestamp() - launched)
    return statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    options = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in options.modes}
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        write_trainers(folder)
        for index in range(options.repeats):
            for mode in options.modes:
                results[mode].append(run_mode(folder, mode, options.trials, options.epochs, index))
                print(mode, results[mode][-1], file=sys.stderr)
    print("| launch | wall s/trial (tune start to end / trials) | median trial s (launch to end) |")
    print("|---|---|---|")
    for mode, rows in results.items():
        wall = statistics.median(row["wall_per_trial"] for row in rows)
        trial = statistics.median(row["median_trial"] for row in rows)
        print(f"| {mode} | {wall:.2f} | {trial:.2f} |")


if __name__ == "__main__":
    main()
