"""`tune status` on stdout: one summary line, then a table of the study's workers (or JSON)."""

from __future__ import annotations

import json
from datetime import datetime

from rich.console import Console
from rich.table import Table

from tuner.analysis.status import RunningTrial, StudyStatus, WorkerStatus, status_dict
from tuner.display.text import clock, escape, format_value

STATE_STYLES = {"running": "green", "stale": "red", "dead": "red", "ended": "dim"}
SHOWN_TRIALS = 4  # running trials listed in a worker's row; the rest are counted


def render_status(status: StudyStatus, output_format: str, console: Console, *, show_ended: bool = False) -> None:
    """Print ``status`` as a summary line and a table of its live (and stale) workers, or as JSON.

    Ended workers are counted in one line unless ``show_ended`` (a study run by many jobs over weeks has many).
    """
    if output_format == "json":
        console.file.write(json.dumps(status_dict(status), indent=2) + "\n")
        return
    console.print(escape(summary_line(status)), highlight=False)
    shown = [entry for entry in status.workers if show_ended or entry.state != "ended"]
    if shown:
        console.print(_workers_table(status, shown))
    ended = len(status.workers) - len(shown)
    if ended:
        console.print(f"{ended} ended worker{'s' if ended != 1 else ''} not shown (--all lists them).")
    elif not status.workers:
        console.print("No worker has recorded itself in this study (tune status needs a tune of this version).")
    if status.unowned:
        console.print(
            escape(f"Running without a registered worker: {_trials_text(status.unowned, len(status.unowned))}"),
            highlight=False,
        )


def summary_line(status: StudyStatus) -> str:
    """``Study 'x' (maximize accuracy): 40 trials: 30 complete, 2 running, 8 pruned; best trial 12: 0.98``;
    with several objectives ``...; Pareto front 3: accuracy 0.98 (trial 4), param_count 1204 (trial 7)``."""
    total = sum(status.counts.values())
    counts = ", ".join(f"{count} {state}" for state, count in sorted(status.counts.items())) or "none yet"
    line = f"Study '{status.study_name}' ({_objectives(status)}): {total} trials: {counts}"
    if status.best is not None:
        line += f"; best trial {status.best[0]}: {format_value(status.best[1])}"
    elif status.objectives:
        line += "; " + _front_text(status)
    alive = sum(1 for entry in status.workers if entry.state == "running")
    slots = sum(entry.worker.slots for entry in status.workers if entry.state == "running")
    return line + f"; {alive} worker{'s' if alive != 1 else ''} running ({slots} slots)"


def _objectives(status: StudyStatus) -> str:
    """``maximize accuracy`` or ``maximize accuracy, minimize param_count``."""
    if not status.objectives:
        return f"{status.direction} {status.metric or 'value'}"
    return ", ".join(f"{one.direction} {one.metric}" for one in status.objectives)


def _front_text(status: StudyStatus) -> str:
    if not status.front_size:
        return "no Pareto front yet"
    bests = ", ".join(f"{one.metric} {format_value(one.value)} (trial {one.number})" for one in status.objectives)
    return f"Pareto front {status.front_size}: {bests}"


def _workers_table(status: StudyStatus, workers: list[WorkerStatus]) -> Table:
    table = Table(show_edge=False)
    for name, justify in (
        ("worker", "left"),
        ("state", "left"),
        ("slots", "right"),
        ("slurm", "left"),
        ("up", "right"),
        ("last beat", "right"),
        ("done", "right"),
        ("running trials (epoch)", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for entry in workers:
        table.add_row(*_row(entry, status.now))
    return table


def _row(entry: WorkerStatus, now: float) -> list[str]:
    worker = entry.worker
    end = worker.ended if worker.ended is not None else now
    slurm = worker.slurm
    array = f"{slurm['array_job_id']}_{slurm.get('array_task_id', '?')}" if "array_job_id" in slurm else None
    return [
        escape(f"{worker.host}:{worker.pid}"),
        f"[{STATE_STYLES[entry.state]}]{entry.state}[/]",
        str(worker.slots),
        escape(array or slurm.get("job_id", "-")),
        clock(max(0.0, end - worker.started)),
        _ago(worker.beat, now),
        str(entry.finished),
        escape(_trials_text(entry.running, SHOWN_TRIALS)),
    ]


def _ago(stamp: float, now: float) -> str:
    seconds = max(0.0, now - stamp)
    if seconds < 3600:
        return f"{seconds:.0f}s ago"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _trials_text(trials: list[RunningTrial], shown: int) -> str:
    """``3 (4), 7 (-)``: trial numbers and their last reported epoch; ``+N more`` past ``shown``."""
    parts = [f"{trial.number} ({'-' if trial.epoch is None else trial.epoch})" for trial in trials[:shown]]
    if len(trials) > shown:
        parts.append(f"+{len(trials) - shown} more")
    return ", ".join(parts) or "-"
