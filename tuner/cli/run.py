"""The ``tune`` command line: parse options, call the library, print. No logic of its own."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from tuner.cli.common import (
    EXIT_INTERRUPTED,
    AtLeast,
    Fraction,
    GpuList,
    KeepCheckpoints,
    PositiveHours,
    Seconds,
    UserError,
    load_study,
    parse_ext_vars,
    storage_options,
    user_errors,
)
from tuner.cli.options_metrics import metrics_options
from tuner.cli.options_objectives import objective_options
from tuner.cli.options_scripts import module_command, script_arguments, script_options
from tuner.cli.options_search import search_options
from tuner.display.consoles import message_console

if TYPE_CHECKING:
    from rich.console import Console

    from tuner.api import TuneResult

MAX_SEED = 2**32 - 1  # numpy's, which Optuna's samplers seed


@click.command("run")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.argument("search_space", metavar="SEARCH_SPACE", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--study-config",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON/Jsonnet file with 'tune' and 'optuna' sections (docs/api.md); options given here override its values.",
)
@click.option(
    "--n-trials",
    type=AtLeast(1),
    help="Total trials the study should have, earlier runs included; re-running resumes up to it.",
)
@click.option(
    "--timeout",
    type=Seconds(),
    help="Seconds of tune runs on this study, earlier runs included, after which no new trial starts.",
)
@click.option(
    "--metric",
    multiple=True,
    help=(
        "Objective metric, e.g. best_validation_accuracy (default: from trainer.validation_metric); "
        "repeat it, each with its --direction, for several objectives."
    ),
)
@click.option(
    "--direction",
    multiple=True,
    type=click.Choice(["maximize", "minimize"]),
    help="Default: from the sign of trainer.validation_metric. One per --metric, in the same order.",
)
@click.option(
    "--sampler", default="tpe", show_default=True, help="Optuna sampler by name: tpe, random, grid, cmaes, gp, qmc, ..."
)
@click.option("--sampler-kwargs", help="JSON object of sampler arguments.")
@click.option(
    "--pruner",
    default="median",
    show_default=True,
    help="Optuna pruner by name: median, hyperband, successivehalving, percentile, patient, threshold, wilcoxon, none.",
)
@click.option("--pruner-kwargs", help="JSON object of pruner arguments.")
@click.option("--seed", type=AtLeast(0, MAX_SEED), help="Seed for the sampler.")
@click.option("--storage", help="Optuna storage URL (default: sqlite:///tune.db in this folder).")
@click.option("--study-name", help="Default: the config file's name without extension.")
@click.option(
    "-s",
    "--serialization-dir",
    type=click.Path(file_okay=False),
    help=(
        "Trial outputs (default: results/<study-name>; with another --storage than tune.db here, "
        "results/<study-name>-<storage hash>)."
    ),
)
@click.option(
    "--ext-var",
    "ext_vars",
    multiple=True,
    metavar="NAME=VALUE",
    help="Fixed ext var for the config; repeatable. Unset ones come from the environment.",
)
@click.option(
    "--command",
    help=(
        "Training command; placeholders {config}, {serialization_dir}, {trial_number}, {gpus}, {n_gpus}, {resume}, "
        "and each parameter of the space ({lr}). Default: the built-in trainer."
    ),
)
@click.option(
    "--module",
    help=(
        "Python trainer module, run as `python -m MODULE CONFIG SERIALIZATION_DIR`, or with its own arguments: "
        "--module 'train --lr {lr} --out {serialization_dir}' (short for such a --command)."
    ),
)
@click.option(
    "--launch",
    type=click.Choice(["warm", "plain"]),
    default="warm",
    show_default=True,
    help=(
        "warm: fork `python -m` trainers from a worker that already imported torch; "
        "plain: a fresh interpreter per trial."
    ),
)
@click.option(
    "--gpus",
    type=GpuList(),
    help=(
        "GPUs to run trials on: indices among those CUDA_VISIBLE_DEVICES lets this process see (0,1,2,3), all, "
        "or free (those nobody else uses when tune starts; checked again before each launch)."
    ),
)
@click.option(
    "--trials-per-gpu", type=AtLeast(1), default=1, show_default=True, help="Trials running at once on each GPU."
)
@click.option(
    "--gpus-per-trial",
    type=AtLeast(1),
    default=1,
    show_default=True,
    help="GPUs each trial gets (disjoint groups of --gpus, in order); the command may use {gpus} and {n_gpus}.",
)
@click.option(
    "--busy-gpu-mb",
    type=AtLeast(0),
    default=1024,
    show_default=True,
    help="With --gpus free: a GPU with more memory in use by others than this (MiB) is busy.",
)
@click.option("--n-jobs", type=AtLeast(1), help="Trials running at once on the CPU (without --gpus).")
@click.option("--trial-timeout", type=Seconds(), help="End a trial (recorded as failed) after this many seconds.")
@click.option(
    "--max-failures",
    type=AtLeast(1),
    help="Stop after this many failed trials in this run. Always: stop after 5 failures in a row with the same reason.",
)
@click.option(
    "--max-failure-rate",
    type=Fraction(),
    help="Stop when more than this fraction (0-1) of this run's trials failed (after 5).",
)
@click.option(
    "--max-retries",
    type=AtLeast(0),
    default=2,
    show_default=True,
    help="Times an interrupted trial (Ctrl-C, SIGTERM, tune killed) resumes in its folder before it counts as failed.",
)
@click.option(
    "--grace",
    type=Seconds(),
    default=30,
    show_default=True,
    help="Seconds trials get to save a checkpoint after SIGTERM, on Ctrl-C or SIGTERM, before SIGKILL.",
)
@click.option(
    "--restart", is_flag=True, help="Delete the stored study of this name and its trial folders, and start over."
)
# GPU-hours and disk (README "GPU-hours", "Disk and the best model")
@click.option(
    "--gpu-hours",
    type=PositiveHours(),
    help="GPU-hours (GPUs x run time of the trials, earlier runs included) after which no new trial starts.",
)
@click.option(
    "--keep-checkpoints",
    type=KeepCheckpoints(),
    default="best",
    show_default=True,
    help="Whose declared weights stay: best, top-K, all or none (best_model/ always has the best's).",
)
@metrics_options
@script_options  # scripts that take flags: --space, --trial-cwd, --preload (tuner/cli/options_scripts.py)
@search_options  # warm starts and stopping rules (README "Warm starts and stopping")
@objective_options
def run_command(**options: Any) -> None:
    """Run or resume a study: CONFIG (Jsonnet) with hyper-parameters from SEARCH_SPACE (or both from --study-config).

    Without a config: tune SEARCH_SPACE --command "python train.py --lr {lr} --out {serialization_dir}".

    Exit status: 0 when done; 1 when trials kept failing (the run gave up) or every trial this
    run finished failed (none completed or was pruned); 2 for bad input; 130 when interrupted.
    """
    from tuner.api import tune

    console = message_console()
    context = click.get_current_context()
    given = {name for name in options if context.get_parameter_source(name) != ParameterSource.DEFAULT}
    with user_errors(console):
        result = tune(**_with_study_config(_tune_arguments(options, given), options["study_config"]), console=console)
    _print_outcome(console, result)
    if result.summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if result.summary.gave_up or result.summary.only_failures:
        sys.exit(1)


def _with_study_config(arguments: dict[str, Any], study_config: str | None) -> dict[str, Any]:
    """The options given, over the values of the --study-config file; ``--ext-var`` overrides name by name."""
    if study_config:
        from tuner.config.study_file import load_study_config

        from_file = load_study_config(study_config)
        ext_vars = {**(from_file.get("ext_vars") or {}), **arguments.get("ext_vars", {})}
        arguments = {**from_file, **arguments, **({"ext_vars": ext_vars} if ext_vars else {})}
    _check_config_and_space(arguments)
    return arguments


def _check_config_and_space(arguments: dict[str, Any]) -> None:
    """CONFIG and SEARCH_SPACE given (or a space and a --command: a script that takes flags), or what to give."""
    script = "or a --command with a placeholder for each parameter for a script that takes flags"
    if arguments.get("search_space") is None:
        hint = f"; {script}: tune SPACE --command ..." if arguments.get("command") is None else ""
        name = "CONFIG" if arguments.get("config") is None else "SEARCH_SPACE"
        raise click.UsageError(f"Missing argument '{name}' (give it, or --study-config with tune.{name.lower()}{hint})")
    if arguments.get("config") is None and arguments.get("command") is None:
        raise click.UsageError(
            f"no CONFIG for the search space {arguments['search_space']}: give a Jsonnet CONFIG (or --study-config "
            f"with tune.config), {script}: tune run --space SPACE --command 'python train.py --lr {{lr}}'"
        )


def _print_outcome(console: Console, result: TuneResult) -> None:
    """Why the run stopped, what it finished, its most common failure, and the best trial."""
    summary = result.summary
    finished = summary.finished
    console.print(
        f"{'Stopped' if summary.interrupted else 'Finished'}: {summary.stop_reason}; this run: "
        f"{finished['COMPLETE']} complete, {finished['PRUNED']} pruned, {finished['FAIL']} failed.",
        highlight=False,
    )
    reasons = summary.failure_reasons.most_common(1)
    if reasons and reasons[0][0] not in summary.stop_reason:
        reason, count = reasons[0]
        console.print(f"Most common failure ({count} of {finished['FAIL']}): {reason}", highlight=False)
    if result.pareto_dir is not None:
        from tuner.display.pareto import front_lines

        for line in front_lines(result):
            console.print(line, highlight=False)
    elif result.best_trial is not None:
        console.print(
            f"Best trial {result.best_trial.number}: {result.objective.metric} = {result.best_value:.6g}; "
            f"config written to {result.best_config_path}",
            highlight=False,
        )
    elif result.objective.constraints and result.summary.finished["COMPLETE"]:
        console.print("No completed trial meets the constraints yet, so there is no best config.")
    else:
        console.print("No trial has completed yet, so there is no best config.")
    _print_usage(console, result)


def _print_usage(console: Console, result: TuneResult) -> None:
    """Where the best weights are, the study's GPU-hours and what pruning saved (GPU studies only)."""
    from tuner.analysis.gpu_hours import study_gpu_hours
    from tuner.display.trials import gpu_hours_line

    if result.best_model_path is not None:
        console.print(f"Its weights: {result.best_model_path}/", highlight=False)
    line = gpu_hours_line(study_gpu_hours(result.study))
    if line:
        console.print(line, highlight=False)


@click.command("dump-best")
@storage_options
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default="best_config.json",
    show_default=True,
    help="Where to write the config.",
)
@click.option("--trial", "trial_number", type=AtLeast(0), help="Write this trial's config instead of the best one.")
def dump_best_command(storage: str | None, study_name: str | None, output: str, trial_number: int | None) -> None:
    """Write the best trial's config (rendered from the study alone) as plain JSON."""
    from tuner.analysis.best_command import write_best_command_if_no_config
    from tuner.analysis.results import select_trial
    from tuner.display.pareto import trial_value_text
    from tuner.study.records import write_trial_config

    console = message_console()
    with user_errors(console, optuna_later=True):
        study = load_study(storage, study_name, fast=True)
        trial = select_trial(study, trial_number)
        path = write_trial_config(study, trial, Path(output))
        script = write_best_command_if_no_config(study, trial, path)  # a study without a config: its command
    which = "trial" if trial_number is not None else "best trial"
    console.print(
        f"Wrote {path} from {which} {trial.number} of study '{study.study_name}' ({trial_value_text(trial)}).",
        highlight=False,
    )
    if script is not None:
        console.print(f"Wrote {script}: runs it again (its outputs: the folder given as argument).", highlight=False)


@click.command("init-space")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the search space here (default: print it)."
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False),
    help="Config with the current values written in (e.g. configs/digits_baseline.jsonnet): ranges go around them.",
)
def init_space_command(config: str, output: str | None, force: bool, baseline: str | None) -> None:
    """Write a starting search space for CONFIG: one guessed entry per std.extVar, each marked for review."""
    import json

    from tuner.config.init_space import guess_search_space
    from tuner.config.snapshot import capture_config
    from tuner.contract import write_json_atomically

    console = message_console()
    with user_errors(console):
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


@click.command(
    "train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def train_command(arguments: tuple[str, ...]) -> None:
    """Train one config with the built-in trainer: tune train CONFIG -s DIR [--ext-var NAME=VALUE]."""
    from tuner.train.cli import main as train_main

    sys.exit(train_main(list(arguments)))


def _tune_arguments(options: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """The :func:`tuner.tune` arguments for the options in ``given`` (the rest keep tune's defaults)."""
    from tuner.study.samplers import parse_kwargs

    converters: dict[str, Callable[[Any], Any]] = {
        "sampler_kwargs": lambda text: parse_kwargs(text, "--sampler-kwargs"),
        "pruner_kwargs": lambda text: parse_kwargs(text, "--pruner-kwargs"),
        "ext_vars": parse_ext_vars,
    }
    arguments = {name: converters.get(name, lambda value: value)(options[name]) for name in given}
    arguments.pop("study_config", None)
    arguments = script_arguments(arguments)
    if "launch" in arguments:
        arguments["warm_launch"] = arguments.pop("launch") == "warm"
    if "module" in arguments:
        arguments["command"] = _command(arguments.get("command"), arguments.pop("module"), arguments)
    return arguments


def _command(command: str | None, module: str | None, arguments: dict[str, Any]) -> str | None:
    if command and module:
        raise click.UsageError("give --command or --module, not both")
    return module_command(module, arguments) if module else command
