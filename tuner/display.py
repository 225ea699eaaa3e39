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

from tuner.trials import run_duration

if TYPE_CHECKING:
    import optuna

    from tuner.budget import Budget
    from tuner.importance import Importances
    from tuner.results import TrialDetail
    from tuner.retrain import RetrainResult, SeedRun
    from tuner.trials import TrialOutcome, TrialRun

FORMATS = ("table", "csv", "json")
_SPARKS = "▁▂▃▄▅▆▇█"
_FIXED_CSV_COLUMNS = ("number", "state", "value", "duration_s", "pruned_epoch", "reason", "slot", "epochs_reported")


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
    ran = run_duration(trial)
    seconds = ran.total_seconds() if ran else 0.0
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
    for column in ("#", "state", "value", "duration", "epochs", "pruned at", "slot", *names):
        # Numbers and states stay whole: a cut value or state is worse than a wider table.
        table.add_column(column, justify="right" if column in ("#", "value", "duration", "epochs") else "left", no_wrap=True)
    table.add_column("reason", overflow="fold")
    colours = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
    for row in rows:
        colour = colours.get(row["state"], "white")
        cells = [
            str(row["number"]),
            f"[{colour}]{row['state'].lower()}[/{colour}]",
            format_value(row["value"]),
            "-" if row["duration_s"] is None else f"{row['duration_s']:.1f}s",
            str(row.get("epochs_reported", "-")),
            "-" if row["pruned_epoch"] is None else f"epoch {row['pruned_epoch']}",
            _escape(row.get("slot") or "-"),
            *(_short(row["params"].get(name)) for name in names),
            _escape(row["reason"] or ""),
        ]
        table.add_row(*cells)
    return table


def _short(value: Any) -> str:
    """A parameter value for a table cell: 4 significant digits (CSV and JSON keep full precision)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return _escape(format_value(value))


def table_console() -> Console:
    """A console for tables on stdout: as wide as the terminal, or wide enough when piped to a file."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=220)


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    names = _param_names(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*_FIXED_CSV_COLUMNS, *(f"params_{name}" for name in names)])
    for row in rows:
        fixed = [row.get(key) for key in _FIXED_CSV_COLUMNS]
        writer.writerow(["" if cell is None else cell for cell in fixed] + [row["params"].get(name, "") for name in names])
    return buffer.getvalue()


def render_importances(result: Importances, console: Console) -> None:
    """A table of parameter importances, most important first, with what they rest on."""
    table = Table(title=f"{result.evaluator} importances from {result.basis}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("parameter")
    table.add_column("importance", justify="right")
    table.add_column("")
    for rank, (name, value) in enumerate(result.values.items(), start=1):
        table.add_row(str(rank), _escape(name), f"{value:.3f}", "█" * round(value * 30))
    console.print(table)


def render_trial_detail(detail: TrialDetail, output_format: str, console: Console) -> None:
    """One trial in full: state, value, timing, slot, params, metrics, learning curve, files."""
    if output_format == "json":
        console.file.write(json.dumps(detail.to_dict(), indent=2, default=str) + "\n")
        return
    row = detail.row
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    for name, value in _detail_facts(detail):
        facts.add_row(name, _escape(value))
    console.print(facts)
    console.print(_mapping_table("params", row["params"]))
    if detail.final_metrics:
        console.print(_mapping_table("final metrics (metrics.json)", detail.final_metrics))
    if detail.intermediate_values:
        console.print(_curve_table(detail))
    if detail.log_tail:
        console.print("[bold]last lines of the log[/bold]")
        console.print(_escape(detail.log_tail), highlight=False)


def seed_table(results: Sequence[RetrainResult]) -> Table:
    """One column per config, one row per seed, and mean ± std (sample std) at the foot."""
    metric = results[0].objective.metric
    table = Table(title=f"{metric} over seeds", title_justify="left", show_footer=True)
    table.add_column("seed", footer="mean ± std")
    for result in results:
        title = f"{result.label}\n{result.config_path}" if result.label != "config" else str(result.config_path)
        table.add_column(_escape(title), justify="right", footer=result.summary())
    seeds = sorted({run.seed for result in results for run in result.runs})
    for seed in seeds:
        cells = []
        for result in results:
            run = next((run for run in result.runs if run.seed == seed), None)
            cells.append("-" if run is None else ("[red]failed[/red]" if run.value is None else f"{run.value:.4f}"))
        table.add_row(str(seed), *cells)
    return table


def seed_run_line(result: RetrainResult, run: SeedRun) -> str:
    """``tuned seed 2: 0.9822 (4.1s)`` as each run finishes."""
    name = "" if result.label == "config" else f"{result.label} "
    if run.value is None:
        return f"{name}seed {run.seed}: [red]failed: {_escape(run.reason or 'unknown')}[/red]"
    how = "already done" if run.reused else f"{run.seconds or 0:.1f}s"
    return f"{name}seed {run.seed}: {run.value:.6g} ({how})"


def sparkline(values: Sequence[float]) -> str:
    """``▁▃▅█``: values scaled between their minimum and maximum."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    return "".join(
        _SPARKS[round((value - low) / span * (len(_SPARKS) - 1))] if math.isfinite(value) else "!" for value in values
    )


def _detail_facts(detail: TrialDetail) -> list[tuple[str, str]]:
    row = detail.row
    facts = [
        ("trial", str(row["number"])),
        ("state", row["state"].lower() + (f" at epoch {row['pruned_epoch']}" if row["pruned_epoch"] is not None else "")),
        ("value", format_value(row["value"])),
        ("duration", "-" if row["duration_s"] is None else f"{row['duration_s']:.1f}s"),
        ("started", detail.started or "-"),
        ("slot", row["slot"] or "-"),
        ("host, pid", f"{detail.launch.get('host', '-')}, {detail.launch.get('pid', '-')}"),
    ]
    if row["reason"]:
        facts.append(("reason", row["reason"]))
    if detail.directory:
        facts += [("config", str(detail.config_path)), ("log", str(detail.log_path))]
    return facts


def _mapping_table(title: str, values: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("name")
    table.add_column("value", justify="right")
    for name, value in values.items():
        table.add_row(_escape(str(name)), _escape(format_value(value)))
    return table


def _curve_table(detail: TrialDetail) -> Table:
    """The reported value per epoch, with the other metrics of that epoch when the folder still has them."""
    steps = list(detail.intermediate_values)
    values = list(detail.intermediate_values.values())
    by_epoch = {line.get("epoch"): line for line in detail.epoch_metrics}
    keys = (key for line in detail.epoch_metrics for key in line if key not in ("epoch", "last_epoch"))
    extra = list(dict.fromkeys(keys))
    table = Table(title=f"learning curve {sparkline(values)}", title_justify="left")
    for column in ("epoch", "reported", *extra):
        table.add_column(_escape(column), justify="right")
    for step, value in zip(steps, values):
        line = by_epoch.get(step, {})
        table.add_row(str(step), format_value(value), *(format_value(line.get(key)) for key in extra))
    return table


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
