"""A tiny two-objective trainer for tests (no torch): accuracy peaks at x = 3, size grows with x.

Per epoch it reports validation_accuracy (scaled up over the epochs, as training does); metrics.json
has best_validation_accuracy and size = 10 * x + 1, so that x < 3 trades accuracy for size.
Usage: python multi_objective_trainer.py CONFIG SERIALIZATION_DIR
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
    x, epochs = float(config["x"]), int(config.get("epochs", 3))
    best = 0.0
    for epoch in range(epochs):
        accuracy = 1.0 / (1.0 + (x - 3.0) ** 2) * (epoch + 1) / epochs
        report(epoch, validation_accuracy=accuracy, last_epoch=epochs - 1)
        best = max(best, accuracy)
    final = {"best_validation_accuracy": best, "size": 10.0 * x + 1.0}
    write_json_atomically(os.path.join(directory, "metrics.json"), final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
