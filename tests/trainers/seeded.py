"""A tiny trainer for retrain tests: its accuracy is ``random_seed / 100 + offset``, no torch.

Config keys: random_seed (int), offset (float), epochs (int), fail_seed (a seed that
crashes), no_final (write no metrics.json), count_file (append one line per run).
Usage: python seeded.py CONFIG SERIALIZATION_DIR
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tuner.contract import report, write_json_atomically


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    seed = int(config["random_seed"])
    if config.get("count_file"):
        with open(config["count_file"], "a") as handle:
            handle.write(f"{seed}\n")
    if config.get("fail_seed") == seed:
        print("diverged on purpose", flush=True)
        return 3
    accuracy = seed / 100 + float(config.get("offset", 0.0))
    epochs = int(config.get("epochs", 2))
    for epoch in range(epochs):
        report(epoch, validation_accuracy=accuracy * (epoch + 1) / epochs)
    if not config.get("no_final"):
        write_json_atomically(os.path.join(directory, "metrics.json"), {"best_validation_accuracy": accuracy})
    return 0


if __name__ == "__main__":
    sys.exit(main())
