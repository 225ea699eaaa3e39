"""One-line errors for a full disk and a failing storage around a whole study run."""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from tuner.errors import OutputError, StudyError
from tuner.study.storage import default_storage_url, describe_storage

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

F = TypeVar("F", bound=Callable[..., Any])


def storage_and_disk_errors(function: F) -> F:
    """Turn a full disk (under the outputs or the database) and a failing storage into one-line errors.

    Running trials were ended and recorded on the way out where the storage allowed; those
    it could not record keep their launch record, so the next run recovers them.
    """

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        import optuna
        import sqlalchemy.exc

        try:
            return function(**kwargs)
        except OSError as error:
            if error.errno not in _DISK_FULL:
                raise
            raise OutputError(
                f"cannot write {error.filename or 'the study outputs'}: {error.strerror}; "
                "free space there and run the same command again to resume"
            ) from None
        except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as error:
            url = describe_storage(kwargs.get("storage") or default_storage_url())
            raise StudyError(
                f"storage {url} failed: {storage_reason(error)}; fix it (free disk space, say) "
                "and run the same command again to resume"
            ) from None

    return wrapper  # type: ignore[return-value]


def storage_reason(error: BaseException) -> str:
    """The database's own words: Optuna wraps SQLAlchemy's error, which wraps the driver's."""
    while error.__cause__ is not None:
        error = error.__cause__
    error = getattr(error, "orig", None) or error
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
