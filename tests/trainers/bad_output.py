"""A trainer whose output files are bad as its config says; no torch, no Optuna.

Config keys (rendered by tune): ``x`` (float), reported as ``validation_accuracy``; ``faults``:
``{"<trial number>": output}`` for the trials it names, the others behave. Outputs:

* ``line_not_utf8``, ``final_not_utf8``: an epoch line / ``metrics.json`` with a byte that is not UTF-8.
* ``line_nested``, ``final_nested``: JSON nested 200 000 deep.
* ``line_int_400``, ``final_int_5000``: the metric as an integer of 400 / 5000 digits.
* ``line_epoch_20_digits``: an epoch number no storage column holds.
* ``final_is_folder``, ``epochs_is_folder``: a folder where ``metrics.json`` / the metrics file goes.
* ``big_line``: a valid epoch line of 50 MB (ending in a newline), then good metrics.
* ``fill``: first fill the disk under the path ``fill`` (a file written until no space is left), then behave.

Usage: python bad_output.py CONFIG SERIALIZATION_DIR
"""

import errno
import json
import os
import sys

NESTED = b"[" * 200_000 + b"]" * 200_000


def epoch_line(x: float, **extra: object) -> bytes:
    return json.dumps({"epoch": 0, "validation_accuracy": x, **extra}).encode() + b"\n"


def bad_epochs(output: str, x: float) -> bytes | None:
    """The bytes to append to the metrics file for ``output``, if it is one about that file."""
    return {
        "line_not_utf8": b'{"epoch": 0, "validation_accuracy": 0.5, "note": "caf\xe9"}\n',
        "line_nested": b'{"epoch": 0, "validation_accuracy": 0.5, "deep": ' + NESTED + b"}\n",
        "line_int_400": b'{"epoch": 0, "validation_accuracy": ' + b"7" * 400 + b"}\n",
        "line_epoch_20_digits": b'{"epoch": ' + b"1" * 20 + b', "validation_accuracy": 0.5}\n',
        "big_line": epoch_line(x, blob="b" * 50_000_000),
    }.get(output)


def bad_final(output: str) -> bytes | None:
    """The bytes of ``metrics.json`` for ``output``, if it is one about that file."""
    return {
        "final_not_utf8": b'{"best_validation_accuracy": 0.5, "note": "caf\xe9"}',
        "final_nested": b'{"best_validation_accuracy": ' + NESTED + b"}",
        "final_int_5000": b'{"best_validation_accuracy": ' + b"7" * 5000 + b"}",
    }.get(output)


def fill_disk(path: str) -> None:
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
    print(f"filled the disk under {path}", flush=True)


def main() -> int:
    config_path, directory = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        config = json.load(handle)
    output = config.get("faults", {}).get(os.environ["TUNER_TRIAL_NUMBER"], "ok")
    x = float(config["x"])
    metrics_file = os.environ["TUNER_METRICS_FILE"]
    final_file = os.path.join(directory, "metrics.json")
    if output == "fill":
        fill_disk(config["fill"])
    if output == "epochs_is_folder":
        os.mkdir(metrics_file)
        return 0
    with open(metrics_file, "ab") as handle:
        handle.write(bad_epochs(output, x) or epoch_line(x))
    if output == "final_is_folder":
        os.mkdir(final_file)
        return 0
    with open(final_file, "wb") as handle:
        handle.write(bad_final(output) or json.dumps({"best_validation_accuracy": x}).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
