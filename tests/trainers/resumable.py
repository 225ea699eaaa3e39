"""A trainer that checkpoints its epoch and, started with TUNER_RESUME=1, continues after it; no torch.

Config keys (rendered by tune):

* ``x`` (float), ``epochs`` (int): epoch ``e`` reports ``validation_accuracy = x * (e + 1) / epochs``.
* ``hang_times`` (int): hang (sleep for an hour) after an epoch from ``hang_after`` on (default 0), at most
  this many times per trial folder (each hang leaves a ``hung-<k>`` file there), so that a test can
  interrupt it; default 0.
* ``on_sigterm``: ``"checkpoint"`` (take ``save_seconds`` to write the checkpoint, then exit 0) or
  ``"ignore"``; default: die as usual.
* ``ignore_resume`` (bool): a third-party trainer that knows nothing of TUNER_RESUME: always starts over.

It writes ``checkpoint.json`` (atomically, after each epoch's report) and appends what happens to
``events.log``: ``start resume=<TUNER_RESUME> argv_resume=<--resume given> from=<epoch>``,
``epoch <e>``, ``hanging after <e>``, ``sigterm``, ``checkpoint written``, ``done`` (and prints it). Its pid goes to
``pids/<pid>`` as the faulty trainer's does.
Usage: python resumable.py CONFIG SERIALIZATION_DIR [--resume]
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from tuner.contract import is_resumed, report, write_json_atomically


def event(directory: str, text: str) -> None:
    with open(os.path.join(directory, "events.log"), "a") as handle:
        handle.write(text + "\n")
    print(text, flush=True)  # and to the trial's log


def start_epoch(directory: str, config: dict) -> int:
    """The epoch to run first: after the checkpoint's, when resumed and the trainer cares."""
    checkpoint = os.path.join(directory, "checkpoint.json")
    if config.get("ignore_resume") or not is_resumed() or not os.path.exists(checkpoint):
        return 0
    with open(checkpoint) as handle:
        return json.load(handle)["epoch"] + 1


def handle_sigterm(directory: str, config: dict, state: dict) -> None:
    def on_sigterm(signum: int, frame: object) -> None:
        event(directory, "sigterm")
        if config.get("on_sigterm") == "checkpoint":
            time.sleep(float(config.get("save_seconds", 0)))  # a large model takes a while to save
            write_json_atomically(os.path.join(directory, "checkpoint.json"), {"epoch": state["epoch"]})
            event(directory, "checkpoint written")
            os._exit(0)

    if config.get("on_sigterm") == "ignore":
        signal.signal(signal.SIGTERM, lambda signum, frame: event(directory, "sigterm"))
    elif config.get("on_sigterm") == "checkpoint":
        signal.signal(signal.SIGTERM, on_sigterm)


def hang_if_asked(directory: str, config: dict, epoch: int) -> None:
    hung = len([name for name in os.listdir(directory) if name.startswith("hung-")])
    if hung < int(config.get("hang_times", 0)) and epoch >= int(config.get("hang_after", 0)):
        open(os.path.join(directory, f"hung-{hung + 1}"), "w").close()
        event(directory, f"hanging after {epoch}")
        time.sleep(3600)


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    os.makedirs(os.path.join(directory, "pids"), exist_ok=True)
    with open(os.path.join(directory, "pids", str(os.getpid())), "w") as handle:
        handle.write(f"{os.getppid()}\n")
    x, epochs = float(config["x"]), int(config["epochs"])
    first = start_epoch(directory, config)
    state = {"epoch": first - 1}
    handle_sigterm(directory, config, state)
    resume_env, resume_flag = os.environ.get("TUNER_RESUME", "-"), "--resume" in sys.argv[3:]
    event(directory, f"start resume={resume_env} argv_resume={resume_flag} from={first}")
    for epoch in range(first, epochs):
        report(epoch, validation_accuracy=x * (epoch + 1) / epochs)
        write_json_atomically(os.path.join(directory, "checkpoint.json"), {"epoch": epoch})
        state["epoch"] = epoch
        event(directory, f"epoch {epoch}")
        hang_if_asked(directory, config, epoch)
    write_json_atomically(os.path.join(directory, "metrics.json"), {"best_validation_accuracy": x})
    event(directory, "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
