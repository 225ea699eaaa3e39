"""Parameter importances of a study, with Optuna's evaluators chosen by name.

fANOVA grows much faster than linearly with the number of trials (about 85 s for
3000 trials on two cores), so above :data:`FANOVA_MAX_TRIALS` completed trials it is
fitted on a sample, and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuner.analysis.views import sampled_view
from tuner.errors import OptionError, StudyError, did_you_mean, require
from tuner.study.records import stored_metrics

if TYPE_CHECKING:
    import optuna

EVALUATORS = ("fanova", "mdi", "ped-anova")
DEFAULT_EVALUATOR = "fanova"
FANOVA_MAX_TRIALS = 200
SEED = 0  # the random forests behind fANOVA and MDI; fixed so that a table does not change between runs


@dataclass(frozen=True)
class Importances:
    """Normalised importances (summing to 1, most important first) and what they rest on."""

    evaluator: str
    values: Mapping[str, float]
    n_trials: int
    n_completed: int
    objective: str | None = None  # several objectives: the metric these importances are for

    @property
    def sampled(self) -> bool:
        return self.n_trials < self.n_completed

    @property
    def basis(self) -> str:
        """``"20 completed trials"`` or ``"a sample of 300 of 3000 completed trials"``."""
        if self.sampled:
            return f"a sample of {self.n_trials} of {self.n_completed} completed trials"
        return f"{self.n_trials} completed trials"

    def top(self, count: int) -> list[str]:
        return list(self.values)[:count]


def param_importances(
    study: optuna.Study, *, evaluator: str = DEFAULT_EVALUATOR, objective: int | None = None
) -> Importances:
    """Importances of the parameters of ``study``'s completed trials (for its objective number
    ``objective`` when it has several: the first by default).

    Raises:
        StudyError: fewer than two completed trials.
        OptionError: an unknown evaluator name.
    """
    import optuna

    name = _check_name(evaluator)
    if name != "ped-anova":
        require("sklearn", purpose=f"the {name} importance evaluator")
    limit = FANOVA_MAX_TRIALS if name == "fanova" else None
    view = sampled_view(study, states=("COMPLETE",), limit=limit)
    if view.n_total < 2:
        raise StudyError(
            f"importances need at least two completed trials; study '{study.study_name}' has {view.n_total}"
        )
    index = objective or 0
    target = (lambda trial: trial.values[index]) if len(study.directions) > 1 else None
    try:
        values = optuna.importance.get_param_importances(view.study, evaluator=build_evaluator(name), target=target)
    except (ValueError, RuntimeError) as error:
        raise StudyError(f"cannot compute {name} importances for study '{study.study_name}': {error}") from None
    metric = stored_metrics(study)[index] if target is not None else None
    return Importances(name, {key: float(value) for key, value in values.items()}, view.n_shown, view.n_total, metric)


def importances_per_objective(study: optuna.Study, *, evaluator: str = DEFAULT_EVALUATOR) -> list[Importances]:
    """:func:`param_importances` for each of the study's objectives (one for a single-objective study)."""
    return [param_importances(study, evaluator=evaluator, objective=index) for index in range(len(study.directions))]


def build_evaluator(name: str) -> optuna.importance.BaseImportanceEvaluator:
    """Optuna's evaluator for ``fanova``, ``mdi`` or ``ped-anova``."""
    from optuna import importance

    name = _check_name(name)
    if name == "fanova":
        return importance.FanovaImportanceEvaluator(seed=SEED)
    if name == "mdi":
        return importance.MeanDecreaseImpurityImportanceEvaluator(seed=SEED)
    return importance.PedAnovaImportanceEvaluator()


def precomputed_evaluator(result: Importances) -> optuna.importance.BaseImportanceEvaluator:
    """An evaluator that returns ``result``, so Optuna's importance plot does not fit again."""
    from optuna.importance import BaseImportanceEvaluator

    class Precomputed(BaseImportanceEvaluator):
        def evaluate(self, study: Any, params: Any = None, *, target: Any = None) -> dict[str, float]:
            return dict(result.values)

    return Precomputed()


def _check_name(name: str) -> str:
    key = name.lower().replace("_", "-")
    if key == "pedanova":
        key = "ped-anova"
    if key not in EVALUATORS:
        hint = did_you_mean(key, EVALUATORS)
        raise OptionError(f"unknown importance evaluator '{name}'{hint}; available: {', '.join(EVALUATORS)}")
    return key
