"""What the analysis commands found, for the terminal: parameter importances, and retrained seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from tuner.display.text import escape

if TYPE_CHECKING:
    from tuner.analysis.importance import Importances
    from tuner.analysis.retrain import RetrainResult, SeedRun


def render_importances(result: Importances, console: Console) -> None:
    """A table of parameter importances, most important first, with what they rest on."""
    table = Table(title=f"{result.evaluator} importances from {result.basis}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("parameter")
    table.add_column("importance", justify="right")
    table.add_column("")
    for rank, (name, value) in enumerate(result.values.items(), start=1):
        table.add_row(str(rank), escape(name), f"{value:.3f}", "█" * round(value * 30))
    console.print(table)


def seed_table(results: Sequence[RetrainResult]) -> Table:
    """One column per config, one row per seed, and mean ± std (sample std) at the foot."""
    metric = results[0].objective.metric
    table = Table(title=f"{metric} over seeds", title_justify="left", show_footer=True)
    table.add_column("seed", footer="mean ± std")
    for result in results:
        title = f"{result.label}\n{result.config_path}" if result.label != "config" else str(result.config_path)
        table.add_column(escape(title), justify="right", footer=result.summary())
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
        return f"{name}seed {run.seed}: [red]failed: {escape(run.reason or 'unknown')}[/red]"
    how = "already done" if run.reused else f"{run.seconds or 0:.1f}s"
    return f"{name}seed {run.seed}: {run.value:.6g} ({how})"
