"""A tiny trainer for tests: its "accuracy" peaks at x = 3, per epoch, no torch.

Config keys (rendered by tune): x (float), epochs (int), sleep (seconds per epoch),
and optional behaviours: declare_last_epoch (report ``last_epoch``),
fail_at_epoch, nan_at_epoch, exit_code, no_final, hang,
dump_env (write the TUNER_* environment to env.json in the serialization dir, and the process's
start and end times to times.json).
Usage: python quadratic.py CONFIG SERIALIZATION_DIR
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tuner.contract import report, write_json_atomically


def main() -> int:
    started = time.time()
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        dump_env = json.load(handle).get("dump_env")
    status = train(config_path, directory)
    if dump_env:
        write_json_atomically(os.path.join(directory, "times.json"), {"start": started, "end": time.time()})
    return status


def train(config_path: str, directory: str) -> int:
    with open(config_path) as handle:
        config = json.load(handle)
    x = float(config["x"])
    epochs = int(config.get("epochs", 3))
    best = None
    if config.get("dump_env"):
        seen = {key: value for key, value in os.environ.items() if key.startswith(("TUNER_", "CUDA_VISIBLE"))}
        write_json_atomically(os.path.join(directory, "env.json"), seen)
    for epoch in range(epochs):
        if config.get("hang"):
            time.sleep(3600)
        time.sleep(float(config.get("sleep", 0)))
        if config.get("fail_at_epoch") == epoch:
            print("something went wrong in epoch", epoch, flush=True)
            return int(config.get("exit_code", 1))
        accuracy = 1.0 / (1.0 + (x - 3.0) ** 2) * (epoch + 1) / epochs
        if config.get("nan_at_epoch") == epoch:
            accuracy = float("nan")
        last = {"last_epoch": epochs - 1} if config.get("declare_last_epoch") else {}
        report(epoch, validation_accuracy=accuracy, validation_loss=1 - accuracy, **last)
        print(f"epoch {epoch} accuracy {accuracy}", flush=True)
        best = accuracy if best is None else max(best, accuracy)
    if not config.get("no_final"):
        write_json_atomically(
            os.path.join(directory, "metrics.json"), {"best_validation_accuracy": best, "epoch": epochs - 1}
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
