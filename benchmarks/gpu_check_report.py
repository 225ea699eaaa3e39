"""The pieces of benchmarks/gpu_check.sh that are easier in Python: two tiny trainers and the figures.

Trainers (run by `tune` as ``{python} benchmarks/gpu_check_report.py probe|oom {config} {serialization_dir}``):

* ``probe``: writes ``seen.json`` (the ``CUDA_VISIBLE_DEVICES`` it was given and the GPUs torch sees in it)
  and reports ``validation_accuracy = config["x"]``.
* ``oom``: allocates far beyond the device's memory (GPU: 8 GiB blocks until CUDA refuses one; CPU: one
  block of 1 PiB), so that the trial ends with the allocator's out-of-memory error.

Figures (run by the script; each writes one part's JSON):

* ``setup OUT TORCH_BEFORE TORCH_AFTER``: the setup part (run by the check's python after the install).
* ``discovery OUT``, ``digits OUT``, ``oom-figures OUT``, ``torchrun OUT``: read the part's work folder.
* ``json-part OUT PART FILE``: a part whose figures are a script's JSON output (trainer_vs_loop.py).
* ``mark OUT PART STATUS [DETAIL]``: record a part that timed out, failed or was not available.
* ``report OUT``: merge ``OUT/parts/*.json`` into ``OUT/gpu_check.json`` and ``OUT/gpu_check.md``.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

CUDA_REINIT = "Cannot re-initialize CUDA in forked subprocess"
PARTS = ("setup", "discovery", "digits", "trainer_vs_loop", "trainer_vs_loop_amp", "oom", "torchrun")
_GIB = 2**30


# --- trainers ---------------------------------------------------------------------------------------------


def probe(config_path: str, directory: str) -> None:
    """A trial that records what it was given to see."""
    import torch

    from tuner.contract import report

    config = json.loads(Path(config_path).read_text())
    seen: dict[str, Any] = {
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }
    seen["devices"] = [_device(torch, index) for index in range(seen["device_count"])]
    Path(directory, "seen.json").write_text(json.dumps(seen, indent=2))
    report(0, validation_accuracy=float(config.get("x", 0.0)))


def _device(torch: Any, index: int) -> dict[str, Any]:
    properties = torch.cuda.get_device_properties(index)
    return {
        "index": index,
        "name": properties.name,
        "uuid": str(getattr(properties, "uuid", "")),
        "total_memory_mb": round(properties.total_memory / 2**20),
    }


def oom(config_path: str, directory: str) -> None:
    """A trial whose model does not fit: the allocator's own error ends it (its traceback goes to out.log)."""
    import torch

    from tuner.contract import report

    report(0, validation_accuracy=0.0)  # one epoch first, as a real trainer would before a bigger batch
    if os.environ.get("GPU_CHECK_DEVICE", "cuda") == "cuda" and torch.cuda.is_available():
        blocks = [torch.empty(8 * _GIB, dtype=torch.uint8, device="cuda") for _ in range(1024)]  # 8 TiB
        print(f"allocated {len(blocks) * 8} GiB without an error", flush=True)
        return
    torch.empty(2**50, dtype=torch.uint8)  # 1 PiB: no CPU machine has it


# --- figures ----------------------------------------------------------------------------------------------


def _trials(work: Path) -> list[dict[str, Any]]:
    path = work / "trials.json"
    return json.loads(path.read_text()) if path.is_file() and path.stat().st_size else []


def _stamp(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _states(trials: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial["state"]] = counts.get(trial["state"], 0) + 1
    return counts


def _final_metrics(results: Path, number: int) -> dict[str, Any]:
    path = results / f"trial_{number}" / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _logs_with(results: Path, text: str) -> list[str]:
    """Trial folders whose out.log holds ``text``."""
    return sorted(log.parent.name for log in results.glob("trial_*/out.log") if text in log.read_text(errors="replace"))


def _exit_code(work: Path) -> int | None:
    path = work / "tune.rc"
    return int(path.read_text().strip()) if path.is_file() and path.read_text().strip() else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def setup(out: Path, before: str, after: str) -> None:
    """The setup part: this python, torch's version before and after the install, what was installed."""
    from importlib import metadata

    import tuner

    versions: dict[str, str | None] = {}
    for name in ("torch", "optuna", "gojsonnet", "click", "rich", "sqlalchemy", "alembic", "numpy", "scikit-learn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    figures = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "torch_before": before,
        "torch_after": after,
        "torch_unchanged": before == after,
        "versions": versions,
        "tuner_from": tuner.__file__,
    }
    write_part(out, "setup", "ok" if before == after else "failed", figures, "" if before == after else "torch changed")


def discovery(out: Path) -> dict[str, Any]:
    """What nvidia-smi listed, what tune resolved for ``--gpus all``, and what each trial saw."""
    work = out / "work" / "discovery"
    figures: dict[str, Any] = {"nvidia_smi": _read_text(work / "nvidia_smi.csv")}
    for case in sorted(path.name for path in work.iterdir() if path.is_dir()):
        case_dir = work / case
        seen = []
        for trial in _trials(case_dir):
            path = case_dir / "results" / f"trial_{trial['number']}" / "seen.json"
            entry = json.loads(path.read_text()) if path.is_file() else {}
            seen.append({"trial": trial["number"], "slot": trial.get("slot"), "state": trial["state"], **entry})
        figures[case] = {
            "parent_CUDA_VISIBLE_DEVICES": _read_text(case_dir / "parent_cvd.txt"),
            "tune_saw": _read_json(case_dir / "tune_saw.json"),
            "tune_exit": _exit_code(case_dir),
            "trials_saw": seen,
        }
    return figures


def digits(out: Path) -> dict[str, Any]:
    """The digits study on one GPU with 4 slots: states, CUDA re-init errors, slot utilisation, overhead."""
    work = out / "work" / "digits"
    trials, results = _trials(work), work / "results"
    slots = int(_read_text(work / "slots.txt") or 4)
    ran = [t for t in trials if t.get("start") and t.get("end")]
    starts, ends = [_stamp(t["start"]) for t in ran], [_stamp(t["end"]) for t in ran]
    durations = [t["duration_s"] for t in ran if t.get("duration_s") is not None]
    metrics = [_final_metrics(results, t["number"]) for t in ran]
    training = [m["training_duration_seconds"] for m in metrics if "training_duration_seconds" in m]
    overhead = [
        t["duration_s"] - m["training_duration_seconds"]
        for t, m in zip(ran, metrics, strict=True)
        if "training_duration_seconds" in m and t.get("duration_s") is not None
    ]
    peaks = [m["peak_gpu_memory_mb"] for m in metrics if "peak_gpu_memory_mb" in m]
    figures: dict[str, Any] = {
        "tune_exit": _exit_code(work),
        "tune_wall_s": _read_float(work / "wall_s.txt"),
        "slots": slots,
        "trials": len(trials),
        "states": _states(trials),
        "fail_reasons": sorted({str(t.get("reason")) for t in trials if t["state"] == "FAIL"}),
        "cuda_reinit_errors": _logs_with(results, CUDA_REINIT),
        "median_trial_s": _median(durations),
        "median_training_s": _median(training),
        "median_overhead_s": _median(overhead),
        "median_peak_gpu_memory_mb": _median(peaks) if peaks else "not reported",
    }
    if len(ran) >= 2:
        busy_steady = sum(max(0.0, min(e, max(starts)) - s) for s, e in zip(starts, ends, strict=True))
        figures["utilisation_steady"] = round(busy_steady / (slots * (max(starts) - min(starts))), 4)
        busy = sum(e - s for s, e in zip(starts, ends, strict=True))
        figures["utilisation_whole"] = round(busy / (slots * (max(ends) - min(starts))), 4)
        completions = sorted(ends)
        figures["median_completion_interval_s"] = _median([b - a for a, b in itertools.pairwise(completions)])
    return figures


def oom_figures(out: Path) -> dict[str, Any]:
    """Each out-of-memory trial's state and reason; classified when every reason starts with 'out of memory'."""
    work = out / "work" / "oom"
    trials = _trials(work)
    reasons = [str(t.get("reason")) for t in trials]
    return {
        "tune_exit": _exit_code(work),
        "trials": [{"trial": t["number"], "state": t["state"], "reason": t.get("reason")} for t in trials],
        "classified_out_of_memory": bool(reasons) and all(r.startswith("out of memory") for r in reasons),
        "log_tail": _read_text(work / "results" / "trial_0" / "out.log")[-600:],
    }


def torchrun(out: Path) -> dict[str, Any]:
    """The 2-rank torchrun trial: each attempt's state, epochs reported once, processes left afterwards."""
    work = out / "work" / "torchrun"
    figures: dict[str, Any] = {}
    for attempt in sorted(path for path in work.iterdir() if path.is_dir()):
        trials, results = _trials(attempt), attempt / "results"
        lines = (results / "trial_0" / "metrics.jsonl").read_text().splitlines() if trials else []
        epochs = [json.loads(line).get("epoch") for line in lines if line.strip()]
        figures[attempt.name] = {
            "env": _read_text(attempt / "env.txt"),
            "tune_exit": _exit_code(attempt),
            "trials": [
                {"trial": t["number"], "state": t["state"], "value": t.get("value"), "reason": t.get("reason")}
                for t in trials
            ],
            "epochs_reported": epochs,
            "each_epoch_once": bool(epochs) and len(epochs) == len(set(epochs)),
            "final_metrics": _final_metrics(results, 0),
            "processes_left": int(_read_text(attempt / "left.txt") or 0),
            "log_tail": _read_text(results / "trial_0" / "out.log")[-1200:],
        }
    return figures


def processes_holding(text: str) -> int:
    """How many processes (other than this one) have ``text`` in their command line: what a trial left running."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        count += text in command
    return count


# --- the report -------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    return path.read_text(errors="replace").strip() if path.is_file() else ""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_float(path: Path) -> float | None:
    text = _read_text(path)
    return round(float(text), 2) if text else None


def write_part(out: Path, part: str, status: str, figures: dict[str, Any] | None = None, detail: str = "") -> None:
    """``OUT/parts/PART.json``: the part's status (ok, failed, timed out, not available, skipped) and figures."""
    entry = {"part": part, "status": status, "detail": detail, "figures": figures or {}, "written": time.time()}
    (out / "parts").mkdir(parents=True, exist_ok=True)
    (out / "parts" / f"{part}.json").write_text(json.dumps(entry, indent=2, default=str) + "\n")


def goal_met(part: str, data: dict[str, Any]) -> bool | None:
    """Whether a part that ran reached the issue's goal for it (None: no goal, or the part did not run)."""
    figures = data.get("figures") or {}
    if data.get("status") != "ok":
        return None if data.get("status") in ("not available", "skipped") else False
    if part == "setup":
        return bool(figures.get("torch_unchanged"))
    if part == "digits":
        return (
            not figures.get("cuda_reinit_errors") and not figures.get("fail_reasons") and figures.get("trials", 0) > 0
        )
    if part.startswith("trainer_vs_loop"):
        return isinstance(figures.get("ratio"), (int, float)) and figures["ratio"] >= 0.95
    if part == "oom":
        return bool(figures.get("classified_out_of_memory"))
    if part == "torchrun":
        return any(
            attempt["trials"]
            and attempt["trials"][0]["state"] == "COMPLETE"
            and attempt["each_epoch_once"]
            and attempt["processes_left"] == 0
            for attempt in figures.values()
        )
    return None


def report(out: Path) -> dict[str, Any]:
    """Merge every part into gpu_check.json and a readable gpu_check.md; a part never written is 'missing'."""
    parts = {}
    for part in PARTS:
        data = _read_json(out / "parts" / f"{part}.json")
        parts[part] = data or {"part": part, "status": "missing", "detail": "", "figures": {}}
        parts[part]["goal_met"] = goal_met(part, parts[part])
        parts[part]["seconds"] = _read_float(out / "parts" / f"{part}.seconds")
    whole = {
        "device": os.environ.get("GPU_CHECK_DEVICE", "cuda"),
        "wall_s": _read_float(out / "wall_s.txt"),
        "parts": parts,
    }
    (out / "gpu_check.json").write_text(json.dumps(whole, indent=2, default=str) + "\n")
    lines = [f"# GPU check ({whole['device']}, {whole['wall_s']} s)", ""]
    for part, data in parts.items():
        goal = {True: "goal met", False: "goal NOT met", None: "no goal checked"}[data["goal_met"]]
        lines += [f"## {part}: {data['status']} ({goal}, {data['seconds']} s)", ""]
        if data.get("detail"):
            lines += [str(data["detail"]), ""]
        lines += ["```json", json.dumps(data["figures"], indent=2, default=str), "```", ""]
    (out / "gpu_check.md").write_text("\n".join(lines))
    return whole


FIGURES = {"discovery": discovery, "digits": digits, "oom-figures": oom_figures, "torchrun": torchrun}


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    if command == "probe":
        probe(*rest)
    elif command == "oom":
        oom(*rest)
    elif command == "count-processes":
        print(processes_holding(rest[0]))
    elif command == "setup":
        setup(Path(rest[0]), rest[1], rest[2])
    elif command == "json-part":  # a script's own JSON output as the part's figures
        write_part(Path(rest[0]), rest[1], "ok", _read_json(Path(rest[2])) or {})
    elif command == "mark":
        write_part(Path(rest[0]), rest[1], rest[2], detail=" ".join(rest[3:]))
    elif command == "report":
        whole = report(Path(rest[0]))
        print(" ".join(f"{part}={data['status']}/{data['goal_met']}" for part, data in whole["parts"].items()))
    elif command in FIGURES:
        out = Path(rest[0])
        part = {"oom-figures": "oom"}.get(command, command)
        write_part(out, part, rest[1] if len(rest) > 1 else "ok", FIGURES[command](out))
    else:
        print(f"error: unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
