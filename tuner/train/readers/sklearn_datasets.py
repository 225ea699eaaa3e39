"""``sklearn``: the classification datasets scikit-learn ships inside its package (offline).

The paths name the split: ``train_data_path: 'train'``, ``validation_data_path: 'validation'``.
Image datasets (``digits``) keep their 2-D shape so a CNN can use them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tuner.train.errors import DataError, TrainConfigError
from tuner.train.readers.base import RawSplit
from tuner.train.readers.features import FeatureReader
from tuner.train.section import Section

DATASETS = ["breast_cancer", "digits", "iris", "wine"]
SPLITS = ["train", "validation"]


class SklearnDatasetReader(FeatureReader):
    """Load ``sklearn.datasets.load_<dataset>`` and split it reproducibly, stratified.

    Args:
        dataset: One of :data:`DATASETS`.
        validation_fraction: Share of examples held out for the ``validation`` split.
        split_seed: Seed of the split (independent of the training seeds).
        images: Keep 2-D images where the dataset has them (``digits``).
        standardize: See :class:`FeatureReader`.
    """

    def __init__(
        self,
        *,
        dataset: str,
        validation_fraction: float = 0.2,
        split_seed: int = 0,
        images: bool = True,
        standardize: bool = True,
    ) -> None:
        super().__init__(standardize=standardize)
        self.dataset = dataset
        self.validation_fraction = validation_fraction
        self.split_seed = split_seed
        self.images = images
        self._splits: dict[str, tuple[Any, Any]] | None = None

    @classmethod
    def from_config(cls, cfg: Section) -> SklearnDatasetReader:
        fraction = cfg.pop("validation_fraction", float, 0.2)
        if not 0.0 < fraction < 1.0:
            raise TrainConfigError(f"{cfg.key_path('validation_fraction')}: must be between 0 and 1, got {fraction}")
        return cls(
            dataset=cfg.pop_choice("dataset", DATASETS),
            validation_fraction=fraction,
            split_seed=cfg.pop("split_seed", int, 0),
            images=cfg.pop("images", bool, True),
            standardize=cfg.pop("standardize", bool, True),
        )

    def check_path(self, path: str, where: str) -> None:
        if path not in SPLITS:
            raise DataError(
                f"{where}: the sklearn reader's paths name a split, one of {', '.join(SPLITS)}; got {path!r}"
            )

    def read(self, path: str, where: str) -> RawSplit:
        self.check_path(path, where)
        inputs, labels = self._load()[path]
        return RawSplit(inputs, [str(label) for label in labels], where)

    def _load(self) -> dict[str, tuple[Any, Any]]:
        if self._splits is None:
            inputs, targets = load_arrays(self.dataset, images=self.images)
            validation = stratified_validation_mask(targets, self.validation_fraction, self.split_seed)
            self._splits = {
                "train": (inputs[~validation], targets[~validation]),
                "validation": (inputs[validation], targets[validation]),
            }
        return self._splits


def load_arrays(dataset: str, *, images: bool) -> tuple[Any, Any]:
    """Return ``(inputs, targets)`` as numpy arrays, as ``sklearn.datasets.load_<dataset>`` would.

    The CSV files inside the installed scikit-learn package are read directly:
    importing ``sklearn.datasets`` costs ~0.9 s per trial, more than a digits epoch.
    If the files are not where this scikit-learn version keeps them, sklearn's own
    loader is used.
    """
    import numpy

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("dataset_reader: type 'sklearn' needs scikit-learn: pip install scikit-learn")
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    file = data_dir / _FILES[dataset]
    if not file.is_file():
        return _load_with_sklearn(dataset, images=images)
    if dataset == "digits":
        table = numpy.loadtxt(file, delimiter=",")
        inputs, targets = table[:, :-1], table[:, -1].astype(int)
        return (inputs.reshape(-1, 8, 8) if images else inputs), targets
    table = numpy.loadtxt(file, delimiter=",", skiprows=1)  # first row: counts and class names
    return table[:, :-1], table[:, -1].astype(int)


def stratified_validation_mask(targets: Any, fraction: float, seed: int) -> Any:
    """Boolean mask choosing ``fraction`` of each class, at random but reproducibly."""
    import numpy

    rng = numpy.random.RandomState(seed)
    mask = numpy.zeros(len(targets), dtype=bool)
    for label in numpy.unique(targets):
        members = rng.permutation(numpy.flatnonzero(targets == label))
        mask[members[: round(fraction * len(members))]] = True
    return mask


def _load_with_sklearn(dataset: str, *, images: bool) -> tuple[Any, Any]:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{dataset}")()
    return (bunch.images if images and "images" in bunch else bunch.data), bunch.target


_FILES = {"breast_cancer": "breast_cancer.csv", "digits": "digits.csv.gz", "iris": "iris.csv", "wine": "wine_data.csv"}
