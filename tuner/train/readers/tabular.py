"""``tabular``: CSV/TSV files with a header row, numeric features and a label column."""

from __future__ import annotations

import csv

from tuner.train.errors import DataError
from tuner.train.readers import paths
from tuner.train.readers.base import RawSplit
from tuner.train.readers.features import FeatureReader
from tuner.train.section import Section


class TabularReader(FeatureReader):
    """Read delimited text; every column but the label is a numeric feature unless listed.

    Args:
        label_column: Header name of the label column.
        feature_columns: Header names of the features (None: all other columns).
        delimiter: Field separator (None: tab for ``.tsv`` files, else comma).
        standardize: See :class:`FeatureReader`.
    """

    def __init__(
        self,
        *,
        label_column: str = "label",
        feature_columns: list[str] | None = None,
        delimiter: str | None = None,
        standardize: bool = True,
    ) -> None:
        super().__init__(standardize=standardize)
        self.label_column = label_column
        self.feature_columns = feature_columns
        self.delimiter = delimiter

    @classmethod
    def from_config(cls, cfg: Section) -> TabularReader:
        return cls(
            label_column=cfg.pop("label_column", str, "label"),
            feature_columns=cfg.pop_list("feature_columns", str, None),
            delimiter=cfg.pop("delimiter", str, None),
            standardize=cfg.pop("standardize", bool, True),
        )

    def read(self, path: str, where: str) -> RawSplit:
        local = paths.resolve(path, where)
        delimiter = self.delimiter or ("\t" if local.suffix.lower() == ".tsv" else ",")
        with open(local, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{where}: {path} is empty")
            label_at, feature_at = self._columns(header, f"{where}: {path}")
            rows: list[list[float]] = []
            labels: list[str] = []
            for number, record in enumerate(reader, 2):
                if not record:
                    continue
                if len(record) != len(header):
                    raise DataError(f"{where}: {path} line {number} has {len(record)} fields, header has {len(header)}")
                rows.append(
                    [_number(record[i], f"{where}: {path} line {number}, column '{header[i]}'") for i in feature_at]
                )
                labels.append(record[label_at])
        if not rows:
            raise DataError(f"{where}: {path} holds no examples")
        return RawSplit(rows, labels, where)

    def _columns(self, header: list[str], where: str) -> tuple[int, list[int]]:
        if self.label_column not in header:
            raise DataError(
                f"{where}: no label column '{self.label_column}' (columns: {', '.join(header)}); set "
                "dataset_reader.label_column"
            )
        names = self.feature_columns or [name for name in header if name != self.label_column]
        missing = [name for name in names if name not in header]
        if missing:
            raise DataError(f"{where}: dataset_reader.feature_columns names missing columns: {', '.join(missing)}")
        return header.index(self.label_column), [header.index(name) for name in names]


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{where}: not a number: {text!r}") from None
