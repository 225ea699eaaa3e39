"""``tune storage-proxy``: Optuna's gRPC storage proxy in front of one database, for many `tune` workers.

Workers then open ``grpc://HOST:PORT`` (:mod:`tuner.study.grpc_client`): the proxy holds the database
connections (a few, however many workers) and caches finished trials for them.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from tuner.errors import OptionError, require
from tuner.study.grpc_client import is_grpc_url
from tuner.study.storage import JOURNAL_PREFIX, describe_storage, open_storage

if TYPE_CHECKING:
    import optuna

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 13000
PROXY_THREADS = 16  # requests served at once (Optuna's default is 10)


def proxied_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage the proxy serves: an RDB storage with Optuna's trial cache; others are refused in one line."""
    import optuna

    where = describe_storage(url)
    if is_grpc_url(url):
        raise OptionError(f"--storage {where}: a proxy serves a database, not another proxy")
    if url.startswith(JOURNAL_PREFIX):
        raise OptionError(
            f"--storage {where}: Optuna's gRPC proxy does not serve journal storages; "
            "workers on a shared file system can open the journal file directly"
        )
    if url.startswith("sqlite://") and (":memory:" in url or url.rstrip("/") == "sqlite:"):
        raise OptionError(f"--storage {where}: in-memory SQLite lives in one process; give a file or a server")
    storage = open_storage(url, must_exist=False)
    return optuna.storages.get_storage(storage)  # wraps an RDB storage in Optuna's trial cache, as its docs advise


def worker_url(host: str, port: int) -> str:
    """What workers pass as ``--storage`` (a proxy listening on every interface is reached by this host's name)."""
    import socket

    shown = socket.gethostname() if host in ("0.0.0.0", "::", "[::]") else host
    return f"grpc://{shown}:{port}"


def serve(url: str, *, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve ``url``'s storage at ``host:port`` until interrupted; ``on_ready`` hears the workers' URL once
    the port accepts connections.

    Optuna's ``run_grpc_proxy_server`` binds and then serves without returning, so it runs in a thread
    of its own while this one waits for the port to answer, then for the server (or Ctrl-C).
    """
    require("grpc", "google.protobuf", purpose="tune storage-proxy", extra="grpc")
    from concurrent.futures import ThreadPoolExecutor

    import optuna

    storage = proxied_storage(url)
    _check_free(host, port)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            optuna.storages.run_grpc_proxy_server(
                storage, host=host, port=port, thread_pool=ThreadPoolExecutor(max_workers=PROXY_THREADS)
            )
        except BaseException as error:  # noqa: BLE001 - reported by the waiting thread
            failures.append(error)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        server = threading.Thread(target=run, name="storage-proxy", daemon=True)
        server.start()
        while server.is_alive() and not _accepts_connections(host, port):
            server.join(0.02)
        if server.is_alive():
            on_ready(worker_url(host, port))
        while server.is_alive():
            server.join(0.5)
    _raise_failure(failures, host, port)


def _accepts_connections(host: str, port: int) -> bool:
    """Whether something listens at ``host:port`` (an address of every interface is tried on loopback)."""
    import socket

    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host)
    try:
        socket.create_connection((target, port), timeout=1).close()
    except OSError:
        return False
    return True


def _raise_failure(failures: list[BaseException], host: str, port: int) -> None:
    """The server thread's error as the user's error where it is one (gRPC cannot bind), else as it was."""
    if not failures:
        return
    error = failures[0]
    if isinstance(error, RuntimeError):  # grpc: "Failed to bind to address ..."
        raise OptionError(f"--host {host} --port {port}: cannot listen there ({error})") from None
    raise error


def _check_free(host: str, port: int) -> None:
    """Refuse a port that something listens on: gRPC would share it (SO_REUSEPORT) with another proxy."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise OptionError(f"--host {host}: cannot resolve it ({error.strerror or error})") from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        try:
            probe.bind(address)
        except OSError as error:
            raise OptionError(f"--host {host} --port {port}: cannot listen there ({error.strerror})") from None
