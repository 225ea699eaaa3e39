"""Per-epoch validation during PyKEEN training, reported through the trial contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pykeen.evaluation import Evaluator
from pykeen.training.callbacks import TrainingCallback
from pykeen.typing import MappedTriples

from tuner.pykeen_trainer.settings import ReportSettings

EpochLine = dict[str, float]


class ValidationReporter(TrainingCallback):
    """Evaluates on the validation triples every ``eval_every`` epochs and after the last one.

    PyKEEN's ``EvaluationTrainingCallback`` only logs to a result tracker; this one hands each
    evaluation's metrics to ``on_report`` (which appends the contract's epoch line) and keeps them,
    so that the run can name its best epoch.

    Args:
        settings: which metrics, how often, and which metric picks the best epoch.
        num_epochs: the last epoch, always evaluated so that the final model has validation metrics.
        evaluator: a PyKEEN evaluator (rank-based for MRR and hits@k).
        triples: the validation triples.
        filter_triples: known true triples removed from the rankings (the training triples).
        evaluation_kwargs: further arguments of ``Evaluator.evaluate`` (e.g. ``batch_size``).
        on_report: receives ``(epoch, line)`` after each evaluation.
    """

    def __init__(
        self,
        *,
        settings: ReportSettings,
        num_epochs: int,
        evaluator: Evaluator,
        triples: MappedTriples,
        filter_triples: list[MappedTriples],
        evaluation_kwargs: Mapping[str, Any],
        on_report: Callable[[int, EpochLine], None],
    ) -> None:
        super().__init__()
        self.settings = settings
        self.num_epochs = num_epochs
        self.evaluator = evaluator
        self.triples = triples
        self.filter_triples = filter_triples
        self.evaluation_kwargs = dict(evaluation_kwargs)
        self.on_report = on_report
        self.history: dict[int, EpochLine] = {}

    def post_epoch(self, epoch: int, epoch_loss: float, **kwargs: Any) -> None:
        """PyKEEN calls this after each epoch (counted from 1); PyKEEN sets train mode again next epoch.

        An epoch already in :attr:`history` (reported before the run was interrupted and resumed) is
        neither evaluated nor reported again.
        """
        if (epoch % self.settings.eval_every and epoch != self.num_epochs) or epoch in self.history:
            return
        result = self.evaluator.evaluate(
            model=self.model,
            mapped_triples=self.triples,
            additional_filter_triples=self.filter_triples,
            device=self.training_loop.device,
            **self.evaluation_kwargs,
        )
        line = {"training_loss": float(epoch_loss)}
        line.update({f"validation_{name}": float(result.get_metric(name)) for name in self.settings.metrics})
        self.history[epoch] = line
        self.on_report(epoch, line)

    def best_epoch(self) -> int | None:
        """The evaluated epoch with the best validation metric (the earliest on ties), or None."""
        key = f"validation_{self.settings.validation_metric}"
        sign = 1.0 if self.settings.maximize else -1.0
        if not self.history:
            return None
        return max(self.history, key=lambda epoch: (sign * self.history[epoch][key], -epoch))
