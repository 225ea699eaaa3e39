"""The live view of a running study: a progress line with the best value and the time to go, a row per
running trial (slot, epoch, latest value, elapsed), and one line per finished trial, all on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tuner import contract
from tuner.display.text import clock, escape, format_params, format_value
from tuner.study.records import run_duration

if TYPE_CHECKING:
    import optuna

    from tuner.study.records import TrialOutcome
    from tuner.trials.budget import Budget
    from tuner.trials.trial import TrialRun


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
        summarise: Callable[[], str] | None = None,
    ) -> None:
        self.console = console
        self.summarise = summarise  # several objectives: the front's size and each objective's best
        self.budget = budget
        self.n_trials = n_trials
        self.best: str = "none yet" if best is None else _best_text(best.value, best.number)
        if summarise is not None:
            self.best = summarise()
        self._running: dict[int, TrialRun] = {}
        self._waiting: dict[str, str] = {}  # --gpus free: slot label -> why it waits
        self._finished_here = 0
        self._eta: tuple[float, float] | None = None  # (when estimated, seconds to go then)
        self._stop_status = ""  # --terminator: its regret bound against the error, at the last complete trial
        # Told each finished trial before it is shown (the stop rules judge themselves again on a complete one).
        self.after_trial: Callable[[optuna.trial.FrozenTrial, TrialOutcome], None] | None = None
        self.progress = _StudyProgress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn() if n_trials is not None else TextColumn("{task.completed}"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            _LiveTextColumn(self.time_to_go),
            _LiveTextColumn(lambda: self._stop_status),
            console=console,
            transient=True,
            below=self.running_view,
        )
        self.task = self.progress.add_task("trials", total=n_trials, completed=already_done, best=self.best)

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def trial_started(self, run: TrialRun) -> None:
        self._running[run.number] = run
        self._refresh()

    def trial_finished(self, trial: optuna.trial.FrozenTrial, outcome: TrialOutcome, is_best: bool) -> None:
        self._running.pop(trial.number, None)
        self._finished_here += 1
        if self.after_trial is not None:
            self.after_trial(trial, outcome)
        if is_best:
            self.best = self.summarise() if self.summarise else _best_text(outcome.value, trial.number)
        self.progress.advance(self.task)
        self._estimate_time_to_go()
        self.console.print(trial_line(trial, outcome, is_best), highlight=False)
        self._refresh()

    def stop_status(self, status: str) -> None:
        """--terminator: ``regret bound 0.0123 vs error 0.004``, shown on the progress line."""
        self._stop_status = status

    def stopping(self, reason: str) -> None:
        self.console.print(f"[yellow]{reason}[/yellow]")

    def slots_waiting(self, waiting: Mapping[str, str]) -> None:
        """--gpus free: say which slots wait for their GPU (``gpu3 busy (other user's process): waiting``)."""
        for label in sorted(set(waiting) - set(self._waiting)):
            self.console.print(f"[yellow]{escape(label)} {escape(waiting[label])}: waiting[/yellow]")
        for label in sorted(set(self._waiting) - set(waiting)):
            self.console.print(f"{escape(label)} free again", highlight=False)
        self._waiting = dict(waiting)
        self._refresh()

    def time_to_go(self) -> str:
        """``ETA 0:04:10`` from this run's trial rate (with --n-trials, after a trial finished), and
        ``0:09:00 left`` of --timeout."""
        parts = []
        if self._eta is not None:
            estimated_at, seconds = self._eta
            parts.append(f"ETA {clock(max(0.0, seconds - (time.monotonic() - estimated_at)))}")
        left = self.budget.time_left()
        if left is not None:
            parts.append(f"{clock(left)} left")
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
        waiting = dict(self._waiting)
        if not runs and not waiting:
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
            elapsed = clock(time.monotonic() - run.started)
            table.add_row(f"trial {run.number}", escape(slot), epoch, format_value(value), elapsed)
        for label, why in sorted(waiting.items()):
            table.add_row("waiting", escape(label), "-", escape(why), "-")
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
    if outcome.state == "COMPLETE" and outcome.values:  # several objectives: each value; on the front or not
        shown = ", ".join(format_value(value) for value in outcome.values)
        status = f"[green]{shown}[/green]" + ("  [bold]front[/bold]" if is_best else "")
    elif outcome.state == "COMPLETE":
        status = f"[green]{format_value(outcome.value)}[/green]" + ("  [bold]best[/bold]" if is_best else "")
    elif outcome.state == "PRUNED":
        status = f"[yellow]pruned at epoch {outcome.pruned_epoch}[/yellow]"
    else:
        status = f"[red]failed: {escape(outcome.reason or 'unknown')}[/red]"
    if outcome.violations and any(value > 0 for value in outcome.violations.values()):
        status += "  [magenta]infeasible[/magenta]"
    return f"trial {trial.number:<4} {status}  {seconds:.1f}s  [dim]{escape(format_params(trial.params))}[/dim]"
