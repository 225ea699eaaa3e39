"""``grpc://HOST:PORT``: a study's storage reached through Optuna's gRPC storage proxy (``tune storage-proxy``).

Through the proxy tune stores and reads everything it stores directly (study and trial attributes,
the worker registry), with one exception: Optuna's proxy carries no trial heartbeats. So a trial whose
`tune` died on this host is recovered as always (its launch record names the dead process), while one
whose `tune` died on another host stays RUNNING until that `tune` runs again there, or someone fails it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tuner.errors import StudyError, require

if TYPE_CHECKING:
    import optuna

GRPC_PREFIX = "grpc://"
CONNECT_TIMEOUT_SECONDS = 30  # workers often start with their proxy; a loaded host starts it slowly
GRPC_LIMITS = (
    "Through the gRPC storage proxy: no trial heartbeats (Optuna's proxy does not carry them), so a trial "
    "whose tune dies on another host stays RUNNING until a tune on that host starts again; see docs/many_machines.md"
)


def is_grpc_url(url: str) -> bool:
    return url.startswith(GRPC_PREFIX)


def grpc_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of a ``grpc://HOST:PORT`` URL; a malformed one is a :class:`StudyError`."""
    host, _, port = url[len(GRPC_PREFIX) :].rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise StudyError(f"--storage {url}: write the proxy's address as grpc://HOST:PORT (see tune storage-proxy)")
    return host.strip("[]"), int(port)


def open_grpc(url: str, *, heartbeats: bool = False) -> optuna.storages.BaseStorage:
    """A client of the gRPC storage proxy at ``url``, once the proxy answers.

    ``heartbeats``: the caller wants trial heartbeats (`tune run`); it is warned, in one line, that there are none.
    """
    host, port = grpc_address(url)
    require("grpc", "google.protobuf", purpose=f"--storage {url}", extra="grpc")
    # gRPC's fork support restarts its poller in a child that is about to exec a trial; subprocess's close_fds
    # then takes its epoll descriptor and the child aborts before exec (grpc/grpc#43055, grpcio >= 1.81).
    # tune's children never use gRPC, so the support is turned off (read when grpc is first imported).
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        storage.wait_server_ready(timeout=CONNECT_TIMEOUT_SECONDS)
    except ConnectionError:
        storage.close()
        raise StudyError(
            f"--storage {url}: no storage proxy answers at {host}:{port} within {CONNECT_TIMEOUT_SECONDS} s "
            "(start one with `tune storage-proxy --storage URL`)"
        ) from None
    if heartbeats:
        warnings.warn(GRPC_LIMITS, stacklevel=2)
    return storage
