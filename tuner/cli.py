"""The ``tune`` command line: parse options, call the library, print. No logic of its own."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console

from tuner.errors import TunerError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130


class UserError(click.ClickException):
    """A :class:`TunerError` as click shows it: ``Error: message``, exit status 2."""

    exit_code = 2


class Seconds(click.ParamType):
    """A finite, positive number of seconds (``nan``, ``inf``, 0 and below are refused)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"must be a finite number of seconds above 0, got {value!r}", param, ctx)
        return seconds


class GpuList(click.ParamType):
    """``--gpus``: GPU indices separated by commas, or ``all``; a list naming no GPU is refused."""

    name = "gpus"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not any(item.strip() for item in str(value).split(",")):
            self.fail(f"{value!r} names no GPU; give indices such as 0,1, or 'all'", param, ctx)
        return str(value)


class _DefaultCommandGroup(click.Group):
    """``tune CONFIG SPACE ...`` is short for ``tune run CONFIG SPACE ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            _refuse_unknown_command(args[0], sorted(self.commands))
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _refuse_unknown_command(word: str, commands: list[str]) -> None:
    """A first argument that is no file and reads like a command name (no dot, no slash) is a mistyped command."""
    import difflib

    if word.startswith("-") or "." in word or "/" in word or Path(word).exists():
        return
    matches = difflib.get_close_matches(word, commands, n=1, cutoff=0.6)
    hint = f"did you mean '{matches[0]}'?" if matches else f"no file of that name either; commands: {', '.join(commands)}"
    raise click.UsageError(f"no such command '{word}'; {hint}")


@click.group(cls=_DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuner")
def main() -> None:
    """Tune the hyper-parameters of Jsonnet-configured training with Optuna.

    \b
      tune config.jsonnet hparams.json --n-trials 20   run (or resume) a study
                                                        (short for `tune run ...`)
      tune show-trials                                  list its trials
      tune dump-best                                    write best_config.json
      tune init-space config.jsonnet -o hparams.json    guess a search space to start from
      tune plot / importance / export                   see what the study found
      tune compare BASELINE TUNED --seeds 5             retrain both over seeds
    """


def _storage_options(function: F) -> F:
    function = click.option("--study-name", help="Study to read (default: the only one in the storage).")(function)
    return click.option("--storage", help="Optuna storage URL (default: sqlite:///tune.db here).")(function)


@main.command("run")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.argument("search_space", metavar="SEARCH_SPACE", required=False, type=click.Path(dir_okay=False))
@click.option("--study-config", type=click.Path(exists=True, dir_okay=False), help="JSON/Jsonnet file with 'tune' and 'optuna' sections (docs/api.md); options given here override its values.")
@click.option("--n-trials", type=int, help="Total trials the study should have, earlier runs included; re-running resumes up to it.")
@click.option("--timeout", type=Seconds(), help="Seconds of tune runs on this study, earlier runs included, after which no new trial starts.")
@click.option("--metric", help="Objective metric, e.g. best_validation_accuracy (default: from trainer.validation_metric).")
@click.option("--direction", type=click.Choice(["maximize", "minimize"]), help="Default: from the sign of trainer.validation_metric.")
@click.option("--sampler", default="tpe", show_default=True, help="Optuna sampler by name: tpe, random, grid, cmaes, gp, qmc, ...")
@click.option("--sampler-kwargs", help="JSON object of sampler arguments.")
@click.option("--pruner", default="median", show_default=True, help="Optuna pruner by name: median, hyperband, successivehalving, percentile, patient, threshold, wilcoxon, none.")
@click.option("--pruner-kwargs", help="JSON object of pruner arguments.")
@click.option("--seed", type=int, help="Seed for the sampler.")
@click.option("--storage", help="Optuna storage URL (default: sqlite:///tune.db in this folder).")
@click.option("--study-name", help="Default: the config file's name without extension.")
@click.option("-s", "--serialization-dir", type=click.Path(), help="Trial outputs (default: results/<study-name>; with another --storage than tune.db here, results/<study-name>-<storage hash>).")
@click.option("--ext-var", "ext_vars", multiple=True, metavar="NAME=VALUE", help="Fixed ext var for the config; repeatable. Unset ones come from the environment.")
@click.option("--command", help="Training command; placeholders {config}, {serialization_dir}, {trial_number}. Default: the built-in trainer.")
@click.option("--module", help="Python trainer module, run as `python -m MODULE CONFIG SERIALIZATION_DIR` (short for such a --command).")
@click.option("--launch", type=click.Choice(["warm", "plain"]), default="warm", show_default=True, help="warm: fork `python -m` trainers from a worker that already imported torch; plain: a fresh interpreter per trial.")
@click.option("--gpus", type=GpuList(), help="GPUs to run trials on, e.g. 0,1,2,3 or all: one slot per GPU, each trial sees only its GPU.")
@click.option("--trials-per-gpu", type=int, default=1, show_default=True, help="Trials running at once on each GPU.")
@click.option("--n-jobs", type=int, help="Trials running at once on the CPU (without --gpus).")
@click.option("--trial-timeout", type=Seconds(), help="End a trial (recorded as failed) after this many seconds.")
@click.option("--max-failures", type=int, help="Stop after this many failed trials in this run. Always: stop after 5 failures in a row with the same reason.")
@click.option("--max-failure-rate", type=float, help="Stop when more than this fraction (0-1) of this run's trials failed (after 5).")
@click.option("--restart", is_flag=True, help="Delete the stored study of this name and its trial folders, and start over.")
def run_command(**options: Any) -> None:
    """Run or resume a study: CONFIG (Jsonnet) with hyper-parameters from SEARCH_SPACE (or both from --study-config).

    Exit status: 0 when done; 1 when trials kept failing (the run gave up) or every trial this
    run finished failed (none completed or was pruned); 2 for bad input; 130 when interrupted.
    """
    from tuner.api import tune

    console = Console(stderr=True, soft_wrap=True)
    context = click.get_current_context()
    given = {name for name in options if context.get_parameter_source(name) != ParameterSource.DEFAULT}
    with _user_errors(console):
        arguments = _tune_arguments(options, given)
        if options["study_config"]:
            from tuner.study_config import load_study_config

            from_file = load_study_config(options["study_config"])
            ext_vars = {**(from_file.get("ext_vars") or {}), **arguments.get("ext_vars", {})}
            arguments = {**from_file, **arguments, **({"ext_vars": ext_vars} if ext_vars else {})}
        for name in ("config", "search_space"):
            if arguments.get(name) is None:
                raise click.UsageError(f"Missing argument '{name.upper()}' (give it, or --study-config with tune.{name})")
        result = tune(**arguments, console=console)
    finished = result.summary.finished
    console.print(
        f"{'Stopped' if result.summary.interrupted else 'Finished'}: {result.summary.stop_reason}; this run: "
        f"{finished['COMPLETE']} complete, {finished['PRUNED']} pruned, {finished['FAIL']} failed.",
        highlight=False,
    )
    reasons = result.summary.failure_reasons.most_common(1)
    if reasons and reasons[0][0] not in result.summary.stop_reason:
        reason, count = reasons[0]
        console.print(f"Most common failure ({count} of {finished['FAIL']}): {reason}", highlight=False)
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
    if result.summary.gave_up or result.summary.only_failures:
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


@main.command("init-space")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the search space here (default: print it).")
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False), help="Config with the current values written in (e.g. configs/digits_baseline.jsonnet): ranges are set around them.")
def init_space_command(config: str, output: str | None, force: bool, baseline: str | None) -> None:
    """Write a starting search space for CONFIG: one guessed entry per std.extVar, each marked for review."""
    import json

    from tuner.config import capture_config
    from tuner.contract import write_json_atomically
    from tuner.init_space import guess_search_space

    console = Console(stderr=True, soft_wrap=True)
    with _user_errors(console):
        space = guess_search_space(capture_config(config), baseline=capture_config(baseline) if baseline else None)
    if not space:
        raise UserError(f"{config} reads no std.extVar, so there is nothing to search")
    if output is None:
        click.echo(json.dumps(space, indent=2))
        return
    if Path(output).exists() and not force:
        raise UserError(f"{output} exists; pass --force to overwrite it")
    write_json_atomically(Path(output), space)
    console.print(
        f"Wrote {len(space)} guessed parameters to {output}; check each one's range and delete its 'review' key.",
        highlight=False,
    )


@main.command("train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def train_command(arguments: tuple[str, ...]) -> None:
    """Train one config with the built-in trainer: tune train CONFIG -s DIR [--ext-var NAME=VALUE]."""
    from tuner.train.cli import main as train_main

    sys.exit(train_main(list(arguments)))


def _tune_arguments(options: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """The :func:`tuner.tune` arguments for the options in ``given`` (the rest keep tune's defaults)."""
    from tuner.samplers import parse_kwargs

    converters: dict[str, Callable[[Any], Any]] = {
        "sampler_kwargs": lambda text: parse_kwargs(text, "--sampler-kwargs"),
        "pruner_kwargs": lambda text: parse_kwargs(text, "--pruner-kwargs"),
        "ext_vars": _parse_ext_vars,
    }
    arguments = {name: converters.get(name, lambda value: value)(options[name]) for name in given}
    arguments.pop("study_config", None)
    if "launch" in arguments:
        arguments["warm_launch"] = arguments.pop("launch") == "warm"
    if "module" in arguments:
        arguments["command"] = _command(arguments.get("command"), arguments.pop("module"))
    return arguments


def _load_study(storage: str | None, study_name: str | None) -> Any:
    from tuner.study import default_storage_url, load_existing_study, open_storage

    url = storage or default_storage_url()
    return load_existing_study(open_storage(url, must_exist=True, read_only=True), study_name, url)


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
            from tuner.study import mask_passwords

            raise UserError(mask_passwords(str(error))) from None  # whatever URL a message quotes


# The analysis commands (plot, importance, show-trials, export, retrain, compare) register themselves on `main`.
from tuner import cli_analysis  # noqa: E402,F401

if __name__ == "__main__":
    main()
