"""``tune slurm``: every ``tune run`` option, and what to ask SLURM for; submits W workers on one study."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from tuner.cli.common import AtLeast, user_errors
from tuner.cli.run import _tune_arguments, _with_study_config, run_command
from tuner.display.consoles import message_console


@click.command("slurm")
@click.option("--workers", type=AtLeast(1), required=True, help="SLURM array tasks, each a `tune run` worker.")
@click.option(
    "--gpus-per-worker",
    type=AtLeast(0),
    default=0,
    show_default=True,
    help="GPUs per task (sbatch --gpus-per-node); its trials use them as slots (--gpus all, unless --gpus says).",
)
@click.option("--partition", help="SLURM partition (default: the cluster's default partition).")
@click.option("--time", "time_limit", required=True, metavar="HH:MM:SS", help="Time limit of each task.")
@click.option(
    "--slurm",
    "sbatch_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Another sbatch option by its long name (qos=high, account=lab, mem=32G; KEY= for a flag); repeatable.",
)
def slurm_command(**options: Any) -> None:
    """Submit a SLURM job array of `tune run` workers on one study: CONFIG and SEARCH_SPACE as for `tune run`.

    Each task runs `tune run` with the same options in this folder (a shared file system), on the same
    --storage (PostgreSQL, or journal:FILE on a shared file system; not SQLite) and study name.
    """
    from tuner.cluster.slurm import submit_tune_array
    from tuner.study.storage import describe_storage

    console = message_console()
    context = click.get_current_context()
    run_names = {param.name for param in run_command.params}
    given = {name for name in run_names if context.get_parameter_source(name) != ParameterSource.DEFAULT}
    with user_errors(console):
        arguments = _with_study_config(_tune_arguments(options, given), options["study_config"])
        submission = submit_tune_array(
            run_argv=_run_argv(options, given),
            tune_arguments=arguments,
            workers=options["workers"],
            time=options["time_limit"],
            partition=options["partition"],
            gpus_per_worker=options["gpus_per_worker"],
            sbatch_options=options["sbatch_options"],
        )
    for warning in submission.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    storage = describe_storage(submission.storage_url)
    console.print(
        f"Submitted SLURM job {submission.job_id}: {len(submission.task_ids)} array tasks "
        f"({', '.join(submission.task_ids)}), each a `tune run` worker on study '{submission.study_name}' in {storage}",
        highlight=False,
    )
    console.print(
        f"Task logs: {submission.log_dir}/{submission.job_id}_<task>/{submission.job_id}_<task>_0_log.out",
        highlight=False,
    )
    console.print(
        f"Follow it: squeue -j {submission.job_id}; "
        f"tune show-trials --storage '{storage}' --study-name '{submission.study_name}'",
        highlight=False,
    )


def _run_argv(options: dict[str, Any], given: set[str]) -> list[str]:
    """The `tune run` command line of the options given (positional arguments first), for each task to run."""
    positional: list[str] = []
    argv: list[str] = []
    for param in run_command.params:
        if param.name not in given or options[param.name] is None:
            continue
        value = options[param.name]
        if isinstance(param, click.Argument):
            positional.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            names = param.opts if value else param.secondary_opts
            argv += [max(names, key=len)] if names else []
        else:
            name = max(param.opts, key=len)
            for item in value if param.multiple else [value]:
                argv += [name, str(item)]
    return [*positional, *argv]


slurm_command.params[:0] = run_command.params  # every `tune run` option, as `tune run` defines it
