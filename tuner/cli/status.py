"""``tune status`` (a study's workers, running trials, counts and best) and ``tune storage-proxy``."""

from __future__ import annotations

import signal
from types import FrameType

import click

from tuner.cli.common import storage_options, user_errors
from tuner.display.consoles import consoles


@click.command("status")
@storage_options
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--all", "show_ended", is_flag=True, help="List ended workers too (JSON always has them).")
def status_command(storage: str | None, study_name: str | None, output_format: str, show_ended: bool) -> None:
    """Show the study's workers as the storage sees them (host, pid, slots, running trials and their epochs,
    last heartbeat) and its trial counts and best: the same view for one machine and fifty."""
    from tuner.analysis.status import study_status
    from tuner.cli.common import _read_without_optuna, quiet_optuna
    from tuner.display.status import render_status
    from tuner.study.storage import default_storage_url, load_existing_study, open_storage

    out = consoles(output_format)
    with user_errors(out.messages, optuna_later=True):
        url = storage or default_storage_url()
        stored = _read_without_optuna(url, study_name)  # a SQLite study, read without Optuna (as show-trials)
        if stored is not None:
            status = study_status(stored.storage, stored)
        else:
            quiet_optuna()
            opened = open_storage(url, must_exist=True, read_only=True)
            status = study_status(opened, load_existing_study(opened, study_name, url))
    render_status(status, output_format, out.data, show_ended=show_ended)


@click.command("storage-proxy")
@click.option("--storage", required=True, help="The database to serve (an RDB URL such as postgresql://...).")
@click.option("--host", default="localhost", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(1, 65535), default=13000, show_default=True)
def storage_proxy_command(storage: str, host: str, port: int) -> None:
    """Serve a study database through Optuna's gRPC storage proxy until Ctrl-C or SIGTERM.

    Workers use --storage grpc://HOST:PORT (the line it prints says which).

    Everything tune stores goes through it except trial heartbeats (see docs/many_machines.md).
    """
    from tuner.cluster.proxy import serve
    from tuner.study.storage import describe_storage

    out = consoles()

    def ready(worker_url: str) -> None:
        out.data.print(
            f"Serving {describe_storage(storage)} at {worker_url}: run workers with --storage {worker_url} "
            "(Ctrl-C stops it)",
            highlight=False,
        )
        out.data.file.flush()

    # Ctrl-C even when started with SIGINT ignored (`cmd &` in a script); SIGTERM alike.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGTERM, _stop)
    with user_errors(out.messages):
        try:
            serve(storage, host=host, port=port, on_ready=ready)
        except KeyboardInterrupt:
            out.messages.print("Storage proxy stopped.", highlight=False)
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the proxy as Ctrl-C does."""
    raise KeyboardInterrupt
