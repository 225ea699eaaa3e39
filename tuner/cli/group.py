"""The ``tune`` click group: ``tune CONFIG SPACE`` is short for ``tune run``; a mistyped command is named."""

from __future__ import annotations

from pathlib import Path

import click

from tuner.errors import did_you_mean


class _DefaultCommandGroup(click.Group):
    """``tune CONFIG SPACE ...`` is short for ``tune run CONFIG SPACE ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            _refuse_unknown_command(args[0], sorted(self.commands))
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _refuse_unknown_command(word: str, commands: list[str]) -> None:
    """A first argument that is no file and reads like a command name (no dot, no slash) is a mistyped command."""
    if word.startswith("-") or "." in word or "/" in word or Path(word).exists():
        return
    # The helper's " (did you mean 'run'?)" without its brackets: here the hint is a clause of its own.
    hint = did_you_mean(word, commands).strip(" ()") or f"no file of that name either; commands: {', '.join(commands)}"
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
      tune status                                       workers of a study, their trials, its best
      tune storage-proxy --storage URL                  serve a database to workers (grpc://)
      tune slurm CONFIG SPACE --workers 4 --time 4:00:00 --storage postgresql://...
                                                        a SLURM job array of workers on one study
    """


from tuner.cli.slurm import slurm_command  # after the group: the commands' own modules do not import it

main.add_command(slurm_command)
