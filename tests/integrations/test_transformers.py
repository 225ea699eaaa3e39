"""Hugging Face's Trainer under `tune`: its callback, and --metrics-from hf (trainer_state.json), with Hyperband."""

from __future__ import annotations

from tests.integrations.conftest import assert_ran_as_planned, epoch_lines, requires

requires("transformers")
requires("accelerate")  # the Trainer needs it (transformers[torch])

LR_CHOICES = [1e-05, 0.01, 0.03]  # a tiny BERT: 1e-05 hardly moves its loss in 3 epochs
OBJECTIVE = ["--metric", "best_eval_loss", "--direction", "minimize"]


def test_the_callback_reports_each_evaluation_once_with_integer_epochs(framework_study):
    study = framework_study("hf_tiny_bert.py", LR_CHOICES, "callback", *OBJECTIVE)

    assert_ran_as_planned(study, bad_lr=1e-05)
    lines = epoch_lines(study.best_trial.number)
    assert {"eval_loss", "eval_accuracy"} <= set(lines[0]) and lines[0]["last_epoch"] == 2
    assert study.best_value == min(line["eval_loss"] for line in lines)


def test_metrics_from_hf_trainer_state_feed_pruning_without_a_callback(framework_study):
    study = framework_study("hf_tiny_bert.py", LR_CHOICES, "state", *OBJECTIVE, "--metrics-from", "hf")

    assert_ran_as_planned(study, bad_lr=1e-05)
