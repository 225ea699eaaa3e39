"""--enqueue: values checked against the space, best_config.json read back through it, each entry queued once."""

from __future__ import annotations

import json

import optuna
import pytest

from tuner.config.snapshot import config_from_text
from tuner.errors import OptionError
from tuner.space.parse import parse_search_space
from tuner.study.enqueue import enqueue_trials, load_enqueue

SPACE = parse_search_space(
    {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "filters": {"type": "int", "low": 4, "high": 32},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "wide": {"type": "bool"},
    }
)
CONFIG = config_from_text(
    """
    local filters = std.parseInt(std.extVar('filters'));
    {
      model: { channels: [filters, 2 * filters], dropout: std.parseJson(std.extVar('dropout')),
               width: if std.parseJson(std.extVar('wide')) then 'wide' else 'narrow' },
      trainer: { optimizer: { type: std.extVar('optimizer'), lr: std.parseJson(std.extVar('lr')) }, epochs: 3 },
    }
    """
)
VALUES = {"lr": 0.003, "dropout": 0.2, "filters": 12, "optimizer": "adam", "wide": True}


def write(tmp_path, data) -> str:
    path = tmp_path / "enqueue.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_one_object_or_a_list_of_objects_gives_checked_values(tmp_path):
    assert load_enqueue(write(tmp_path, VALUES), SPACE, CONFIG) == (VALUES,)
    partial = {"lr": 0.01, "filters": 8.0}  # the rest is sampled; an integral float is an int
    entries = load_enqueue(write(tmp_path, [VALUES, partial]), SPACE, CONFIG)
    assert entries == (VALUES, {"lr": 0.01, "filters": 8})
    assert isinstance(entries[1]["filters"], int)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"lrr": 0.01}, "enqueue.json: unknown parameter 'lrr' (did you mean 'lr'?); the search space has lr,"),
        ({"lr": 0.5}, "enqueue.json: lr=0.5 is above the search space's high 0.1"),
        ({"filters": 2}, "filters=2 is below the search space's low 4"),
        ({"filters": 4.5}, "filters=4.5 is not an integer"),
        ({"dropout": 0.25}, "dropout=0.25 is not on the grid 0 + k * 0.1"),
        ({"optimizer": "adamw"}, 'optimizer="adamw" is not one of the choices ["sgd", "adam"]'),
        ({"wide": 1}, "wide=1 is not one of the choices [true, false]"),
        ({"lr": "0.01"}, 'lr="0.01" is not a finite number'),
    ],
)
def test_a_bad_value_is_one_line_naming_the_parameter(tmp_path, entry, message):
    with pytest.raises(OptionError, match="^[^\n]*$") as raised:
        load_enqueue(write(tmp_path, entry), SPACE, CONFIG)
    assert message in str(raised.value)


def test_a_list_names_the_entry_at_fault(tmp_path):
    with pytest.raises(OptionError, match=r"enqueue.json entry 2: lr=5 is above"):
        load_enqueue(write(tmp_path, [VALUES, {"lr": 5}]), SPACE, CONFIG)


def test_a_missing_or_malformed_file_is_one_line(tmp_path):
    with pytest.raises(OptionError, match="cannot read it"):
        load_enqueue(tmp_path / "missing.json", SPACE, CONFIG)
    (tmp_path / "bad.json").write_text("{lr: 1")
    with pytest.raises(OptionError, match="bad.json: not JSON"):
        load_enqueue(tmp_path / "bad.json", SPACE, CONFIG)
    with pytest.raises(OptionError, match="the list is empty"):
        load_enqueue(write(tmp_path, []), SPACE, CONFIG)


def test_a_rendered_best_config_gives_back_the_values_it_was_rendered_with(tmp_path):
    rendered = CONFIG.render(VALUES)
    assert load_enqueue(write(tmp_path, rendered), SPACE, CONFIG) == (VALUES,)


def test_a_rendered_config_with_a_value_outside_the_space_names_the_parameter(tmp_path):
    rendered = CONFIG.render({**VALUES, "lr": 0.5})
    with pytest.raises(OptionError, match=r"lr=0.5 is above the search space's high 0.1"):
        load_enqueue(write(tmp_path, rendered), SPACE, CONFIG)


def test_a_rendered_config_no_values_render_is_refused(tmp_path):
    rendered = CONFIG.render(VALUES)
    rendered["model"]["channels"][1] = 25  # not 2 * 12
    with pytest.raises(OptionError, match=r"model.channels.1 renders as 24, the file has 25"):
        load_enqueue(write(tmp_path, rendered), SPACE, CONFIG)
    rendered = CONFIG.render(VALUES)
    rendered["trainer"]["optimizer"]["type"] = "adamw"
    with pytest.raises(OptionError, match=r"cannot map the config back to parameter 'optimizer'.*matches none"):
        load_enqueue(write(tmp_path, rendered), SPACE, CONFIG)


def test_a_parameter_held_only_through_an_expression_cannot_be_mapped_back(tmp_path):
    doubled = config_from_text("{ lr: 2 * std.parseJson(std.extVar('lr')), nested: { a: 1 } }")
    space = parse_search_space({"lr": {"type": "float", "low": 0.001, "high": 0.1}})
    with pytest.raises(OptionError, match=r"parameter 'lr': the config holds it only through an expression \(at lr\)"):
        load_enqueue(write(tmp_path, doubled.render({"lr": 0.01})), space, doubled)


def test_each_entry_is_queued_once_and_runs_first_with_its_attribute():
    study = optuna.create_study()
    assert enqueue_trials(study, [VALUES, {"lr": 0.01}]) == (2, 0)
    assert enqueue_trials(study, [VALUES, {"lr": 0.01}]) == (0, 2)  # the same command run again
    trial = study.ask()
    assert trial.user_attrs == {"enqueued": True}
    assert SPACE.suggest(trial) == VALUES
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 1


def test_a_trial_a_sampler_proposed_does_not_keep_the_same_values_from_being_enqueued():
    study = optuna.create_study()
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    study.tell(trial, 1.0)
    assert enqueue_trials(study, [{"lr": trial.params["lr"]}]) == (1, 0)
