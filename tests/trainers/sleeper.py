"""A trainer that sleeps ``config["duration"]`` seconds, then reports ``config["x"]``; no torch.

Run as ``python -m tests.trainers.sleeper CONFIG SERIALIZATION_DIR`` (or as a file). It records
the time it spent working in ``work.json``, so benchmarks can tell tune's overhead from the trial's.
"""

import json
import os
import sys
import time

start = time.time()
with open(sys.argv[1]) as config_file:
    config = json.load(config_file)
if config.get("import_torch"):
    import torch  # noqa: F401  - what a real trainer pays at start
work_start = time.time()
time.sleep(float(config.get("duration", 0)))
path = os.environ.get("TUNER_METRICS_FILE")
if path:
    with open(path, "a") as handle:
        handle.write(json.dumps({"epoch": 0, "validation_accuracy": float(config.get("x", 0))}) + "\n")
end = time.time()
with open(os.path.join(sys.argv[2], "work.json"), "w") as handle:
    json.dump({"process_start": start, "work_start": work_start, "end": end}, handle)
