"""Terminal output: the live progress of a study, and trial listings as table, CSV or JSON.

Progress and messages go to stderr; data (``show-trials``) goes to stdout, with no
decoration in the machine-readable formats.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tuner import contract
from tuner.study.records import run_duration

if TYPE_CHECKING:
    import optuna

    from tuner.analysis.importance import Importances
    from tuner.analysis.results import TrialDetail
    from tuner.analysis.retrain import RetrainResult, SeedRun
    from tuner.study.records import TrialOutcome
    from tuner.trials.budget import Budget
    from tuner.trials.trial import TrialRun

FORMATS = ("table", "csv", "json")
_SPARKS = "▁▂▃▄▅▆▇█"
_PIPE_WIDTH = 100_000
_FOLDED_MIN_WIDTH = 16  # the reason column shows when this much room is left; longer reasons fold
_FIXED_CSV_COLUMNS = ("number", "state", "value", "duration_s", "pruned_epoch", "reason", "slot", "epochs_reported")


class TuneDisplay:
    """Shows a running study: a progress line with the best value and the time to go, a row per
    running trial (slot, epoch, latest value, elapsed), and one line per finished trial."""

    def __init__(
        self,
        console: Console,
        *,
        n_trials: int | None,
        already_done: int,
        budget: Budget,
        best: optuna.trial.FrozenTrial | None = None,
    ) -> None:
        self.console = console
        self.budget = budget
        self.n_trials = n_trials
        self.best: str = "none yet" if best is None else _best_text(best.value, best.number)
        self._running: dict[int, TrialRun] = {}
        self._finished_here = 0
        self._eta: tuple[float, float] | None = None  # (when estimated, seconds to go then)
        self.progress = _StudyProgress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn() if n_trials is not None else TextColumn("{task.completed}"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            _LiveTextColumn(self.time_to_go),
            console=console,
            transient=True,
            below=self.running_view,
        )
        self.task = self.progress.add_task("trials", total=n_trials, completed=already_done, best=self.best)

    def __enter__(self) -> TuneDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def trial_started(self, run: TrialRun) -> None:
        self._running[run.number] = run
        self._refresh()

    def trial_finished(self, trial: optuna.trial.FrozenTrial, outcome: TrialOutcome, is_best: bool) -> None:
        self._running.pop(trial.number, None)
        self._finished_here += 1
        if is_best:
            self.best = _best_text(outcome.value, trial.number)
        self.progress.advance(self.task)
        self._estimate_time_to_go()
        self.console.print(trial_line(trial, outcome, is_best), highlight=False)
        self._refresh()

    def stopping(self, reason: str) -> None:
        self.console.print(f"[yellow]{reason}[/yellow]")

    def time_to_go(self) -> str:
        """``ETA 0:04:10`` from this run's trial rate (with --n-trials, after a trial finished), and
        ``0:09:00 left`` of --timeout."""
        parts = []
        if self._eta is not None:
            estimated_at, seconds = self._eta
            parts.append(f"ETA {_clock(max(0.0, seconds - (time.monotonic() - estimated_at)))}")
        left = self.budget.time_left()
        if left is not None:
            parts.append(f"{_clock(left)} left")
        return ", ".join(parts)

    def _estimate_time_to_go(self) -> None:
        """At each finished trial: the trials still to run at this run's rate; counted down until the next."""
        if self.n_trials is None:
            return
        now = time.monotonic()
        to_run = max(0.0, self.n_trials - self.progress.tasks[0].completed)
        self._eta = (now, to_run * (now - self.budget.started) / self._finished_here)

    def running_view(self) -> Table | None:
        """One row per running trial: number, slot, last reported epoch and value, time since launch."""
        runs = sorted(self._running.values(), key=lambda run: run.number)  # a copy: the refresh thread reads
        if not runs:
            return None
        table = Table(box=None, padding=(0, 1), header_style="dim", show_edge=False)
        for column in ("running", "slot", "epoch", "latest", "elapsed"):
            table.add_column(column, justify="left" if column in ("running", "slot") else "right")
        for run in runs:
            epochs = run.reader.epochs
            line = epochs[-1] if epochs else None
            epoch = "-" if line is None else str(line.get(contract.EPOCH_KEY, len(epochs) - 1))
            value = None if line is None else run.objective.epoch_value(line)
            slot = run.slot.label if run.slot else "-"
            elapsed = _clock(time.monotonic() - run.started)
            table.add_row(f"trial {run.number}", _escape(slot), epoch, format_value(value), elapsed)
        return table

    def _refresh(self) -> None:
        self.progress.update(self.task, best=self.best)


class _StudyProgress(Progress):
    """Rich's progress, with the running trials shown below the bar."""

    def __init__(self, *columns: Any, below: Callable[[], Table | None], **kwargs: Any) -> None:
        self._below = below  # before Progress's __init__, which renders once
        super().__init__(*columns, **kwargs)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        below = self._below()
        if below is not None:
            yield below


class _LiveTextColumn(ProgressColumn):
    """A progress column whose text is computed at each refresh (a countdown between trial events)."""

    def __init__(self, text: Callable[[], str]) -> None:
        super().__init__()
        self._text = text

    def render(self, task: Task) -> Text:
        return Text(self._text())


def _best_text(value: float | None, number: int) -> str:
    return f"{format_value(value)} (trial {number})"


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
        table, left_out = _table(rows, console.width)
        console.print(table)
        if left_out:
            console.print(_escape(_left_out_line(left_out)), style="dim", highlight=False)


def _table(rows: Sequence[Mapping[str, Any]], width: int) -> tuple[Table, list[str]]:
    """The trial table within ``width`` cells, and the names of the columns left out for lack of room.

    Number, state, value and duration always show; then, as room allows, the parameters, epochs,
    pruned-at epoch, slot, and the reason in the room left (folded). A column no trial has a value for
    is not shown at all.
    """
    columns = [column for column in _table_columns(rows) if column.always or not column.empty]
    room = width - 1  # the table's left edge
    shown: list[_Column] = []
    left_out: list[str] = []
    for column in columns:
        needed = min(column.natural, _FOLDED_MIN_WIDTH) if column.folds else column.natural
        if column.always or needed + 3 <= room:
            shown.append(column)
            room -= min(column.natural, max(needed, room - 3)) + 3
        else:
            left_out.append(column.header)
    table = Table(show_lines=False)
    for column in shown:
        # Numbers and states stay whole: the fit above leaves room for every shown cell but the reason's.
        table.add_column(
            _escape(column.header), justify=column.justify, no_wrap=not column.folds,
            overflow="fold" if column.folds else "ellipsis", min_width=None if column.folds else column.natural,
        )
    colours = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
    for index, row in enumerate(rows):
        colour = colours.get(row["state"], "white")
        styles = [colour if column.header == "state" else "" for column in shown]
        table.add_row(*(Text(column.cells[index], style=style) for column, style in zip(shown, styles)))
    return table, left_out


@dataclass(frozen=True)
class _Column:
    header: str
    cells: list[str]
    justify: str = "left"
    always: bool = False
    folds: bool = False

    @property
    def natural(self) -> int:
        return max(cell_len(text) for text in (self.header, *self.cells))

    @property
    def empty(self) -> bool:
        return all(cell in ("", "-") for cell in self.cells)


def _duration_cell(row: Mapping[str, Any]) -> str:
    return "-" if row["duration_s"] is None else f"{row['duration_s']:.1f}s"


def _table_columns(rows: Sequence[Mapping[str, Any]]) -> list[_Column]:
    """Every column of the trial table, plain text, in the order they are given room."""
    def cells(make: Callable[[Mapping[str, Any]], str]) -> list[str]:
        return [make(row) for row in rows]

    names = _param_names(rows)
    return [
        _Column("#", cells(lambda row: str(row["number"])), "right", always=True),
        _Column("state", cells(lambda row: row["state"].lower()), always=True),
        _Column("value", cells(lambda row: format_value(row["value"])), "right", always=True),
        _Column("duration", cells(_duration_cell), "right", always=True),
        *(_Column(name, cells(lambda row, name=name: _short(row["params"].get(name))), _justify(rows, name))
          for name in names),
        _Column("epochs", cells(lambda row: str(row.get("epochs_reported") or "-")), "right"),
        _Column("pruned at", cells(lambda row: "-" if row["pruned_epoch"] is None else f"epoch {row['pruned_epoch']}")),
        _Column("slot", cells(lambda row: row.get("slot") or "-")),
        _Column("reason", cells(lambda row: row["reason"] or ""), folds=True),
    ]


def _justify(rows: Sequence[Mapping[str, Any]], name: str) -> str:
    """Numbers to the right, words (categorical choices) to the left."""
    values = [row["params"].get(name) for row in rows if row["params"].get(name) is not None]
    numeric = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)
    return "right" if numeric else "left"


def _left_out_line(names: Sequence[str]) -> str:
    columns = "column" if len(names) == 1 else "columns"
    return f"+ {len(names)} {columns} not shown: {', '.join(names)}; use --format csv or a wider terminal"


def _short(value: Any) -> str:
    """A parameter value for a table cell: 4 significant digits (CSV and JSON keep full precision)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return format_value(value)


def table_console() -> Console:
    """A console for tables on stdout: as wide as the terminal; piped to a file, wide enough for every column."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=_PIPE_WIDTH)


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
