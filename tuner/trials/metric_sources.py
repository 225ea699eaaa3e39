"""Epoch metrics from what a framework already writes: ``--metrics-from`` and ``--metrics-file``.

Each source reads its files in the trial folder as the trial runs and appends the epochs it finds to
the trial's ``metrics.jsonl``, as integer-epoch lines, so that pruning, the live view, the objective,
resuming and ``show-trials`` work as they do for :func:`tuner.report`:

* ``csv``: Lightning's ``CSVLogger`` (the newest ``metrics.csv`` under the trial folder);
* ``hf``: Hugging Face's ``trainer_state.json`` (the newest under the trial folder, checkpoints included;
  its ``log_history`` evaluations, numbered as :func:`tuner.integrations.history.evaluation_epochs` does);
* ``regex:PATTERN``: each line of the trial's output (``out.log``) that the pattern matches is an epoch, with
  its named groups as metrics (a group named ``epoch`` numbers it; else the n-th match is epoch n - 1);
* ``--metrics-file TEMPLATE``: a JSON-lines file the trainer writes itself, one object per epoch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import contract
from tuner.contract import EPOCH_KEY, EpochMetricsReader, MalformedMetricsError
from tuner.errors import OptionError, did_you_mean
from tuner.integrations.history import evaluation_epochs
from tuner.trials.launch import PLACEHOLDERS, CommandTemplate

if TYPE_CHECKING:
    from tuner.trials.trial import TrialRun

KINDS = ("csv", "hf", "regex:PATTERN")
CSV_FILE_NAME = "metrics.csv"  # Lightning's CSVLogger
HF_STATE_FILE_NAME = "trainer_state.json"  # Hugging Face's Trainer, in each checkpoint folder
SEARCH_INTERVAL_SECONDS = 1.0  # how often a trial folder is searched for a newer file


@dataclass(frozen=True)
class MetricSourceSpec:
    """``--metrics-from`` or ``--metrics-file``, checked; :meth:`open` makes one trial's source."""

    kind: str  # "csv", "hf", "regex" or "file"
    pattern: re.Pattern[str] | None = None
    file_template: str | None = None

    @classmethod
    def parse(cls, metrics_from: str | None, metrics_file: str | None) -> MetricSourceSpec | None:
        """The spec of the options, None when neither is given; raises :class:`OptionError`."""
        if metrics_from is not None and metrics_file is not None:
            raise OptionError("--metrics-from and --metrics-file name two sources of epoch metrics; give one")
        if metrics_file is not None:
            return cls("file", file_template=_checked_template(metrics_file))
        if metrics_from is None:
            return None
        if metrics_from.startswith("regex:"):
            return cls("regex", pattern=_compiled(metrics_from[len("regex:") :]))
        if metrics_from in ("csv", "hf"):
            return cls(metrics_from)
        if metrics_from == "tensorboard":
            raise OptionError("--metrics-from tensorboard is not supported; log with Lightning's CSVLogger and use csv")
        raise OptionError(
            f"--metrics-from {metrics_from!r} is unknown{did_you_mean(metrics_from, ['csv', 'hf', 'regex:'])}; "
            f"use one of {', '.join(KINDS)}"
        )

    def open(self, run: TrialRun) -> MetricSource | None:
        """The source of ``run``'s epochs for this launch; a resumed launch skips what earlier attempts wrote."""
        target = run.reader.path
        if self.kind == "regex":
            assert self.pattern is not None
            return RegexSource(target, run.log_path, self.pattern, resume=run.resume)
        if self.kind == "file":
            path = self.file_path(run)
            return None if path.resolve() == target.resolve() else JsonLinesSource(target, path, resume=run.resume)
        known = {line.get(EPOCH_KEY) for line in run.reader.epochs}  # those already in metrics.jsonl
        wanted = {run.objective.metric, run.objective.monitored}
        source_class = CsvSource if self.kind == "csv" else HfStateSource
        return source_class(target, run.directory, wanted=wanted, known=known)

    def file_path(self, run: TrialRun) -> Path:
        """``--metrics-file`` rendered for ``run``; a relative path is relative to the trial folder."""
        assert self.file_template is not None
        (text,) = CommandTemplate((self.file_template,)).render(
            config=run.config_path, serialization_dir=run.directory, trial_number=run.number, resume=run.resume
        )
        return run.directory / text  # an absolute path stays as it is


def _checked_template(text: str) -> str:
    if not text.strip():
        raise OptionError("--metrics-file is empty; give the JSON-lines file the trainer writes")
    unknown = sorted(set(re.findall(r"\{[A-Za-z_]+\}", text)) - {*PLACEHOLDERS, "{python}"})
    if unknown:
        raise OptionError(
            f"--metrics-file {text!r}: unknown placeholder {', '.join(unknown)}; use {', '.join(PLACEHOLDERS)}"
        )
    return text


def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise OptionError(f"--metrics-from regex:{pattern}: not a regular expression: {error}") from None
    if not set(compiled.groupindex) - {EPOCH_KEY}:
        raise OptionError(
            f"--metrics-from regex:{pattern}: name each value with a group, "
            "as in 'val_acc=(?P<validation_accuracy>[0-9.]+)'"
        )
    return compiled


class MetricSource:
    """Finds new epochs in what the trainer wrote and appends them to the trial's metrics.jsonl."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def transfer(self, *, final: bool = False) -> None:
        """Append the epochs found since the last call; ``final``: the trainer has exited, take everything."""
        lines = self.new_lines(final=final)
        if lines:
            with open(self.target, "a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(line) + "\n" for line in lines))

    def new_lines(self, *, final: bool) -> list[dict[str, Any]]:
        raise NotImplementedError


class JsonLinesSource(MetricSource):
    """``--metrics-file``: the trainer's own JSON-lines log, line for line (malformed lines fail the trial)."""

    def __init__(self, target: Path, path: Path, *, resume: bool) -> None:
        super().__init__(target)
        self.reader = EpochMetricsReader(path)
        if resume:
            self.reader.read_new()  # earlier attempts' lines are in metrics.jsonl already

    def new_lines(self, *, final: bool) -> list[dict[str, Any]]:
        return self.reader.read_new()


class RegexSource(MetricSource):
    """``--metrics-from regex:PATTERN`` over the trial's output, read on from where it was at launch."""

    def __init__(self, target: Path, log_path: Path, pattern: re.Pattern[str], *, resume: bool) -> None:
        super().__init__(target)
        self.log_path, self.pattern = log_path, pattern
        self._offset = _size(log_path) if resume else 0  # the log of a resumed trial holds earlier attempts'
        self._partial = b""
        self._matches = 0

    def new_lines(self, *, final: bool) -> list[dict[str, Any]]:
        data = self._partial + _read_from(self.log_path, self._offset)
        self._offset += len(data) - len(self._partial)
        *complete, self._partial = data.split(b"\n")
        if final and self._partial:
            complete, self._partial = [*complete, self._partial], b""
        return [line for text in complete if (line := self._epoch(text.decode("utf-8", "replace"))) is not None]

    def _epoch(self, text: str) -> dict[str, Any] | None:
        match = self.pattern.search(text)
        if match is None:
            return None
        metrics = {name: _number(value) for name, value in match.groupdict().items() if value is not None}
        epoch = metrics.pop(EPOCH_KEY, None)
        self._matches += 1
        return {EPOCH_KEY: self._matches - 1 if epoch is None else epoch, **metrics}


class _FolderSource(MetricSource):
    """A file some framework rewrites in the trial folder: the newest of its name, read again when it changes."""

    file_name = ""

    def __init__(self, target: Path, directory: Path, *, wanted: set[str], known: set[Any]) -> None:
        super().__init__(target)
        self.directory, self.wanted = directory, wanted
        self.emitted = set(known)  # epochs in metrics.jsonl: a resumed trainer's file repeats them
        self._file: Path | None = None
        self._searched = 0.0
        self._seen: tuple[Path, int, int] | None = None  # the file, its size and mtime when last parsed

    def new_lines(self, *, final: bool) -> list[dict[str, Any]]:
        if final or time.monotonic() - self._searched >= SEARCH_INTERVAL_SECONDS:
            self._searched = time.monotonic()
            self._file = _newest(self.directory, self.file_name) or self._file
        if self._file is None:
            return []
        try:
            status = self._file.stat()
        except FileNotFoundError:  # a checkpoint folder rotated away: search again next time
            self._file, self._searched = None, 0.0
            return []
        if not final and self._seen == (self._file, status.st_size, status.st_mtime_ns):
            return []
        self._seen = (self._file, status.st_size, status.st_mtime_ns)
        epochs = self.parse(_read_from(self._file, 0), final=final)
        return self._new(epochs, final=final)

    def parse(self, data: bytes, *, final: bool) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _new(self, epochs: list[dict[str, Any]], *, final: bool) -> list[dict[str, Any]]:
        """The epochs not sent yet that are complete: holding a wanted metric, followed by a later epoch, or final."""
        lines = []
        for index, line in enumerate(epochs):
            epoch = line[EPOCH_KEY]
            done = final or index + 1 < len(epochs) or not self.wanted.isdisjoint(line)
            if epoch not in self.emitted and done:
                self.emitted.add(epoch)
                lines.append(line)
        return lines


class CsvSource(_FolderSource):
    """``--metrics-from csv``: Lightning's CSVLogger rows, merged per epoch (``step`` left out)."""

    file_name = CSV_FILE_NAME

    def parse(self, data: bytes, *, final: bool) -> list[dict[str, Any]]:
        text = data.decode("utf-8", "replace")
        if not final:
            text = text[: text.rfind("\n") + 1]  # the logger may be writing the last row
        by_epoch: dict[int, dict[str, Any]] = {}
        for row in csv.DictReader(io.StringIO(text)):
            epoch = _whole(row.get(EPOCH_KEY))
            if epoch is None:
                continue
            cells = {
                name: _number(value)
                for name, value in row.items()
                if isinstance(name, str) and name not in (EPOCH_KEY, "step") and isinstance(value, str) and value
            }
            by_epoch.setdefault(epoch, {EPOCH_KEY: epoch}).update(cells)
        return list(by_epoch.values())


class HfStateSource(_FolderSource):
    """``--metrics-from hf``: the evaluations in ``trainer_state.json``'s ``log_history``."""

    file_name = HF_STATE_FILE_NAME

    def parse(self, data: bytes, *, final: bool) -> list[dict[str, Any]]:
        try:
            state = json.loads(data)
        except ValueError:
            if final:
                raise MalformedMetricsError(f"{self._file} is not JSON") from None
            return []  # being written: read again on the next change
        history = state.get("log_history") if isinstance(state, dict) else None
        return evaluation_epochs(history if isinstance(history, list) else [])

    def _new(self, epochs: list[dict[str, Any]], *, final: bool) -> list[dict[str, Any]]:
        return super()._new(epochs, final=True)  # an evaluation's entry is complete when it is there


def _newest(directory: Path, name: str) -> Path | None:
    """The most recently modified file called ``name`` under ``directory``."""
    found = []
    for path in _walk(directory, name):
        try:
            found.append((path.stat().st_mtime_ns, str(path), path))
        except FileNotFoundError:
            continue
    return max(found)[2] if found else None


def _walk(directory: Path, name: str) -> Iterable[Path]:
    for root, folders, files in os.walk(directory):
        folders[:] = [folder for folder in folders if not folder.startswith(".")]
        if name in files:
            yield Path(root) / name


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""
    except OSError as error:
        raise MalformedMetricsError(f"cannot read {path.name}: {error.strerror}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _number(text: str) -> Any:
    """A cell or a group as an int or float when it reads as one; else the text (never a metric tune uses)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _whole(text: str | None) -> int | None:
    try:
        return contract.whole_epoch(_number(text or ""))
    except ValueError:
        return None
