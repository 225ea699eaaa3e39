"""Terminal output: the live progress of a study, and trial listings as table, CSV or JSON.

Progress and messages go to stderr; data (``show-trials``) goes to stdout, with no
decoration in the machine-readable formats.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    import optuna

    from tuner.budget import Budget
    from tuner.trials import TrialOutcome, TrialRun

FORMATS = ("table", "csv", "json")


class TuneDisplay:
    """Shows a running study: a progress line, and one line per finished trial."""

    def __init__(self, console: Console, *, n_trials: int | None, already_done: int, budget: Budget) -> None:
        self.console = console
        self.budget = budget
        self.best: str = "none yet"
        self.progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn() if n_trials is not None else TextColumn("{task.completed}"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[remaining]}"),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("trials", total=n_trials, completed=already_done, best=self.best, remaining="")

    def __enter__(self) -> TuneDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def trial_started(self, run: TrialRun) -> None:
        self._refresh()

    def trial_finished(self, trial: optuna.trial.FrozenTrial, outcome: TrialOutcome, is_best: bool) -> None:
        if is_best:
            self.best = f"{format_value(outcome.value)} (trial {trial.number})"
        self.progress.advance(self.task)
        self.console.print(trial_line(trial, outcome, is_best), highlight=False)
        self._refresh()

    def stopping(self, reason: str) -> None:
        self.console.print(f"[yellow]{reason}[/yellow]")

    def _refresh(self) -> None:
        left = self.budget.time_left()
        remaining = "" if left is None else f"{_clock(left)} left"
        self.progress.update(self.task, best=self.best, remaining=remaining)


def trial_line(trial: optuna.trial.FrozenTrial, outcome: TrialOutcome, is_best: bool) -> str:
    """One line: ``trial 3  0.9123  best  12.1s  lr=0.01 dropout=0.2``."""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    if outcome.state == "COMPLETE":
        status = f"[green]{format_value(outcome.value)}[/green]" + ("  [bold]best[/bold]" if is_best else "")
    elif outcome.state == "PRUNED":
        status = f"[yellow]pruned at epoch {outcome.pruned_epoch}[/yellow]"
    else:
        status = f"[red]failed: {_escape(outcome.reason or 'unknown')}[/red]"
    return f"trial {trial.number:<4} {status}  {seconds:.1f}s  [dim]{_escape(format_params(trial.params))}[/dim]"


def format_params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={format_value(value)}" for name, value in params.items())


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return "-" if value is None else str(value)


def render_trials(rows: Sequence[Mapping[str, Any]], output_format: str, console: Console) -> None:
    """Print trial rows (from :func:`tuner.results.trial_rows`) in the chosen format."""
    if output_format == "json":
        console.file.write(json.dumps(list(rows), indent=2) + "\n")
    elif output_format == "csv":
        console.file.write(_csv(rows))
    else:
        console.print(_table(rows))


def _table(rows: Sequence[Mapping[str, Any]]) -> Table:
    names = _param_names(rows)
    table = Table(show_lines=False)
    for column in ("#", "state", "value", "duration", "pruned at", *names, "reason"):
        table.add_column(column, justify="right" if column in ("#", "value", "duration") else "left")
    colours = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
    for row in rows:
        colour = colours.get(row["state"], "white")
        cells = [
            str(row["number"]),
            f"[{colour}]{row['state'].lower()}[/{colour}]",
            format_value(row["value"]),
            "-" if row["duration_s"] is None else f"{row['duration_s']:.1f}s",
            "-" if row["pruned_epoch"] is None else f"epoch {row['pruned_epoch']}",
            *(format_value(row["params"].get(name)) for name in names),
            _escape(row["reason"] or ""),
        ]
        table.add_row(*cells)
    return table


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    names = _param_names(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", "state", "value", "duration_s", "pruned_epoch", "reason", "slot", *(f"params_{name}" for name in names)])
    for row in rows:
        fixed = [row[key] for key in ("number", "state", "value", "duration_s", "pruned_epoch", "reason", "slot")]
        writer.writerow(["" if cell is None else cell for cell in fixed] + [row["params"].get(name, "") for name in names])
    return buffer.getvalue()


def _param_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["params"]))
    return list(names)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
