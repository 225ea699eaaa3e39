"""When the next trial is taken before a slot frees: prepared with several slots, only asked with one."""

from __future__ import annotations

import optuna

from tuner.trials.ahead import AheadPolicy
from tuner.trials.budget import Budget, FailurePolicy


def policy(slots: int, sampler: optuna.samplers.BaseSampler, *durations: float) -> AheadPolicy:
    ahead = AheadPolicy(slots, sampler)
    for seconds in durations:
        ahead.trial_ended(seconds)
    return ahead


def test_short_trials_with_every_slot_busy_are_taken_ahead():
    tpe = optuna.samplers.TPESampler(seed=0)
    assert policy(4, tpe, 0.5).now(4, Budget(), FailurePolicy()) == "prepare"
    assert policy(1, tpe, 0.5).now(1, Budget(), FailurePolicy()) == "ask"
    assert policy(4, tpe, 0.5).now(3, Budget(), FailurePolicy()) is None  # a slot is free: it starts now
    assert policy(1, tpe).now(1, Budget(), FailurePolicy()) is None  # no trial has ended: unknown length
    assert policy(1, tpe, 30.0).now(1, Budget(), FailurePolicy()) is None  # long trials: not worth it


def test_one_slot_asks_ahead_only_where_nothing_can_change_what_is_sampled_or_stop_the_run_after_this_trial():
    assert policy(1, optuna.samplers.NSGAIISampler(seed=0), 0.5).now(1, Budget(), FailurePolicy()) is None
    assert policy(1, optuna.samplers.RandomSampler(seed=0), 0.5).now(1, Budget(), FailurePolicy()) == "ask"
    four_in_a_row = FailurePolicy()
    for _ in range(4):
        four_in_a_row.record("FAIL", "crashed (exit code 1)")
    assert policy(1, optuna.samplers.TPESampler(), 0.5).now(1, Budget(), four_in_a_row) is None
    assert (
        policy(1, optuna.samplers.TPESampler(), 0.5).now(1, Budget(timeout=1.0, spent_before=0.9), FailurePolicy())
        is None
    )
