"""A small study with fixed contents (times included), so that its trial table is the same on every run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from tuner.study.records import ATTR_LAUNCH, ATTR_METRIC, ATTR_PRUNED_EPOCH, ATTR_REASON

STUDY_NAME = "small"
DISTRIBUTIONS = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "units": IntDistribution(8, 512),
    "act": CategoricalDistribution(["relu", "tanh", "gelu [fast]", "sigmoïde"]),
}
LONG_REASON = (
    "exit code 1: RuntimeError: [Errno 2] No such file or directory: 'data/train.csv' (the trainer's log, last line)"
)
# number, state, value, params, duration in s, extra user attributes
TRIALS = [
    ("COMPLETE", 0.8125, {"lr": 0.0031622776, "units": 64, "act": "relu"}, 12.25, {}),
    ("COMPLETE", 0.90234375, {"lr": 0.012, "units": 256, "act": "tanh"}, 31.5, {}),
    ("PRUNED", 0.5, {"lr": 1.5e-05, "units": 8, "act": "gelu [fast]"}, 3.0, {ATTR_PRUNED_EPOCH: 1}),
    ("FAIL", None, {"lr": 0.09, "units": 512, "act": "sigmoïde"}, 0.75, {ATTR_REASON: LONG_REASON}),
    ("COMPLETE", 0.875, {"lr": 0.001, "units": 128, "act": "relu"}, 95.0, {ATTR_REASON: "short [note]"}),
    ("FAIL", None, {"lr": 0.02, "units": 16, "act": "tanh"}, 1.0, {ATTR_REASON: "timed out after 1 s"}),
]
START = datetime(2024, 5, 1, 12, 0, 0)


def make_small_study(path: Path) -> str:
    """The study in ``path`` (a SQLite file); its storage URL."""
    url = f"sqlite:///{path}"
    study = optuna.create_study(study_name=STUDY_NAME, storage=url, direction="maximize")
    study.set_user_attr(ATTR_METRIC, "accuracy")
    for number, (state, value, params, seconds, attrs) in enumerate(TRIALS):
        started = START + timedelta(minutes=number)
        launch = {"slot": f"cpu{number % 2}", "started": started.timestamp()}
        curve = {0: 0.25, 1: 0.5} if state in ("COMPLETE", "PRUNED") else {}
        trial = create_trial(
            state=TrialState[state],
            value=value,
            params=params,
            distributions=DISTRIBUTIONS,
            user_attrs={ATTR_LAUNCH: launch, **attrs},
            intermediate_values=curve,
        )
        trial.datetime_start = started
        trial.datetime_complete = started + timedelta(seconds=seconds)
        study.add_trial(trial)
    return url
