"""A test trainer that saves weights and a checkpoint and declares them (tuner.contract.declare_files); no torch.

Its value ("accuracy") is the sampled ``x`` itself, so the order of trials is known. Config keys:
x (number), epochs (int), sleep (seconds per epoch), peak_gpu_memory_mb (written to metrics.json when
given), check_best (before training, append to ../best_checks.txt whether the current best's weights,
by best_model/tuner_files.json, are still in its folder).
Usage: python weights.py CONFIG SERIALIZATION_DIR
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tuner.contract import declare_files, report, write_json_atomically

WEIGHTS = "model.th"
CHECKPOINT = "checkpoint.pt"


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    if config.get("check_best"):
        check_best(directory)
    x = float(config["x"])
    epochs = int(config.get("epochs", 2))
    declare_files(directory, weights=[WEIGHTS], checkpoints=[CHECKPOINT])
    for epoch in range(epochs):
        time.sleep(float(config.get("sleep", 0)))
        with open(os.path.join(directory, CHECKPOINT), "w") as handle:
            handle.write(f"checkpoint of x={x} at epoch {epoch}\n" * 100)
        report(epoch, validation_accuracy=x * (epoch + 1) / epochs)
    with open(os.path.join(directory, WEIGHTS), "w") as handle:
        handle.write(f"weights of x={x}\n")
    with open(os.path.join(directory, "notes.txt"), "w") as handle:  # not declared: never deleted
        handle.write("notes\n")
    final = {"best_validation_accuracy": x}
    if config.get("peak_gpu_memory_mb") is not None:
        final["peak_gpu_memory_mb"] = config["peak_gpu_memory_mb"]
    write_json_atomically(os.path.join(directory, "metrics.json"), final)
    return 0


def check_best(directory: str) -> None:
    results = os.path.dirname(os.path.abspath(directory))
    try:
        with open(os.path.join(results, "best_model", "tuner_files.json")) as handle:
            best_dir = json.load(handle)["trial_dir"]
    except OSError:
        return  # no best yet
    present = os.path.exists(os.path.join(best_dir, WEIGHTS))
    with open(os.path.join(results, "best_checks.txt"), "a") as handle:
        handle.write(f"{best_dir} {'present' if present else 'MISSING'}\n")


if __name__ == "__main__":
    sys.exit(main())
