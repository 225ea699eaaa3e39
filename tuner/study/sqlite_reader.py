"""A study read straight from its SQLite file, without Optuna: what the read-only commands look at.

Opening a study through Optuna's RDB storage costs about 0.75 s before anything is shown: importing
Optuna, SQLAlchemy and its ORM models, alembic's schema check, and the ORM reading every trial. The
read-only commands (``show-trials``, ``dump-best``, ``export --no-plots``, ``status``) only read, so for a SQLite
file they read the same tables with the standard library's :mod:`sqlite3`, read-only and in one
transaction, into :class:`StoredStudy` and :class:`StoredTrial`: records with the attributes of
Optuna's ``Study`` and ``FrozenTrial`` that those commands use, each decoded as Optuna's storage
decodes it (the same queries, the same order, the same value types).

The tables are Optuna's private, versioned layout, so this reader answers only for the schema
revision it was written for, and only where the installed Optuna writes that revision too. Anything
else returns None and the caller opens the study through Optuna: another revision, a study with
several objectives or with constraints, an unknown distribution, or anything unexpected in the file.
``TUNER_READ_WITH_OPTUNA=1`` always takes Optuna's way (the tests compare the two).
"""

from __future__ import annotations

import enum
import importlib.util
import json
import math
import os
import re
import sqlite3
from collections.abc import Container
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ENV_READ_WITH_OPTUNA = "TUNER_READ_WITH_OPTUNA"
KNOWN_REVISIONS = frozenset({"v3.2.0.a"})  # alembic revisions of Optuna's schema this reader knows
SCHEMA_VERSION = 12  # Optuna's version_info.schema_version, frozen since alembic took over
CHUNK = 500  # trial ids per IN (...) list, as SQLAlchemy's selectin loading sends them
CONSTRAINTS_KEY = "constraints"  # Optuna's system attribute (and prefix): such a study's best trial is Optuna's
_FLOATS = {"FloatDistribution", "UniformDistribution", "LogUniformDistribution", "DiscreteUniformDistribution"}
_INTS = {"IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"}


class Unreadable(Exception):
    """The file holds something this reader does not know: Optuna reads it instead."""


class TrialState(enum.IntEnum):
    """Optuna's trial states, by the same names and numbers."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def is_finished(self) -> bool:
        return self not in (TrialState.RUNNING, TrialState.WAITING)


class StudyDirection(enum.IntEnum):
    """Optuna's study directions, by the same names and numbers."""

    NOT_SET = 0
    MINIMIZE = 1
    MAXIMIZE = 2


class StoredTrial:
    """One trial as Optuna's ``FrozenTrial`` shows it (the attributes the read-only commands use)."""

    def __init__(self, trial_id: int, number: int, state: str, start: str | None, complete: str | None) -> None:
        self._trial_id = trial_id
        self.number = number
        self.state = TrialState[state]
        self.datetime_start = _local_time(start)
        self.datetime_complete = _local_time(complete)
        self.values: list[float] | None = None
        self.params: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}
        self.system_attrs: dict[str, Any] = {}
        self.intermediate_values: dict[int, float] = {}
        self._distribution_json: dict[str, str] = {}

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None

    @property
    def constraints(self) -> dict[str, float]:
        """Always none: a study whose trials have constraint values is read through Optuna (:func:`_constrained`)."""
        return {}

    @property
    def distributions(self) -> dict[str, Any]:
        """Optuna's distribution objects (imports Optuna: nothing on the fast path asks for them)."""
        from optuna.distributions import json_to_distribution

        return {name: json_to_distribution(text) for name, text in self._distribution_json.items()}

    @property
    def duration(self) -> timedelta | None:
        if self.datetime_start and self.datetime_complete:
            return self.datetime_complete - self.datetime_start
        return None

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate_values) if self.intermediate_values else None


class StoredStudy:
    """A single-objective study as Optuna's ``Study`` shows it, read once: trials, attributes, best trial."""

    def __init__(self, name: str, study_id: int, direction: str) -> None:
        self.study_name = name
        self.study_id = study_id
        self.direction = StudyDirection[direction]
        self.user_attrs: dict[str, Any] = {}
        self.system_attrs: dict[str, Any] = {}
        self._trials: list[StoredTrial] = []
        self._best: StoredTrial | None = None

    @property
    def directions(self) -> list[StudyDirection]:
        return [self.direction]

    @property
    def trials(self) -> list[StoredTrial]:
        return list(self._trials)

    def get_trials(self, deepcopy: bool = True, states: Container[Any] | None = None) -> list[StoredTrial]:
        """The trials by number (``deepcopy`` is accepted for Optuna's signature: these are never changed)."""
        if states is None:
            return list(self._trials)
        return [trial for trial in self._trials if trial.state in states]

    @property
    def best_trial(self) -> StoredTrial:
        if self._best is None:
            raise ValueError("Record does not exist.")  # what Optuna's storage says
        return self._best

    @property
    def storage(self) -> StoredStorage:
        """The storage questions about this study that ``tune status`` asks (its worker registry)."""
        return StoredStorage(self)


class StoredStorage:
    """What a read-only command asks Optuna's storage about one :class:`StoredStudy`, answered from it."""

    def __init__(self, study: StoredStudy) -> None:
        self._study = study

    def get_study_id_from_name(self, study_name: str) -> int:
        if study_name != self._study.study_name:
            raise KeyError(f"No such study {study_name}.")  # Optuna's storage says so too
        return self._study.study_id

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        if study_id != self._study.study_id:
            raise KeyError(f"No study with study_id {study_id} exists.")
        return dict(self._study.system_attrs)


def read_only_enabled() -> bool:
    """Whether the fast reader may be used (``TUNER_READ_WITH_OPTUNA=1`` turns it off)."""
    return os.environ.get(ENV_READ_WITH_OPTUNA, "") in ("", "0")


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no query string, not in memory); None for anything else."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix) :]
    return Path(path) if path and path != ":memory:" else None


def read_study(uri: str, name: str | None) -> StoredStudy | None:
    """The study ``name`` (or the only one) of the SQLite database at ``uri`` (an SQLite URI, read-only);
    None when Optuna is to read it (see the module's docstring), also for a missing or ambiguous study,
    whose error Optuna's way words."""
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            connection.execute("BEGIN")  # one snapshot of a study that a running tune may be writing
            return _read(connection, name)
    except (Unreadable, sqlite3.Error, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def _read(connection: sqlite3.Connection, name: str | None) -> StoredStudy | None:
    _check_schema(connection)
    studies = connection.execute("SELECT study_id, study_name FROM studies ORDER BY study_id").fetchall()
    chosen = [row for row in studies if row[1] == name] if name is not None else studies
    if len(chosen) != 1:
        return None  # no study, several, or not this one: Optuna's way says which
    study_id, study_name = chosen[0]
    directions = connection.execute(
        "SELECT direction, objective FROM study_directions WHERE ? = study_directions.study_id", (study_id,)
    ).fetchall()
    if len(directions) != 1 or directions[0][1] != 0:
        return None  # multi-objective: Optuna's way
    study = StoredStudy(study_name, study_id, directions[0][0])
    study.user_attrs = _attrs(connection, "study_user_attributes", study_id)
    study.system_attrs = _attrs(connection, "study_system_attributes", study_id)
    trials = [
        StoredTrial(*row)
        for row in connection.execute(
            "SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials "
            "WHERE trials.study_id = ? ORDER BY trials.trial_id",
            (study_id,),
        )
    ]
    _fill_trials(connection, trials)
    if any(_constrained(trial) for trial in trials):
        return None  # constrained: Optuna picks the best feasible trial
    study._trials = sorted(trials, key=lambda trial: trial.number)  # as Optuna's cached storage orders them
    study._best = _best_trial(connection, study, {trial._trial_id: trial for trial in trials})
    return study


def _constrained(trial: StoredTrial) -> bool:
    """Whether the trial has constraint values (Optuna's old key, or its ``constraints:<name>`` keys)."""
    return any(key == CONSTRAINTS_KEY or key.startswith(CONSTRAINTS_KEY + ":") for key in trial.system_attrs)


def _check_schema(connection: sqlite3.Connection) -> None:
    """Raise :class:`Unreadable` unless the file has the schema revision this reader and the installed Optuna know."""
    revisions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    versions = [row[0] for row in connection.execute("SELECT schema_version FROM version_info")]
    if len(revisions) != 1 or revisions[0] not in KNOWN_REVISIONS or versions != [SCHEMA_VERSION]:
        raise Unreadable(f"schema {revisions} {versions}")
    if revisions[0] != installed_optuna_revision():
        raise Unreadable("the installed Optuna writes another schema")  # it would refuse, or migrate


def installed_optuna_revision() -> str | None:
    """The newest schema revision the installed Optuna knows (read from its migration scripts, not imported)."""
    spec = importlib.util.find_spec("optuna")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(next(iter(spec.submodule_search_locations)), "storages", "_rdb", "alembic", "versions")
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revisions.update(re.findall(r'^revision = "([^"]+)"', text, re.MULTILINE))
        parents.update(re.findall(r'^down_revision = "([^"]+)"', text, re.MULTILINE))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _attrs(connection: sqlite3.Connection, table: str, study_id: int) -> dict[str, Any]:
    rows = connection.execute(f'SELECT "key", value_json FROM {table} WHERE {table}.study_id = ?', (study_id,))
    return {key: json.loads(value) for key, value in rows}


def _fill_trials(connection: sqlite3.Connection, trials: list[StoredTrial]) -> None:
    """Each trial's params, values, attributes and intermediate values, loaded as Optuna's ORM loads them."""
    by_id = {trial._trial_id: trial for trial in trials}
    ids = list(by_id)
    decoded: dict[str, Any] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        query = "SELECT trial_id, {} FROM {} WHERE {}.trial_id IN ({})"
        params = connection.execute(
            query.format("param_id, param_name, param_value, distribution_json", "trial_params", "trial_params", marks),
            chunk,
        ).fetchall()
        for trial_id, _, name, value, distribution in sorted(params, key=lambda row: row[1]):  # by param_id
            trial = by_id[trial_id]
            trial.params[name] = _external_value(decoded, distribution, value)
            trial._distribution_json[name] = distribution
        for table, target in (("trial_user_attributes", "user_attrs"), ("trial_system_attributes", "system_attrs")):
            for trial_id, key, value in connection.execute(
                query.format('"key", value_json', table, table, marks), chunk
            ):
                getattr(by_id[trial_id], target)[key] = json.loads(value)
        table = "trial_intermediate_values"
        columns = "step, intermediate_value, intermediate_value_type"
        for trial_id, step, value, kind in connection.execute(query.format(columns, table, table, marks), chunk):
            by_id[trial_id].intermediate_values[step] = _stored_float(value, kind, nan=True)
        columns = "objective, value, value_type"
        for trial_id, objective, value, kind in connection.execute(
            query.format(columns, "trial_values", "trial_values", marks), chunk
        ):
            _set_value(by_id[trial_id], objective, _stored_float(value, kind, nan=False))


def _set_value(trial: StoredTrial, objective: int, value: float) -> None:
    if objective != 0 or trial.values is not None:
        raise Unreadable(f"trial {trial.number} has a value for objective {objective}")
    trial.values = [value]


def _external_value(decoded: dict[str, Any], distribution_json: str, internal: float) -> Any:
    """The parameter's value as Optuna's ``json_to_distribution(...).to_external_repr(internal)`` gives it."""
    kind = decoded.get(distribution_json)
    if kind is None:
        kind = decoded[distribution_json] = _distribution_kind(json.loads(distribution_json))
    if kind == "float":
        return internal
    if kind == "int":
        return int(internal)
    return kind[int(internal)]  # the choices of a categorical distribution


def _distribution_kind(data: dict[str, Any]) -> str | tuple[Any, ...]:
    """``"float"``, ``"int"``, or a categorical distribution's choices; :class:`Unreadable` for anything else."""
    if "name" in data:
        name = data["name"]
        if name in _FLOATS:
            return "float"
        if name in _INTS:
            return "int"
        if name == "CategoricalDistribution":
            return tuple(data["attributes"]["choices"])
        raise Unreadable(f"distribution {name!r}")
    kind = data["type"]
    if kind in ("float", "int"):
        return kind
    if kind == "categorical":
        return tuple(data["choices"])
    raise Unreadable(f"distribution type {kind!r}")


def _stored_float(value: float | None, kind: str, *, nan: bool) -> float:
    """A stored objective or intermediate value: finite in the column, infinities (and NaN) by their type."""
    if kind == "FINITE" and isinstance(value, float):
        return value
    if value is None and kind in ("INF_POS", "INF_NEG"):
        return math.inf if kind == "INF_POS" else -math.inf
    if value is None and kind == "NAN" and nan:
        return math.nan
    raise Unreadable(f"stored value {value!r} of type {kind!r}")


def _best_trial(
    connection: sqlite3.Connection, study: StoredStudy, by_id: dict[int, StoredTrial]
) -> StoredTrial | None:
    """The best trial by the query Optuna's storage sends (ties fall as they fall there)."""
    order = "DESC" if study.direction == StudyDirection.MAXIMIZE else "ASC"
    rows = connection.execute(
        "SELECT trials.trial_id FROM trials JOIN trial_values ON trials.trial_id = trial_values.trial_id "
        "WHERE trials.study_id = ? AND trials.state = ? AND trial_values.objective = ? "
        "ORDER BY CASE WHEN (trial_values.value_type = ?) THEN ? WHEN (trial_values.value_type = ?) THEN ? "
        f"WHEN (trial_values.value_type = ?) THEN ? END {order}, trial_values.value {order} LIMIT ? OFFSET ?",
        (study.study_id, "COMPLETE", 0, "INF_NEG", -1, "FINITE", 0, "INF_POS", 1, 1, 0),
    ).fetchall()
    return by_id[rows[0][0]] if rows else None


def _local_time(stored: str | None) -> datetime | None:
    """A stored (naive UTC) time as Optuna gives it: naive local time."""
    if stored is None:
        return None
    return datetime.fromisoformat(stored).replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)
