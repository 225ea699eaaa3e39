"""``tune storage-proxy``: Optuna's gRPC storage proxy in front of one database, for many `tune` workers.

Workers then open ``grpc://HOST:PORT`` (:mod:`tuner.study.grpc_client`): the proxy holds the database
connections (a few, however many workers) and caches finished trials for them.
"""

from __future__ import annotations

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
    """Serve ``url``'s storage at ``host:port`` until interrupted; ``on_ready`` hears the workers' URL first."""
    require("grpc", "google.protobuf", purpose="tune storage-proxy", extra="grpc")
    from concurrent.futures import ThreadPoolExecutor

    import optuna

    storage = proxied_storage(url)
    _check_free(host, port)
    on_ready(worker_url(host, port))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            optuna.storages.run_grpc_proxy_server(
                storage, host=host, port=port, thread_pool=ThreadPoolExecutor(max_workers=PROXY_THREADS)
            )
        except RuntimeError as error:  # grpc: "Failed to bind to address ..."
            raise OptionError(f"--host {host} --port {port}: cannot listen there ({error})") from None


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
