"""A trainer that runs out of GPU memory when another trial shares its GPU; no torch, no GPU.

Each trial holds a marker file ``<shared_dir>/<CUDA_VISIBLE_DEVICES>/<pid>`` while it runs. Before each of
its ``epochs`` epochs (``sleep`` seconds each) it looks for another trial's marker on its GPU: finding one,
it prints torch's CUDA out-of-memory error and exits 1. Each run appends
``<trial number> <start> <end> <out of memory: True/False>`` (wall-clock seconds of its marker's life) to
``<shared_dir>/runs.log``.
Config keys: x (float, reported), epochs (int), sleep (seconds), shared_dir (path).
Usage: python gpu_sharing.py CONFIG SERIALIZATION_DIR
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from tuner.contract import report, write_json_atomically

OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
    "79.11 GiB of which 1.05 GiB is free."
)


def others_on_gpu(gpu_dir: str) -> bool:
    return any(name != str(os.getpid()) for name in os.listdir(gpu_dir))


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    gpu_dir = os.path.join(config["shared_dir"], os.environ.get("CUDA_VISIBLE_DEVICES", "cpu"))
    os.makedirs(gpu_dir, exist_ok=True)
    marker = os.path.join(gpu_dir, str(os.getpid()))
    started = time.time()
    open(marker, "w").close()
    out_of_memory = False
    try:
        for epoch in range(int(config["epochs"])):
            out_of_memory = others_on_gpu(gpu_dir)
            if out_of_memory:
                print(OOM, flush=True)
                return 1
            time.sleep(float(config["sleep"]))
            report(epoch, validation_accuracy=float(config["x"]) * (epoch + 1))
    finally:
        os.unlink(marker)
        with open(os.path.join(config["shared_dir"], "runs.log"), "a") as log:
            log.write(f"{os.environ.get('TUNER_TRIAL_NUMBER')} {started} {time.time()} {out_of_memory}\n")
    write_json_atomically(os.path.join(directory, "metrics.json"), {"best_validation_accuracy": float(config["x"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
