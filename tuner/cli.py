"""The ``tune`` command line: parse options, call the library, print. No logic of its own."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click
from rich.console import Console

from tuner.errors import TunerError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130


class UserError(click.ClickException):
    """A :class:`TunerError` as click shows it: ``Error: message``, exit status 2."""

    exit_code = 2


class _DefaultCommandGroup(click.Group):
    """``tune CONFIG SPACE ...`` is short for ``tune run CONFIG SPACE ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
def main() -> None:
    """Tune the hyper-parameters of Jsonnet-configured training with Optuna.

    \b
      tune config.jsonnet hparams.json --n-trials 20   run (or resume) a study
                                                        (short for `tune run ...`)
      tune show-trials                                  list its trials
      tune dump-best                                    write best_config.json
      tune plot / importance / export                   see what the study found
      tune compare BASELINE TUNED --seeds 5             retrain both over seeds
    """


def _storage_options(function: F) -> F:
    function = click.option("--study-name", help="Study to read (default: the only one in the storage).")(function)
    return click.option("--storage", help="Optuna storage URL (default: sqlite:///tune.db here).")(function)


@main.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("search_space", metavar="SEARCH_SPACE", type=click.Path(dir_okay=False))
@click.option("--n-trials", type=int, help="Total trials the study should have, earlier runs included; re-running resumes up to it.")
@click.option("--timeout", type=float, help="Seconds of tune runs on this study, earlier runs included, after which no new trial starts.")
@click.option("--metric", help="Objective metric, e.g. best_validation_accuracy (default: from trainer.validation_metric).")
@click.option("--direction", type=click.Choice(["maximize", "minimize"]), help="Default: from the sign of trainer.validation_metric.")
@click.option("--sampler", default="tpe", show_default=True, help="Optuna sampler by name: tpe, random, grid, cmaes, gp, qmc, ...")
@click.option("--sampler-kwargs", help="JSON object of sampler arguments.")
@click.option("--pruner", default="median", show_default=True, help="Optuna pruner by name: median, hyperband, successivehalving, percentile, patient, threshold, wilcoxon, none.")
@click.option("--pruner-kwargs", help="JSON object of pruner arguments.")
@click.option("--seed", type=int, help="Seed for the sampler.")
@click.option("--storage", help="Optuna storage URL (default: sqlite:///tune.db in this folder).")
@click.option("--study-name", help="Default: the config file's name without extension.")
@click.option("-s", "--serialization-dir", type=click.Path(), help="Trial outputs (default: results/<study-name>).")
@click.option("--ext-var", "ext_vars", multiple=True, metavar="NAME=VALUE", help="Fixed ext var for the config; repeatable. Unset ones come from the environment.")
@click.option("--command", help="Training command; placeholders {config}, {serialization_dir}, {trial_number}. Default: the built-in trainer.")
@click.option("--module", help="Python trainer module, run as `python -m MODULE CONFIG SERIALIZATION_DIR` (short for such a --command).")
@click.option("--launch", type=click.Choice(["warm", "plain"]), default="warm", show_default=True, help="warm: fork `python -m` trainers from a worker that already imported torch; plain: a fresh interpreter per trial.")
@click.option("--gpus", help="GPUs to run trials on, e.g. 0,1,2,3 or all: one slot per GPU, each trial sees only its GPU.")
@click.option("--trials-per-gpu", type=int, default=1, show_default=True, help="Trials running at once on each GPU.")
@click.option("--n-jobs", type=int, help="Trials running at once on the CPU (without --gpus).")
@click.option("--trial-timeout", type=float, help="End a trial (recorded as failed) after this many seconds.")
@click.option("--max-failures", type=int, help="Stop after this many failed trials in this run. Always: stop after 5 failures in a row with the same reason.")
@click.option("--max-failure-rate", type=float, help="Stop when more than this fraction (0-1) of this run's trials failed (after 5).")
@click.option("--restart", is_flag=True, help="Delete the stored study of this name and its trial folders, and start over.")
def run_command(**options: Any) -> None:
    """Run or resume a study: CONFIG (Jsonnet) with hyper-parameters from SEARCH_SPACE."""
    from tuner.api import tune
    from tuner.study import parse_kwargs

    console = Console(stderr=True, soft_wrap=True)
    with _user_errors(console):
        result = tune(
            config=options["config"],
            search_space=options["search_space"],
            n_trials=options["n_trials"],
            timeout=options["timeout"],
            metric=options["metric"],
            direction=options["direction"],
            sampler=options["sampler"],
            sampler_kwargs=parse_kwargs(options["sampler_kwargs"], "--sampler-kwargs"),
            pruner=options["pruner"],
            pruner_kwargs=parse_kwargs(options["pruner_kwargs"], "--pruner-kwargs"),
            seed=options["seed"],
            storage=options["storage"],
            study_name=options["study_name"],
            serialization_dir=options["serialization_dir"],
            ext_vars=_parse_ext_vars(options["ext_vars"]),
            command=_command(options["command"], options["module"]),
            warm_launch=options["launch"] == "warm",
            gpus=options["gpus"],
            trials_per_gpu=options["trials_per_gpu"],
            n_jobs=options["n_jobs"],
            trial_timeout=options["trial_timeout"],
            max_failures=options["max_failures"],
            max_failure_rate=options["max_failure_rate"],
            restart=options["restart"],
            console=console,
        )
    finished = result.summary.finished
    console.print(
        f"{'Stopped' if result.summary.interrupted else 'Finished'}: {result.summary.stop_reason}; this run: "
        f"{finished['COMPLETE']} complete, {finished['PRUNED']} pruned, {finished['FAIL']} failed.",
        highlight=False,
    )
    if result.best_trial is not None:
        console.print(
            f"Best trial {result.best_trial.number}: {result.objective.metric} = {result.best_value:.6g}; "
            f"config written to {result.best_config_path}",
            highlight=False,
        )
    else:
        console.print("No trial has completed yet, so there is no best config.")
    if result.summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if result.summary.gave_up:
        sys.exit(1)


@main.command("dump-best")
@_storage_options
@click.option("-o", "--output", type=click.Path(), default="best_config.json", show_default=True, help="Where to write the config.")
@click.option("--trial", "trial_number", type=int, help="Write this trial's config instead of the best one.")
def dump_best_command(storage: str | None, study_name: str | None, output: str, trial_number: int | None) -> None:
    """Write the best trial's config (rendered from the study alone) as plain JSON."""
    from tuner.results import select_trial, write_trial_config

    console = Console(stderr=True, soft_wrap=True)
    with _user_errors(console):
        study = _load_study(storage, study_name)
        trial = select_trial(study, trial_number)
        path = write_trial_config(study, trial, Path(output))
    which = "trial" if trial_number is not None else "best trial"
    console.print(f"Wrote {path} from {which} {trial.number} of study '{study.study_name}' (value {trial.value:.6g}).", highlight=False)


@main.command("train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def train_command(arguments: tuple[str, ...]) -> None:
    """Train one config with the built-in trainer: tune train CONFIG -s DIR [--ext-var NAME=VALUE]."""
    from tuner.train.cli import main as train_main

    sys.exit(train_main(list(arguments)))


def _load_study(storage: str | None, study_name: str | None) -> Any:
    from tuner.study import default_storage_url, load_existing_study, open_storage

    url = storage or default_storage_url()
    return load_existing_study(open_storage(url, must_exist=True), study_name, url)


def _command(command: str | None, module: str | None) -> str | None:
    if command and module:
        raise click.UsageError("give --command or --module, not both")
    return f"{{python}} -m {module} {{config}} {{serialization_dir}}" if module else command


def _parse_ext_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    ext_vars = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got '{pair}'", param_hint="--ext-var")
        ext_vars[name] = value
    return ext_vars


@contextmanager
def _user_errors(console: Console) -> Iterator[None]:
    """Show warnings as one line each, and turn user errors into ``Error: ...`` with exit 2."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("always", module="tuner")
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.showwarning = show
        try:
            yield
        except TunerError as error:
            raise UserError(str(error)) from None


# The analysis commands (plot, importance, show-trials, export, retrain, compare) register themselves on `main`.
from tuner import cli_analysis  # noqa: E402,F401

if __name__ == "__main__":
    main()
