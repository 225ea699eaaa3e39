"""The config: ``pipeline()`` keyword arguments, plus a ``trainer`` section that only `tune` and this adapter read.

Parsing here is plain Python (no PyKEEN import): the caller passes the names that
``pykeen.pipeline.pipeline`` and ``TrainingLoop.train`` accept, so that the checks follow
the installed PyKEEN version instead of a copied list.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tuner.pykeen_trainer.errors import PykeenConfigError
from tuner.train.errors import did_you_mean
from tuner.train.metric import signed_metric

TRAINER_KEY = "trainer"
TRAINING_KWARGS_KEY = "training_kwargs"
# PyKEEN's own default for num_epochs when neither ``epochs`` nor ``training_kwargs.num_epochs`` is set.
PIPELINE_DEFAULT_EPOCHS = 5
# Validation metrics written every evaluation, besides the one named by ``trainer.validation_metric``.
DEFAULT_REPORTED_METRICS = ("mrr", "hits_at_1", "hits_at_3", "hits_at_10", "mean_rank")
# training_kwargs the adapter sets itself: its validation callback goes in ``callbacks``; PyKEEN's checkpoint
# goes into the trial folder (``checkpoint_frequency``, in minutes, stays the config's to set).
RESERVED_TRAINING_KEYS = ("callbacks", "callbacks_kwargs", "checkpoint_directory", "checkpoint_name")
_TRAINER_DEFAULTS: dict[str, Any] = {"validation_metric": "+mrr", "eval_every": 1}


@dataclass(frozen=True)
class ReportSettings:
    """How validation is reported: every ``eval_every`` epochs, and always after the last one.

    Attributes:
        validation_metric: the metric that picks the best epoch, without its sign (``mrr``).
        maximize: True for ``+name``, False for ``-name``.
        eval_every: evaluate on the validation triples every this many epochs.
        metrics: every metric reported as ``validation_<name>``, the validation metric included.
    """

    validation_metric: str
    maximize: bool
    eval_every: int
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class RunSettings:
    """A validated config: what goes to ``pipeline()``, and how to report."""

    pipeline_kwargs: dict[str, Any]
    report: ReportSettings
    num_epochs: int

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, pipeline_keys: Collection[str], training_keys: Collection[str]
    ) -> RunSettings:
        """Split off ``trainer`` and check every other key against ``pipeline()``'s arguments.

        Raises:
            PykeenConfigError: an unknown key (named, with close matches), or an ill-typed value.
        """
        kwargs = dict(config)
        report = _report_settings(kwargs.pop(TRAINER_KEY, {}))
        _check_known(kwargs, pipeline_keys, where="")
        training = kwargs.get(TRAINING_KWARGS_KEY, {})
        if not isinstance(training, dict):
            raise PykeenConfigError(f"{TRAINING_KWARGS_KEY}: expected an object, got {training!r}")
        for key in RESERVED_TRAINING_KEYS:
            if key in training:
                raise PykeenConfigError(
                    f"{TRAINING_KWARGS_KEY}.{key}: set by the PyKEEN trainer (its validation callback, and its "
                    "checkpoint in the trial folder); remove it"
                )
        _check_known(training, training_keys, where=f"{TRAINING_KWARGS_KEY}.")
        epochs = kwargs.get("epochs", training.get("num_epochs", PIPELINE_DEFAULT_EPOCHS))
        if not _is_int(epochs) or epochs < 1:
            raise PykeenConfigError(f"num_epochs: expected a positive integer, got {epochs!r}")
        return cls(kwargs, report, epochs)


def _report_settings(section: Any) -> ReportSettings:
    if not isinstance(section, dict):
        raise PykeenConfigError(f"{TRAINER_KEY}: expected an object, got {section!r}")
    _check_known(section, _TRAINER_DEFAULTS, where=f"{TRAINER_KEY}.")
    values = {**_TRAINER_DEFAULTS, **section}
    signed, every = values["validation_metric"], values["eval_every"]
    metric = signed_metric(signed)
    if metric is None:
        raise PykeenConfigError(
            f"{TRAINER_KEY}.validation_metric: expected '+name' (maximise) or '-name' (minimise), e.g. '+mrr'; "
            f"got {signed!r}"
        )
    if not _is_int(every) or every < 1:
        raise PykeenConfigError(f"{TRAINER_KEY}.eval_every: expected a positive integer, got {every!r}")
    name, maximize = metric
    metrics = tuple(dict.fromkeys((name, *DEFAULT_REPORTED_METRICS)))
    return ReportSettings(validation_metric=name, maximize=maximize, eval_every=every, metrics=metrics)


def _check_known(section: Mapping[str, Any], known: Collection[str], *, where: str) -> None:
    for key in section:
        if key not in known:
            hint = did_you_mean(key, known, sentence=True)
            raise PykeenConfigError(f"unknown key '{where}{key}'.{hint} Available: {', '.join(sorted(known))}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
