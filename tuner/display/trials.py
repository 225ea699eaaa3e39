"""``show-trials`` on stdout: the trial table (a table fitted to the terminal, CSV or JSON) and one trial in full."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from tuner.analysis.objectives import FEASIBLE_COLUMN, PARETO_COLUMN, VALUE_PREFIX, objective_columns
from tuner.analysis.results import delimited_text, param_names
from tuner.display.plain_table import PlainColumn, PlainTable
from tuner.display.text import bytes_text, escape, format_value, seconds_text, short_value, sparkline

if TYPE_CHECKING:
    from tuner.analysis.gpu_hours import GpuHours
    from tuner.analysis.results import TrialDetail

FORMATS = ("table", "csv", "json")
_FOLDED_MIN_WIDTH = 16  # the reason column shows when this much room is left; longer reasons fold
_STATE_COLOURS = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}  # others white


def render_trials(rows: Sequence[Mapping[str, Any]], output_format: str, console: Console) -> None:
    """Print the trial table (rows from :func:`tuner.analysis.results.trial_rows`) as table, CSV or JSON."""
    if output_format == "json":
        console.file.write(json.dumps(list(rows), indent=2) + "\n")
    elif output_format == "csv":
        console.file.write(delimited_text(rows, ","))
    else:
        from tuner.analysis.gpu_hours import gpu_hours

        table, left_out = _table(rows, console.width)
        console.print(table)
        if left_out:
            console.print(escape(_left_out_line(left_out)), style="dim", highlight=False)
        line = gpu_hours_line(gpu_hours(rows))
        if line:
            console.print(line, highlight=False)


def gpu_hours_line(hours: GpuHours | None) -> str | None:
    """``GPU-hours: 3.21 over 40 trials; pruning saved about 1.05 (estimate)``; None without GPU trials."""
    if hours is None:
        return None
    line = f"GPU-hours: {hours.spent:.3g} over {hours.trials} trial{'s' if hours.trials != 1 else ''}"
    if hours.saved_by_pruning:
        line += f"; pruning saved about {hours.saved_by_pruning:.3g} (estimated from the completed trials)"
    return line


def _table(rows: Sequence[Mapping[str, Any]], width: int) -> tuple[PlainTable, list[str]]:
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
    colours = [_STATE_COLOURS.get(row["state"], "white") for row in rows]
    table = PlainTable(
        [
            PlainColumn(
                column.header,
                column.cells,
                column.justify,
                column.folds,
                colours if column.header == "state" else None,
            )
            for column in shown
        ]
    )
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


def _table_columns(rows: Sequence[Mapping[str, Any]]) -> list[_Column]:
    """Every column of the trial table, plain text, in the order they are given room."""

    def cells(make: Callable[[Mapping[str, Any]], str]) -> list[str]:
        return [make(row) for row in rows]

    names = param_names(rows)
    return [
        _Column("#", cells(lambda row: str(row["number"])), "right", always=True),
        _Column("state", cells(lambda row: row["state"].lower()), always=True),
        *_value_columns(rows, cells),
        _Column("duration", cells(lambda row: seconds_text(row["duration_s"])), "right", always=True),
        *(
            _Column(name, cells(lambda row, name=name: short_value(row["params"].get(name))), _justify(rows, name))
            for name in names
        ),
        _Column("epochs", cells(lambda row: str(row.get("epochs_reported") or "-")), "right"),
        _Column("pruned at", cells(lambda row: "-" if row["pruned_epoch"] is None else f"epoch {row['pruned_epoch']}")),
        _Column("slot", cells(lambda row: row.get("slot") or "-")),
        _Column("attempt", cells(lambda row: _attempt_text(row.get("attempts"))), "right"),  # shown once one retried
        _Column("GPU time", cells(lambda row: _gpu_time(row.get("gpu_seconds"))), "right"),
        _Column("peak GPU MB", cells(lambda row: format_value(row.get("peak_gpu_memory_mb"))), "right"),
        _Column("reason", cells(lambda row: row["reason"] or ""), folds=True),
        # disk_bytes is in CSV, JSON and --trial N, not here: a column of sizes on every line is clutter.
    ]


def _value_columns(rows: Sequence[Mapping[str, Any]], cells: Callable[..., list[str]]) -> list[_Column]:
    """``value``; with several objectives one column per objective and ``front`` (``*`` on the Pareto front);
    with constraints ``feasible`` (``no`` where a constraint is not met)."""
    names = [name for name in objective_columns(rows) if name.startswith(VALUE_PREFIX)]
    columns = [
        _Column(
            name.removeprefix(VALUE_PREFIX), cells(lambda row, name=name: format_value(row.get(name))), "right", True
        )
        for name in names
    ] or [_Column("value", cells(lambda row: format_value(row["value"])), "right", always=True)]
    if any(PARETO_COLUMN in row for row in rows):
        columns.append(_Column("front", cells(lambda row: "*" if row.get(PARETO_COLUMN) else ""), always=True))
    if any(FEASIBLE_COLUMN in row for row in rows):
        columns.append(_Column("feasible", cells(lambda row: _feasible_text(row.get(FEASIBLE_COLUMN))), always=True))
    return columns


def _feasible_text(feasible: bool | None) -> str:
    return "-" if feasible is None else "yes" if feasible else "no"


def _attempt_text(attempt: int | None) -> str:
    """A retry's attempt number (2, 3, ...); ``-`` for a first attempt, so that the column shows only with retries."""
    return str(attempt) if attempt and attempt > 1 else "-"


def _gpu_time(seconds: float | None) -> str:
    """GPU-seconds as ``1:02:03`` (hours of GPU time add up past a day) or ``-``."""
    if not seconds:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _justify(rows: Sequence[Mapping[str, Any]], name: str) -> str:
    """Numbers to the right, words (categorical choices) to the left."""
    values = [row["params"].get(name) for row in rows if row["params"].get(name) is not None]
    numeric = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)
    return "right" if numeric else "left"


def _left_out_line(names: Sequence[str]) -> str:
    columns = "column" if len(names) == 1 else "columns"
    return f"+ {len(names)} {columns} not shown: {', '.join(names)}; use --format csv or a wider terminal"


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
        facts.add_row(name, escape(value))
    console.print(facts)
    console.print(_mapping_table("params", row["params"]))
    if detail.final_metrics:
        console.print(_mapping_table("final metrics (metrics.json)", detail.final_metrics))
    if detail.intermediate_values:
        console.print(_curve_table(detail))
    if detail.log_tail:
        console.print("[bold]last lines of the log[/bold]")
        console.print(escape(detail.log_tail), highlight=False)


def _detail_facts(detail: TrialDetail) -> list[tuple[str, str]]:
    row = detail.row
    facts = [
        ("trial", str(row["number"])),
        (
            "state",
            row["state"].lower() + (f" at epoch {row['pruned_epoch']}" if row["pruned_epoch"] is not None else ""),
        ),
        *_objective_facts(row),
        ("duration", seconds_text(row["duration_s"])),
        ("started", _moment(row["start"])),
        ("ended", _moment(row["end"])),
        ("slot", row["slot"] or "-"),
        ("host, pid", f"{detail.launch.get('host', '-')}, {detail.launch.get('pid', '-')}"),
    ]
    if row["reason"]:
        facts.append(("reason", row["reason"]))
    if (row.get("attempts") or 1) > 1:
        facts.append(("attempt", str(row["attempts"])))
    if row.get("gpu_seconds") is not None:
        facts.append(("GPU time", f"{_gpu_time(row['gpu_seconds'])} ({row.get('gpus')} GPU x run time)"))
    if row.get("peak_gpu_memory_mb") is not None:
        facts.append(("peak GPU memory", f"{format_value(row['peak_gpu_memory_mb'])} MB"))
    if detail.directory:
        facts += [("config", str(detail.config_path)), ("log", str(detail.log_path))]
        facts.append(("disk", bytes_text(detail.disk_bytes) if detail.disk_bytes is not None else "folder not here"))
    return facts


def _objective_facts(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``value``, or each objective's value and whether the trial is on the Pareto front; constraints met or not."""
    names = [name for name in row if name.startswith(VALUE_PREFIX)]
    facts = [(name.removeprefix(VALUE_PREFIX), format_value(row[name])) for name in names]
    facts = facts or [("value", format_value(row["value"]))]
    if PARETO_COLUMN in row:
        facts.append(("Pareto front", "yes" if row[PARETO_COLUMN] else "no"))
    if row.get(FEASIBLE_COLUMN) is not None:
        facts.append(("constraints", "met" if row[FEASIBLE_COLUMN] else "not met (infeasible)"))
    return facts


def _mapping_table(title: str, values: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("name")
    table.add_column("value", justify="right")
    for name, value in values.items():
        table.add_row(escape(str(name)), escape(format_value(value)))
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
        table.add_column(escape(column), justify="right")
    for step, value in zip(steps, values):
        line = by_epoch.get(step, {})
        table.add_row(str(step), format_value(value), *(format_value(line.get(key)) for key in extra))
    return table


def _moment(iso: str | None) -> str:
    """``2024-05-01 12:00:03`` from the table's ISO 8601 time: to the second, as a reader wants it."""
    return "-" if iso is None else iso.replace("T", " ")[:19]
