"""A trainer that misbehaves as its config says; no torch, no Optuna.

Config keys (rendered by tune):

* ``x`` (float): the value it reports as ``validation_accuracy`` when it behaves.
* ``fault``: what to do, for every trial; ``faults``: ``{"<trial number>": fault}``, which
  wins for the trials it names. Faults: ``ok``, ``exit`` (status 3), ``raise``, ``segv``,
  ``sigkill``, ``cuda_oom``, ``cpu_oom``, ``hang`` (no metrics, no exit), ``nan``, ``inf``
  (the objective in metrics.json), ``nan_epoch`` (an intermediate NaN, then good epochs), ``no_metric``,
  ``malformed`` (a metrics line that is not JSON), ``wrong_name`` (reports ``val_acc``),
  ``flood`` (``flood_mb`` MB of output, then ok), ``random`` (by ``x``: below 0.15 exit,
  below 0.25 hang, below 0.35 nan, else ok).
* ``spawn`` (bool): start a grandchild that sleeps in the trial's process group.
* ``escape`` (bool): start two grandchildren that leave the trial's process group: one in a
  process group of its own, one a daemon (double fork, ``setsid``).
* ``ignore_sigterm`` (bool): the trainer and its grandchildren ignore SIGTERM.
* ``sleep`` (seconds): wait this long before the fault, after the pids are written.

Every process it starts writes its pid to ``<serialization dir>/pids/<pid>``, so that a
test can check afterwards that none of them outlived the run.
Usage: python faulty.py CONFIG SERIALIZATION_DIR  (or python -m tests.trainers.faulty ...)
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from tuner.contract import report, write_json_atomically

GRANDCHILD = 'echo $$ > "$0/$$"; exec sleep 3600'


def record_pid(pids: str) -> None:
    os.makedirs(pids, exist_ok=True)
    with open(os.path.join(pids, str(os.getpid())), "w") as handle:
        handle.write(f"{os.getppid()}\n")  # tune or its warm worker: it must not outlive the run either


def spawn_grandchild(pids: str, ignore_sigterm: bool) -> None:
    before = set(os.listdir(pids))
    subprocess.Popen(["sh", "-c", ("trap '' TERM; " if ignore_sigterm else "") + GRANDCHILD, pids])
    while len(set(os.listdir(pids)) - before) < 1:  # its pid is on disk before the fault
        time.sleep(0.005)


def spawn_escapees(pids: str, ignore_sigterm: bool) -> None:
    """A grandchild in a process group of its own, and a daemon that double-forked into its own session."""
    before = set(os.listdir(pids))
    script = ("trap '' TERM; " if ignore_sigterm else "") + GRANDCHILD
    subprocess.Popen(["sh", "-c", script, pids], process_group=0)
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp("sh", ["sh", "-c", script, pids])
        os._exit(0)
    os.waitpid(middle, 0)
    while len(set(os.listdir(pids)) - before) < 2:
        time.sleep(0.005)


def choose(config: dict) -> str:
    number = os.environ.get("TUNER_TRIAL_NUMBER", "0")
    fault = config.get("faults", {}).get(number, config.get("fault", "ok"))
    if fault != "random":
        return fault
    x = float(config["x"])
    return "exit" if x < 0.15 else "hang" if x < 0.25 else "nan" if x < 0.35 else "ok"


def behave(fault: str, config: dict, directory: str) -> int:
    x = float(config["x"])
    if fault == "exit":
        print("giving up with status 3", flush=True)
        return 3
    if fault == "raise":
        raise RuntimeError("the trainer raised")
    if fault == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "cuda_oom":
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", flush=True)
        return 1
    if fault == "cpu_oom":
        print("MemoryError", flush=True)
        return 1
    if fault == "hang":
        time.sleep(3600)
    if fault == "malformed":
        with open(os.environ["TUNER_METRICS_FILE"], "a") as handle:
            handle.write("{epoch: 0, validation_accuracy: oops}\n")
        time.sleep(3600)  # tune must end it on reading the bad line
    if fault == "flood":
        block = ("x" * 1023 + "\n") * 1024
        for _ in range(int(config.get("flood_mb", 200))):
            sys.stdout.write(block)
        sys.stdout.flush()
    if fault == "nan_epoch":
        report(0, validation_accuracy=float("nan"))
    if fault == "no_metric":
        report(0, validation_loss=0.5)
        return 0
    if fault == "wrong_name":
        report(0, val_acc=x)
        return 0
    report(1, validation_accuracy=x)
    final = {"nan": float("nan"), "inf": float("inf")}.get(fault, x)  # the epochs were fine, the objective is not
    write_json_atomically(os.path.join(directory, "metrics.json"), {"best_validation_accuracy": final})
    return 0


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    pids = os.path.join(directory, "pids")
    if config.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record_pid(pids)
    if config.get("spawn"):
        spawn_grandchild(pids, bool(config.get("ignore_sigterm")))
    if config.get("escape"):
        spawn_escapees(pids, bool(config.get("ignore_sigterm")))
    time.sleep(float(config.get("sleep", 0)))
    return behave(choose(config), config, directory)


if __name__ == "__main__":
    sys.exit(main())
