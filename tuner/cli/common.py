"""What every command shares: option types, storage options, and the one place user errors become ``Error: ...``.

Numbers are checked here, by click types, so that a bad one is refused before the library is called;
the library's own checks are for Python callers and name its arguments, not these options.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tuner.errors import TunerError

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130


class UserError(click.ClickException):
    """A :class:`TunerError` as click shows it: ``Error: message``, exit status 2."""

    exit_code = 2


class _Refused(click.BadParameter):
    """``--n-trials must be at least 1, got 0``: the option's name opens the one error line."""

    def format_message(self) -> str:
        names = self.param.opts if self.param is not None else []
        return f"{max(names, key=len)} {self.message}" if names else super().format_message()


class AtLeast(click.IntRange):
    """An integer of at least ``minimum`` (and at most ``maximum``, when given)."""

    def __init__(self, minimum: int, maximum: int | None = None) -> None:
        super().__init__(min=minimum, max=maximum)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = click.INT.convert(value, param, ctx)
        if number < self.min:
            raise _Refused(f"must be at least {self.min}, got {number}", ctx, param)
        if self.max is not None and number > self.max:
            raise _Refused(f"must be at most {self.max}, got {number}", ctx, param)
        return number


class Fraction(click.FloatRange):
    """A number in (0, 1]; ``nan`` is refused too (click's range lets it through: it compares false)."""

    def __init__(self) -> None:
        super().__init__(min=0, max=1, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not 0 < number <= 1:
            raise _Refused(f"must be in (0, 1], got {number}", ctx, param)
        return number


class Finite(click.FloatRange):
    """Any finite number (``nan`` and ``inf`` are refused)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            raise _Refused(f"must be a finite number, got {value}", ctx, param)
        return number


class Seconds(click.ParamType):
    """A finite, positive number of seconds (``nan``, ``inf``, 0 and below are refused)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
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


def storage_options(function: F) -> F:
    function = click.option("--study-name", help="Study to read (default: the only one in the storage).")(function)
    return click.option("--storage", help="Optuna storage URL (default: sqlite:///tune.db here).")(function)


def load_study(storage: str | None, study_name: str | None, *, fast: bool = False) -> Any:
    """The stored study, read-only. ``fast``: for a command that only reads the study's trials and attributes,
    a SQLite study is read without Optuna where :mod:`tuner.study.sqlite_reader` knows its schema (a
    :class:`~tuner.study.sqlite_reader.StoredStudy`); otherwise, and for every other storage, Optuna's study."""
    from tuner.study.storage import default_storage_url, load_existing_study, open_storage

    url = storage or default_storage_url()
    study = _read_without_optuna(url, study_name) if fast else None
    if study is not None:
        return study
    quiet_optuna()
    return load_existing_study(open_storage(url, must_exist=True, read_only=True), study_name, url)


def _read_without_optuna(url: str, study_name: str | None) -> Any:
    """The study through the fast reader, the file checked as Optuna's way checks it; None to take Optuna's way."""
    from tuner.study import sqlite_reader
    from tuner.study.sqlite_files import check_sqlite_file, read_uri

    path = sqlite_reader.sqlite_file(url)
    if path is None or not sqlite_reader.read_only_enabled() or not path.is_file():
        return None  # Optuna's way says what is wrong with a missing file
    uri = read_uri(path)
    check_sqlite_file(path, uri)  # an unsound file: the same error as Optuna's way gives
    return sqlite_reader.read_study(uri, study_name)


def quiet_optuna() -> None:
    """Optuna's log at warnings only, and its experimental-feature warnings ignored (in the
    :func:`user_errors` block, whose warning filters end with it)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def parse_ext_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    ext_vars = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got '{pair}'", param_hint="--ext-var")
        ext_vars[name] = value
    return ext_vars


@contextmanager
def user_errors(console: Console, *, optuna_later: bool = False) -> Iterator[None]:
    """Show warnings as one line each, and turn user errors into ``Error: ...`` with exit 2.

    ``optuna_later``: a command that may not need Optuna at all; :func:`load_study` quiets it where it is
    imported (the read-only commands).
    """

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("always", module="tuner")
        # An object collected while tuner code runs is reported as if tuner warned: not the user's to read.
        warnings.filterwarnings("ignore", category=ResourceWarning)
        if not optuna_later:
            quiet_optuna()
        warnings.showwarning = show
        try:
            yield
        except TunerError as error:
            from tuner.study.storage import mask_passwords

            raise UserError(mask_passwords(str(error))) from None  # whatever URL a message quotes


class PositiveHours(click.FloatRange):
    """A finite number of hours above 0 (click's range lets ``nan`` through: it compares false)."""

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not 0 < number < float("inf"):
            self.fail(f"must be a finite number of GPU-hours above 0, got {value!r}", param, ctx)
        return number


class KeepCheckpoints(click.ParamType):
    """``--keep-checkpoints``: best, top-K, all or none."""

    name = "best|top-K|all|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from tuner.errors import OptionError
        from tuner.study.checkpoints import KEEP_CHOICES, parse_keep

        try:
            parse_keep(value)
        except OptionError:
            self.fail(f"takes {KEEP_CHOICES}; got {value!r}", param, ctx)
        return str(value)
