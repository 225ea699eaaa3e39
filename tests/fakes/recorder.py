"""A trainer for GPU tests: records what it was given (argv, CUDA_VISIBLE_DEVICES), reports, no torch.

Config keys: x (float), epochs (int), and optionally ``hold``: a file to wait for before the first
epoch (the test creates it to let trials finish, so that they overlap for as long as it needs).
Writes ``seen.json`` in the serialization dir: argv, CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER, pid.
Usage: python recorder.py CONFIG SERIALIZATION_DIR [ANYTHING ...]
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tuner.contract import report, write_json_atomically


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    seen = {
        "argv": sys.argv[3:],
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER"),
        "pid": os.getpid(),
    }
    write_json_atomically(os.path.join(directory, "seen.json"), seen)
    hold = config.get("hold")
    while hold and not os.path.exists(hold):
        time.sleep(0.02)
    x, epochs = float(config["x"]), int(config.get("epochs", 1))
    for epoch in range(epochs):
        report(epoch, validation_accuracy=1.0 / (1.0 + (x - 3.0) ** 2) * (epoch + 1) / epochs)
    write_json_atomically(os.path.join(directory, "metrics.json"), {"best_validation_accuracy": x, "epoch": epochs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
