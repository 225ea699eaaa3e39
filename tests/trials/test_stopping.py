"""--patience, --target and --terminator judged on real Optuna studies' stored trials."""

from __future__ import annotations

import io
import threading

import optuna
import pytest
from rich.console import Console

from tests.conftest import wait_for
from tuner.display.progress import TuneDisplay
from tuner.errors import OptionError
from tuner.study.records import ATTR_WARM_START_FROM, ATTR_WARM_START_TRIAL
from tuner.trials.budget import Budget
from tuner.trials.stopping import StopRules, check_stop_rules, stop_rules

X = optuna.distributions.FloatDistribution(0.0, 1.0)


def add(study: optuna.Study, *values: float, warm: bool = False) -> None:
    """Complete trials with these values, in this order of completion."""
    for value in values:
        attrs = {ATTR_WARM_START_FROM: "earlier", ATTR_WARM_START_TRIAL: 0} if warm else {}
        study.add_trial(
            optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": X}, value=value, user_attrs=attrs)
        )


def judged(study: optuna.Study, **rules) -> str | None:
    stopping = StopRules(study, **rules)
    stopping.judge()
    return stopping.stop_reason()


def test_patience_stops_when_the_last_n_completed_trials_found_nothing_better():
    study = optuna.create_study(direction="maximize")
    add(study, 0.5, 0.9, 0.8, 0.7)
    assert judged(study, patience=3) is None  # 0.9 is within the last 3

    add(study, 0.9)  # a tie is not better
    reason = judged(study, patience=3)
    assert reason is not None
    assert "--patience 3" in reason and "trial 1's 0.9" in reason


def test_patience_follows_the_direction_and_needs_a_value_to_beat():
    study = optuna.create_study(direction="minimize")
    add(study, 0.5, 0.6, 0.7)
    assert judged(study, patience=3) is None  # nothing came before the last 3
    add(study, 0.4)
    assert judged(study, patience=3) is None  # 0.4 is better when minimizing
    add(study, 0.45, 0.41)
    assert judged(study, patience=3) is None  # 0.4 is among the last 3
    add(study, 0.42)
    assert "no better value in the last 3 completed trials (earlier runs included) than trial 3's 0.4" in judged(
        study, patience=3
    )


def test_pruned_and_failed_trials_are_not_completed_trials_for_patience():
    study = optuna.create_study(direction="maximize")
    add(study, 0.5, 0.9)
    for state in (optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL) * 3:
        study.add_trial(optuna.trial.create_trial(params={"x": 0.1}, distributions={"x": X}, state=state))
    assert judged(study, patience=2) is None  # 0.9 is still among the last 2 completed


def test_warm_started_trials_are_the_value_to_beat_but_not_among_the_last_n():
    study = optuna.create_study(direction="maximize")
    add(study, 0.99, warm=True)
    add(study, 0.5, 0.6)
    reason = judged(study, patience=2)
    assert reason is not None and "trial 0's 0.99" in reason

    fresh = optuna.create_study(direction="maximize")
    add(fresh, 0.1, 0.2, 0.3, warm=True)  # three copied trials are not three trials of patience
    assert judged(fresh, patience=2) is None


def test_patience_on_a_multi_objective_study_watches_the_pareto_front():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for values in ([0.9, 0.1], [0.5, 0.5], [0.4, 0.6]):
        study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": X}, values=values))
    assert "no trial joined the Pareto front in the last 2" in judged(study, patience=2)
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": X}, values=[0.95, 0.2]))
    assert judged(study, patience=2) is None


def test_target_stops_once_a_trial_of_the_study_reaches_it():
    study = optuna.create_study(direction="maximize")
    add(study, 0.97, warm=True)  # copied trials reach nothing
    add(study, 0.5, 0.94)
    assert judged(study, target=0.95) is None
    add(study, 0.95)
    assert judged(study, target=0.95) == "--target 0.95 reached: trial 3 has 0.95"

    low = optuna.create_study(direction="minimize")
    add(low, 0.5, 0.2)
    assert judged(low, target=0.25) == "--target 0.25 reached: trial 1 has 0.2"


def test_a_run_judges_again_only_after_a_trial_completed():
    study = optuna.create_study(direction="maximize")
    add(study, 0.5)
    budget = Budget()
    budget.stop_rules = stop_rules(study, patience=None, target=0.9, terminator=False)
    assert budget.stop_rule_reason() is None
    add(study, 0.95)
    assert budget.stop_rule_reason() is None  # not judged again: nothing told it of the trial
    budget.stop_rules.trial_finished(study.trials[-1], None)
    assert budget.stop_rule_reason() == "--target 0.9 reached: trial 1 has 0.95"


def test_no_rules_make_no_stop_rules():
    study = optuna.create_study()
    assert stop_rules(study, patience=None, target=None, terminator=False) is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"patience": 0}, "patience must be a whole number of trials, at least 1, got 0"),
        ({"patience": -3}, "got -3"),
        ({"target": float("nan")}, "target must be a finite number, got nan"),
        ({"target": 0.9, "multi_objective": True}, "--target needs a single objective"),
        ({"terminator": True, "multi_objective": True}, "--terminator needs a single objective"),
    ],
)
def test_bad_stop_rules_are_refused_with_one_line(arguments, message):
    values = {"patience": None, "target": None, "terminator": False, "multi_objective": False, **arguments}
    multi = values.pop("multi_objective")
    with pytest.raises(OptionError, match="^[^\n]*$") as raised:
        check_stop_rules(**values, multi_objective=multi)
    assert message in str(raised.value)


def step_study(n_trials: int) -> optuna.Study:
    """A study whose objective is flat at its best almost everywhere: nothing is left to find."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: float(trial.suggest_float("x", 0.0, 1.0) > 0.1), n_trials=n_trials)
    return study


def test_the_terminator_waits_for_its_trials_and_then_shows_its_figures():
    statuses: list[str] = []
    study = step_study(10)
    rules = stop_rules(study, patience=None, target=None, terminator=True, on_status=statuses.append)
    assert rules.stop_reason() is None
    assert statuses == ["terminator: waits for 20 complete trials"]


def test_the_terminator_stops_a_study_with_nothing_left_to_find():
    statuses: list[str] = []
    study = step_study(45)
    rules = stop_rules(study, patience=None, target=None, terminator=True, on_status=statuses.append)
    reason = rules.stop_reason()  # the first judgement is waited for
    assert reason is not None and reason.startswith("--terminator: the regret bound")
    assert "fell below the error" in reason
    assert statuses and statuses[-1].startswith("regret bound ") and " vs error " in statuses[-1]


def test_later_judgements_of_the_terminator_come_in_the_background():
    statuses: list[str] = []
    study = step_study(19)
    rules = stop_rules(study, patience=None, target=None, terminator=True, on_status=statuses.append)
    assert rules.stop_reason() is None
    assert statuses == ["terminator: waits for 20 complete trials"]
    study.optimize(lambda trial: float(trial.suggest_float("x", 0.0, 1.0) > 0.1), n_trials=2)
    rules.judge()  # returns at once; the answer is picked up by a later stop_reason()
    rules.judge()  # nothing completed since: no second request
    wait_for(lambda: rules.stop_reason() is None and len(statuses) == 2, "the terminator's background answer")
    assert statuses[1].startswith("regret bound ") and statuses[1].endswith("vs error (after 30 complete trials)")


def test_the_live_view_shows_the_terminator_figures():
    output = io.StringIO()
    console = Console(file=output, width=200, force_terminal=False)
    display = TuneDisplay(console, n_trials=None, already_done=0, budget=Budget())
    display.stop_status("regret bound 0.0123 vs error 0.004")
    for renderable in display.progress.get_renderables():
        console.print(renderable)
    assert "regret bound 0.0123 vs error 0.004" in output.getvalue()


def test_closing_ends_a_judgement_in_progress_without_an_answer():
    statuses: list[str] = []
    study = step_study(29)
    rules = stop_rules(study, patience=None, target=None, terminator=True, on_status=statuses.append)
    assert rules.stop_reason() is None
    assert len(statuses) == 1 and statuses[0].endswith("vs error (after 30 complete trials)")
    study.optimize(lambda trial: float(trial.suggest_float("x", 0.0, 1.0) > 0.1), n_trials=1)
    rules.judge()  # 30 complete trials: the regret bound and the 20 fits of the error it is compared to
    rules.close()  # stops the judgement before its next fit and waits for it
    assert "tune-terminator" not in [thread.name for thread in threading.enumerate()]
    assert rules.stop_reason() is None
    assert len(statuses) == 1  # the cut judgement gave no answer
    study.optimize(lambda trial: float(trial.suggest_float("x", 0.0, 1.0) > 0.1), n_trials=1)
    rules.judge()
    assert rules.stop_reason() is None and len(statuses) == 1  # a closed watch judges no more
