"""Lightning under `tune`: its callback, and --metrics-from csv (CSVLogger's metrics.csv), with Hyperband."""

from __future__ import annotations

from tests.integrations.conftest import assert_ran_as_planned, epoch_lines, requires

requires("lightning")

LR_CHOICES = [0.0001, 0.2, 0.5]  # SGD on the digits: 0.0001 hardly learns in 3 epochs


def test_the_callback_reports_each_validated_epoch_once_and_pruned_trials_end_with_their_workers(framework_study):
    study = framework_study(
        "lightning_digits.py", LR_CHOICES, "callback", "--metric", "best_val_acc", "--direction", "maximize"
    )

    assert_ran_as_planned(study, bad_lr=0.0001)
    line = epoch_lines(study.best_trial.number)[0]
    assert {"val_acc", "val_loss", "train_loss_epoch"} <= set(line) and line["last_epoch"] == 2
    assert study.best_value == max(line["val_acc"] for line in epoch_lines(study.best_trial.number))


def test_metrics_from_lightnings_csv_log_feed_pruning_without_a_callback(framework_study):
    study = framework_study(
        "lightning_digits.py",
        LR_CHOICES,
        "csv",
        "--metric",
        "best_val_acc",
        "--direction",
        "maximize",
        "--metrics-from",
        "csv",
    )

    assert_ran_as_planned(study, bad_lr=0.0001)
    assert "train_loss_epoch" in epoch_lines(study.best_trial.number)[-1]  # rows of an epoch are merged
