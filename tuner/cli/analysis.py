"""Commands that look at a study or retrain its configs: plot, importance, show-trials, export, retrain, compare.

Like every command: parse, call the library, print. :mod:`tuner.cli` adds them to the group.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tuner.analysis.importance import EVALUATORS
from tuner.analysis.plots import KINDS
from tuner.analysis.results import STATES
from tuner.cli.common import AtLeast, Finite, parse_ext_vars, storage_options, user_errors
from tuner.display.consoles import consoles, message_console

F = TypeVar("F", bound=Callable[..., Any])
PLOT_KINDS = tuple(KINDS)


def _load(storage: str | None, study_name: str | None, *, fast: bool = False) -> Any:
    from tuner.cli.common import load_study

    return load_study(storage, study_name, fast=fast)


@click.command("plot")
@click.argument("kinds", nargs=-1, type=click.Choice(PLOT_KINDS), metavar="[KIND]...")
@storage_options
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default="plots", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "png"]),
    default="html",
    show_default=True,
    help="html: interactive (plotly); png: static (matplotlib).",
)
@click.option("--baseline", type=Finite(), help="A reference value drawn on the optimisation history.")
@click.option(
    "--evaluator",
    type=click.Choice(EVALUATORS),
    default="fanova",
    show_default=True,
    help="For the importance plot and the contour's top parameters.",
)
def plot_command(
    kinds: tuple[str, ...],
    storage: str | None,
    study_name: str | None,
    output_dir: str,
    fmt: str,
    baseline: float | None,
    evaluator: str,
) -> None:
    """Plot the study: KIND is any of history, importance, parallel, slice, contour, intermediate, timeline,
    pareto (or all). With several objectives, one plot per objective where Optuna plots one value."""
    from tuner.analysis.plots import write_plots

    console = message_console()
    with user_errors(console):
        study = _load(storage, study_name)
        report = write_plots(study, directory=output_dir, kinds=kinds, fmt=fmt, baseline=baseline, evaluator=evaluator)
    for plot in report.written:
        note = f" ({plot.note})" if plot.note else ""
        console.print(f"{plot.label:<13} {plot.path}  {plot.seconds:.1f}s{note}", highlight=False)
    for kind, reason in report.skipped.items():
        console.print(f"[yellow]{kind:<13} left out: {reason}[/yellow]", highlight=False)


@click.command("importance")
@storage_options
@click.option("--evaluator", type=click.Choice(EVALUATORS), default="fanova", show_default=True)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
def importance_command(storage: str | None, study_name: str | None, evaluator: str, output_format: str) -> None:
    """Rank the parameters by importance (fANOVA by default) over the completed trials."""
    import json

    from tuner.analysis.importance import importances_per_objective, param_importances
    from tuner.display.findings import render_importances

    out = consoles(output_format)
    with user_errors(out.messages):
        study = _load(storage, study_name)
        if len(study.directions) > 1:  # one ranking per objective
            results = importances_per_objective(study, evaluator=evaluator)
            return _show_importances_per_objective(results, output_format, out.data)
        result = param_importances(study, evaluator=evaluator)
    if output_format == "json":
        data = {
            "evaluator": result.evaluator,
            "n_trials": result.n_trials,
            "n_completed": result.n_completed,
            "importances": dict(result.values),
        }
        click.echo(json.dumps(data, indent=2))
    else:
        render_importances(result, out.data)


def _show_importances_per_objective(results: list[Any], output_format: str, console: Any) -> None:
    import json

    from tuner.display.findings import render_importances

    if output_format == "json":
        data = [
            {
                "objective": one.objective,
                "evaluator": one.evaluator,
                "n_trials": one.n_trials,
                "n_completed": one.n_completed,
                "importances": dict(one.values),
            }
            for one in results
        ]
        click.echo(json.dumps({"objectives": data}, indent=2))
        return
    for one in results:
        console.print(f"[bold]{one.objective}[/bold]")
        render_importances(one, console)


# Replaces the plainer show-trials of cli.py (click keeps the last command registered under a name).
@click.command("show-trials")
@storage_options
@click.option(
    "--format", "output_format", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--sort",
    type=click.Choice(["number", "value", "duration", "state"]),
    help="value sorts best first (default: number; value with --top).",
)
@click.option("--reverse", is_flag=True, help="Reverse the sort order.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES, case_sensitive=False),
    help="Only trials in this state; repeatable.",
)
@click.option("--top", type=AtLeast(1), help="Only the K best completed trials.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME",
    help="Only these parameter columns; shell patterns such as '*_dim'; repeatable.",
)
@click.option(
    "--trial",
    "trial_number",
    type=AtLeast(0),
    help="Show this one trial in full: params, metrics, learning curve, files.",
)
@click.option("--pareto", is_flag=True, help="With several objectives: only the trials on the Pareto front.")
def show_trials_command(
    storage: str | None,
    study_name: str | None,
    output_format: str,
    sort: str | None,
    reverse: bool,
    states: tuple[str, ...],
    top: int | None,
    params: tuple[str, ...],
    trial_number: int | None,
    pareto: bool = False,
) -> None:
    """List a study's trials as a table, CSV or JSON, or show one trial in full."""
    from tuner.analysis.results import trial_detail, trial_rows
    from tuner.display.trials import render_trial_detail, render_trials

    out = consoles(output_format)
    with user_errors(out.messages, optuna_later=True):
        study = _load(storage, study_name, fast=True)
        if trial_number is not None:
            if output_format == "csv":
                raise click.BadParameter("one trial is shown as table or json", param_hint="--format")
            render_trial_detail(trial_detail(study, trial_number), output_format, out.data)
            return
        sort = sort or ("value" if top else "number")
        rows = trial_rows(study, states=states, sort=sort, reverse=reverse, top=top, params=params, pareto=pareto)
    render_trials(rows, output_format, out.data)


@click.command("export")
@storage_options
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default="export", show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="trials.csv instead of trials.tsv.")
@click.option("--plot-format", type=click.Choice(["html", "png"]), default="png", show_default=True)
@click.option("--no-plots", is_flag=True, help="Leave the plots out.")
@click.option("--baseline", type=Finite(), help="A reference value drawn on the optimisation history.")
def export_command(
    storage: str | None,
    study_name: str | None,
    output_dir: str,
    as_csv: bool,
    plot_format: str,
    no_plots: bool,
    baseline: float | None,
) -> None:
    """Write the study as files to share: trials.tsv, study.json, best_config.json, plots/.

    With several objectives: pareto/ (each Pareto trial's config and front.tsv) instead of best_config.json."""
    from tuner.analysis.export import export_study

    console = message_console()
    with user_errors(console, optuna_later=True):
        study = _load(storage, study_name, fast=no_plots)  # plots need Optuna's study
        result = export_study(
            study,
            directory=output_dir,
            plots=not no_plots,
            plot_format=plot_format,
            separator="," if as_csv else "\t",
            baseline=baseline,
        )
    console.print(
        f"Exported study '{study.study_name}' to {output_dir}/: "
        + ", ".join(str(path.relative_to(output_dir)) for path in result.files),
        highlight=False,
    )


def _retrain_options(function: F) -> F:
    options = [
        click.option(
            "--seeds", type=AtLeast(1), default=5, show_default=True, help="Runs per config, with seeds 0, 1, …"
        ),
        click.option(
            "-s",
            "--serialization-dir",
            type=click.Path(file_okay=False),
            help="Where the runs go (default: results/retrain/<config>-<hash>).",
        ),
        click.option("--metric", help="Default: from the config's trainer.validation_metric."),
        click.option("--direction", type=click.Choice(["maximize", "minimize"])),
        click.option("--command", help="Training command, as for `tune run`. Default: the built-in trainer."),
        click.option(
            "--ext-var",
            "ext_vars",
            multiple=True,
            metavar="NAME=VALUE",
            help="Ext var for Jsonnet configs; repeatable.",
        ),
        click.option("--n-jobs", type=AtLeast(1), default=1, show_default=True, help="Runs at once."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command("retrain")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_retrain_options
def retrain_command(config: str, **options: Any) -> None:
    """Train CONFIG (.json or .jsonnet, e.g. best_config.json) with several seeds: mean ± std of the metric."""
    _retrain_and_show({"config": config}, options, subfolders=False)


@click.command("compare")
@click.argument("baseline", type=click.Path(exists=True, dir_okay=False))
@click.argument("tuned", type=click.Path(exists=True, dir_okay=False))
@_retrain_options
def compare_command(baseline: str, tuned: str, **options: Any) -> None:
    """Retrain BASELINE and TUNED with the same seeds and show both side by side."""
    _retrain_and_show({"baseline": baseline, "tuned": tuned}, options, subfolders=True)


def _retrain_and_show(configs: dict[str, str], options: dict[str, Any], *, subfolders: bool) -> None:
    from tuner.analysis.retrain import retrain_many
    from tuner.display.findings import seed_run_line, seed_table

    out = consoles()
    console = out.messages
    with user_errors(console):
        results = retrain_many(
            configs=configs,
            seeds=options["seeds"],
            serialization_dir=options["serialization_dir"],
            metric=options["metric"],
            direction=options["direction"],
            command=options["command"],
            ext_vars=parse_ext_vars(options["ext_vars"]),
            n_jobs=options["n_jobs"],
            on_run=lambda result, run: console.print(seed_run_line(result, run), highlight=False),
            subfolders=subfolders,
        )
    out.data.print(seed_table(results))
    for result in results:
        console.print(f"{result.label}: runs in {result.directory}", highlight=False)
    if any(result.failed for result in results):
        sys.exit(1)
