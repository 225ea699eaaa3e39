"""Optuna studies: storage URLs, samplers and pruners by name, creating and resuming.

The study remembers what ``tune`` needs to work without the original files
(metric, search space, config snapshots) as study user attributes.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.errors import StudyError, did_you_mean
from tuner.space.parameters import Parameter, SearchSpace
from tuner.study.grpc_client import is_grpc_url, open_grpc
from tuner.study.heartbeat import opened_from
from tuner.study.records import direction_name, remember_metric, stored_metric
from tuner.study.sqlite_files import check_sqlite_file, read_only_uri, read_uri

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE_FILE = "tune.db"
JOURNAL_PREFIX = "journal:"
SQLITE_BUSY_TIMEOUT_SECONDS = 60
STORAGE_OPEN_ATTEMPTS = 5
HEARTBEAT_INTERVAL_SECONDS = 20
HEARTBEAT_GRACE_FACTOR = 3


def default_storage_url(directory: Path | None = None) -> str:
    """``sqlite:///tune.db`` in the working directory (or ``directory``)."""
    path = (directory or Path(".")) / DEFAULT_STORAGE_FILE
    return f"sqlite:///{path}"


# "scheme://user:password@": the password of any URL in a text, even one that does not parse.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)\S*@")  # greedy: a raw @ in the password too


def mask_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@...`` in it shown as ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def describe_storage(url: str) -> str:
    """The storage URL fit for printing: any password is masked, also in a URL that does not parse."""
    try:
        from sqlalchemy.engine import make_url

        return mask_passwords(make_url(url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL (a journal file, a typo): mask what looks like one
        return mask_passwords(url)


def open_storage(
    url: str, *, must_exist: bool, heartbeat_interval: int | None = None, read_only: bool = False
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``: any RDB URL, or ``journal:PATH`` for a journal file.

    With ``must_exist``, a missing SQLite or journal file is an error instead of being
    created. ``heartbeat_interval`` turns on Optuna's heartbeat (RDB storages): a trial
    whose `tune` process stops beating is failed and retried once by whoever looks next
    (:mod:`tuner.trials.recovery`). ``read_only`` opens an SQLite file read-only (commands that only
    look at a study), so that it can be read in a folder one cannot write to. An SQLite file
    that is not a sound database is refused before Optuna touches it.
    """
    if url.startswith(JOURNAL_PREFIX):
        return _open_journal(url, must_exist=must_exist)
    if is_grpc_url(url):
        return open_grpc(url, heartbeats=heartbeat_interval is not None)  # the proxy's own storage
    sqlite_path = _sqlite_path(url)
    open_url = (
        url
        if sqlite_path is None
        else _checked_sqlite_url(url, sqlite_path, must_exist=must_exist, read_only=read_only)
    )
    for attempt in range(STORAGE_OPEN_ATTEMPTS):
        try:
            return _open_rdb(
                open_url, sqlite=sqlite_path is not None, heartbeat_interval=heartbeat_interval, read_only=read_only
            )
        except Exception as error:  # noqa: BLE001 - drivers raise many kinds; all become one line
            if _is_creation_race(error) and attempt + 1 < STORAGE_OPEN_ATTEMPTS:
                time.sleep(0.2 * (attempt + 1))  # another process is creating the tables right now
                continue
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            first_line = mask_passwords(first_line)
            if "Failed to import DB access module" in first_line:
                first_line = "its database driver is not installed (for PostgreSQL: pip install 'tuner[postgres]')"
            raise StudyError(f"cannot open storage {describe_storage(url)}: {first_line}") from None
    raise AssertionError("unreachable")


def _checked_sqlite_url(url: str, path: Path, *, must_exist: bool, read_only: bool) -> str:
    """The URL to open the SQLite file ``path`` with, once it is known to be there (or creatable) and sound."""
    if must_exist and not path.is_file():
        raise StudyError(f"no study storage at {path}; run `tune CONFIG SPACE` here first or pass --storage")
    if not must_exist and not path.parent.is_dir():
        raise StudyError(f"--storage {url}: folder {path.parent} does not exist")
    if not path.is_file():
        return url
    uri = read_uri(path) if read_only else read_only_uri(path)
    check_sqlite_file(path, uri)
    return f"sqlite:///{uri}{'&' if '?' in uri else '?'}uri=true" if read_only else url


def _open_rdb(
    url: str, *, sqlite: bool, heartbeat_interval: int | None, read_only: bool = False
) -> optuna.storages.BaseStorage:
    import optuna

    engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}} if sqlite else None
    url = _with_installed_postgres_driver(url)
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": heartbeat_interval * HEARTBEAT_GRACE_FACTOR,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    if sqlite and not read_only:
        _use_write_ahead_log(storage)
    return storage


def _use_write_ahead_log(storage: optuna.storages.RDBStorage) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: a commit no longer waits for fsync.

    A trial costs some 15 commits; with the default rollback journal each one syncs the
    disk (5-8 ms here). In WAL mode the database stays consistent through any crash; a
    power cut can lose the last commits. Readers (optuna-dashboard) no longer block writers.
    """
    import sqlalchemy

    def configure(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", configure)
    storage.engine.dispose()  # connections made while Optuna set the tables up lack the pragmas


def _with_installed_postgres_driver(url: str) -> str:
    """Name the PostgreSQL driver that is installed: SQLAlchemy's default for a bare
    ``postgresql://`` differs between versions (psycopg2 in 2.0, psycopg 3 in 2.1)."""
    scheme, separator, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not separator:
        return url
    import importlib.util

    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"{dialect}://{rest}"
    return url


def _open_journal(url: str, *, must_exist: bool) -> optuna.storages.BaseStorage:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = Path(url[len(JOURNAL_PREFIX) :])
    if must_exist and not path.is_file():
        raise StudyError(f"no journal storage at {path}; run `tune CONFIG SPACE --storage {url}` first")
    if not path.parent.is_dir():
        raise StudyError(f"--storage {url}: folder {path.parent} does not exist")
    try:
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except Exception as error:  # noqa: BLE001 - a damaged journal fails in many ways; all become one line
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StudyError(
            f"{path} is not a readable Optuna journal ({detail}); restore it or pass another --storage"
        ) from None


def _is_creation_race(error: Exception) -> bool:
    text = str(error).lower()
    return "already exists" in text or "database is locked" in text or "unique constraint" in text


class StorageFileWatch:
    """Notices the study's SQLite or journal file being deleted or replaced while `tune` runs.

    SQLite goes on writing into a deleted file through the handles it holds, so a run would
    otherwise finish as if nothing happened, with everything it recorded gone.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lost = False
        self._absolute = os.path.abspath(path)  # the file opened, whatever the working directory becomes
        self._identity = self._file_identity()

    def check(self) -> None:
        """Raise :class:`StudyError` (and set :attr:`lost`) when the file is no longer the one opened."""
        identity = self._file_identity()
        if identity == self._identity:
            return
        self.lost = True
        what = "deleted" if identity is None else "replaced by another file"
        raise StudyError(
            f"the study's storage {self.path} was {what} while tune ran: the study is gone from it "
            "(trial folders remain); stopped without recording the running trials"
        )

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self._absolute)
        except FileNotFoundError:
            return None
        return status.st_dev, status.st_ino


def watch_storage_file(url: str) -> StorageFileWatch | None:
    """A :class:`StorageFileWatch` for a SQLite or journal storage; None for a database server."""
    path = Path(url[len(JOURNAL_PREFIX) :]) if url.startswith(JOURNAL_PREFIX) else _sqlite_path(url)
    return StorageFileWatch(path) if path is not None and path.exists() else None


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [summary.study_name for summary in storage.get_all_studies()]


def load_existing_study(storage: optuna.storages.BaseStorage, name: str | None, url: str) -> optuna.Study:
    """The named study, or the only one in the storage; errors list what exists."""
    import optuna

    names = study_names(storage)
    if not names:
        raise StudyError(f"storage {describe_storage(url)} holds no study yet")
    if name is None:
        if len(names) > 1:
            raise StudyError(
                f"storage {describe_storage(url)} holds several studies ({', '.join(names)}); pass --study-name"
            )
        name = names[0]
    if name not in names:
        raise StudyError(
            f"no study '{name}' in {describe_storage(url)}{did_you_mean(name, names)}; "
            f"studies there: {', '.join(names)}"
        )
    return optuna.load_study(study_name=name, storage=storage)  # several objectives: see tuner.study.pareto


def create_or_resume_study(
    storage: optuna.storages.BaseStorage,
    *,
    name: str,
    direction: str | list[str],
    metric: str | list[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    restart: bool,
) -> tuple[optuna.Study, bool]:
    """Create the study, or load it to resume; returns (study, resumed).

    A resumed study must have the same direction and metric, else :class:`StudyError`
    (nothing in it is changed). Lists of directions and metrics make a multi-objective study
    (:func:`tuner.study.pareto.check_objectives` compares them on resume).
    """
    import optuna

    if not isinstance(direction, str) or not isinstance(metric, str):
        from tuner.study.pareto import create_or_resume_multi

        return create_or_resume_multi(
            storage,
            name=name,
            directions=list(direction),
            metrics=list(metric),
            sampler=sampler,
            pruner=pruner,
            restart=restart,
        )
    exists = name in study_names(storage)
    if exists and restart:
        optuna.delete_study(study_name=name, storage=storage)
        exists = False
    if exists:
        study = _single_objective(optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner))
        _check_compatible(study, direction, metric)
        return opened_from(study, storage), True
    try:
        study = optuna.create_study(
            storage=storage, study_name=name, direction=direction, sampler=sampler, pruner=pruner
        )
    except optuna.exceptions.DuplicatedStudyError:  # another process created it a moment ago
        study = _single_objective(optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner))
        _check_compatible(study, direction, metric)
        return opened_from(study, storage), True
    remember_metric(study, metric)
    return opened_from(study, storage), False


def check_space_compatible(study: optuna.Study, space: SearchSpace) -> None:
    """Refuse a search space that gives a parameter of the study's trials another kind of distribution.

    Optuna refuses it too, but only when the parameter is sampled, half-way into a trial.
    """
    import optuna

    recorded: dict[str, optuna.distributions.BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, distribution in trial.distributions.items():
            recorded.setdefault(name, distribution)
    for parameter in space.parameters:
        old = recorded.get(parameter.name)
        if old is None:
            continue
        new = _distribution(parameter)
        try:
            optuna.distributions.check_distribution_compatibility(old, new)
        except ValueError:
            raise StudyError(
                f"parameter '{parameter.name}' was {_describe(old)} in study '{study.study_name}', "
                f"the search space now makes it {_describe(new)}; give it a new name, "
                "or use another --study-name or --restart"
            ) from None


def _distribution(parameter: Parameter) -> optuna.distributions.BaseDistribution:
    """The distribution Optuna records for ``parameter`` (as :meth:`Parameter.suggest` asks for it)."""
    import optuna

    if parameter.choices is not None:
        return optuna.distributions.CategoricalDistribution(list(parameter.choices))
    if parameter.kind == "int":
        return optuna.distributions.IntDistribution(
            parameter.low, parameter.high, log=parameter.log, step=parameter.step or 1
        )
    return optuna.distributions.FloatDistribution(parameter.low, parameter.high, log=parameter.log, step=parameter.step)


def _describe(distribution: optuna.distributions.BaseDistribution) -> str:
    import optuna

    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        shown = ", ".join(map(repr, distribution.choices[:5])) + (", ..." if len(distribution.choices) > 5 else "")
        return f"categorical [{shown}]"
    kind = "int" if isinstance(distribution, optuna.distributions.IntDistribution) else "float"
    return f"{kind}{' (log)' if getattr(distribution, 'log', False) else ''}"


def _single_objective(study: optuna.Study) -> optuna.Study:
    """``study``, unless it has several objectives (resumed with one: refused)."""
    if len(study.directions) > 1:
        from tuner.study.pareto import objectives_text

        raise StudyError(
            f"study '{study.study_name}' has {len(study.directions)} objectives ({objectives_text(study)}), not 1; "
            "give the same --metric/--direction pairs, use another --study-name, or --restart to start it over"
        )
    return study


def _check_compatible(study: optuna.Study, direction: str, metric: str) -> None:
    stored_direction = direction_name(study)
    if stored_direction != direction:
        raise StudyError(
            f"study '{study.study_name}' was created to {stored_direction}, not {direction}; "
            "use another --study-name, or --restart to start it over"
        )
    stored = stored_metric(study)
    if stored is not None and stored != metric:
        raise StudyError(
            f"study '{study.study_name}' optimises '{stored}', not '{metric}'; "
            "use another --study-name, or --restart to start it over"
        )


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix) :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None
