"""`tuner.tune()` as a library call: inputs as paths, text or dicts; samplers by name, class or instance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

import tuner
from tests.conftest import QUADRATIC_CONFIG, TRAINERS
from tuner.config.snapshot import TEXT_ENTRY
from tuner.config.sources import is_path, load_space, snapshot_and_study_name
from tuner.errors import ConfigError, OptionError
from tuner.study import best_config
from tuner.study.records import trial_config
from tuner.study.samplers import build_pruner, build_sampler

SPACE = {"x": {"type": "float", "low": 0.0, "high": 6.0}}
FIXED = {"epochs": "2", "sleep": "0", "extra": "{}"}


@pytest.fixture
def quad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Keyword arguments for a fast study of the quadratic trainer, run in tmp_path."""
    monkeypatch.chdir(tmp_path)
    command = f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"
    return {"ext_vars": FIXED, "command": command, "pruner": "none", "warm_launch": False}


def test_paths_give_a_result_with_the_best_trial_and_config(quad, tmp_path):
    (tmp_path / "quad.jsonnet").write_text(QUADRATIC_CONFIG)
    (tmp_path / "space.json").write_text(json.dumps(SPACE))

    result = tuner.tune(config="quad.jsonnet", search_space=tmp_path / "space.json", n_trials=2, seed=0, **quad)

    assert result.study.study_name == "quad"
    assert len(result.study.trials) == 2
    assert result.best_trial.number == result.study.best_trial.number
    assert result.best_params == {"x": result.best_trial.params["x"]}
    assert result.best_value == result.study.best_value
    assert result.best_config == {
        "x": result.best_params["x"],
        "epochs": 2,
        "sleep": 0,
        "trainer": {"validation_metric": "+accuracy"},
    }
    assert json.loads(result.best_config_path.read_text()) == result.best_config


def test_text_inputs_run_without_files_and_name_the_study_by_hash(quad):
    result = tuner.tune(config=QUADRATIC_CONFIG, search_space=json.dumps(SPACE), n_trials=1, **quad)

    assert result.study.study_name.startswith("config-") and len(result.study.study_name) == len("config-") + 8
    assert result.best_config["epochs"] == 2
    assert (
        tuner.tune(config=QUADRATIC_CONFIG, search_space=SPACE, n_trials=1, **quad).study.study_name
        == result.study.study_name
    )


def test_dict_config_is_taken_as_json(quad):
    config = {"x": 3.0, "epochs": 1, "trainer": {"validation_metric": "+accuracy"}}
    with pytest.warns(UserWarning, match="never reads"):
        result = tuner.tune(config=config, search_space=SPACE, n_trials=1, **quad)
    assert result.best_value == pytest.approx(1.0)
    assert result.best_config == config


def test_a_string_is_a_path_when_it_names_a_file_or_looks_like_one(tmp_path):
    (tmp_path / "c.jsonnet").write_text("{}")
    assert is_path(str(tmp_path / "c.jsonnet"))
    assert is_path("configs/missing.jsonnet")
    assert is_path(tmp_path / "anything")
    assert not is_path("{ a: 1 }")
    assert not is_path("local x = 1;\n{ a: x }")
    with pytest.raises(ConfigError, match="missing.jsonnet: config file not found"):
        snapshot_and_study_name("missing.jsonnet")


def test_text_config_snapshot_has_a_placeholder_entry():
    snapshot, name = snapshot_and_study_name("{ a: std.extVar('a') }")
    assert snapshot.entry == TEXT_ENTRY
    assert snapshot.ext_var_names() == {"a": f"{TEXT_ENTRY}:1"}
    assert name == snapshot_and_study_name("{ a: std.extVar('a') }")[1]


def test_search_space_text_may_be_jsonnet_or_either_format():
    assert load_space("{ lr: { type: 'float', low: 1e-4, high: 1e-1, log: true } }").names == ["lr"]
    assert load_space('[{"type": "bool", "attributes": {"name": "flag"}}]').names == ["flag"]


def sampled(sampler: optuna.samplers.BaseSampler, n_trials: int = 6) -> list[float]:
    """The points ``sampler`` picks for a small study: two samplers set up alike pick the same ones."""
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: (trial.suggest_float("x", 0.0, 6.0) - 3.0) ** 2, n_trials=n_trials)
    return [trial.params["x"] for trial in study.trials]


def prunes(pruner: optuna.pruners.BasePruner) -> bool:
    """Whether ``pruner`` stops a trial reporting 2.5 at step 0 after trials that reported 1 to 5 (minimised)."""
    study = optuna.create_study(pruner=pruner)
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        study.add_trial(optuna.trial.create_trial(value=value, intermediate_values={0: value}))
    trial = study.ask()
    trial.report(2.5, 0)
    return trial.should_prune()


@pytest.mark.parametrize("name", ["tpe", "TPESampler", "TpE", "tpe_sampler"])
def test_sampler_by_name_in_any_case(name):
    sampler = build_sampler(name, {"n_startup_trials": 3}, seed=1, space=load_space(SPACE))
    assert isinstance(sampler, optuna.samplers.TPESampler)
    # TPE models the space after 3 random trials, not the default 10: the 4th to 6th points show it.
    assert sampled(sampler) == sampled(optuna.samplers.TPESampler(n_startup_trials=3, seed=1))
    assert sampled(sampler) != sampled(optuna.samplers.TPESampler(seed=1))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_sampler_class_gets_kwargs_and_seed():
    sampler = build_sampler(optuna.samplers.QMCSampler, {"qmc_type": "halton"}, seed=7, space=load_space(SPACE))
    assert isinstance(sampler, optuna.samplers.QMCSampler)
    assert sampled(sampler) == sampled(optuna.samplers.QMCSampler(qmc_type="halton", seed=7))
    assert sampled(sampler) != sampled(optuna.samplers.QMCSampler(qmc_type="halton", seed=8))
    assert sampled(sampler) != sampled(
        optuna.samplers.QMCSampler(qmc_type="sobol", seed=7, warn_asynchronous_seeding=False)
    )


def test_unknown_sampler_name_suggests_the_closest():
    with pytest.raises(OptionError, match="unknown sampler 'tpee'.*did you mean 'tpe'"):
        build_sampler("tpee", None, seed=None, space=load_space(SPACE))


def test_pruner_by_name_class_or_instance():
    assert isinstance(build_pruner("Hyperband", None), optuna.pruners.HyperbandPruner)
    # The 25th percentile of 1..5 is 2, which 2.5 is worse than; the median, 3, is not.
    assert prunes(build_pruner(optuna.pruners.PercentilePruner, {"percentile": 25.0}))
    assert not prunes(build_pruner(optuna.pruners.PercentilePruner, {"percentile": 50.0}))
    instance = optuna.pruners.NopPruner()
    assert build_pruner(instance, None) is instance


def test_sampler_and_pruner_instances_are_used_as_given(quad):
    sampler, pruner = optuna.samplers.RandomSampler(seed=3), optuna.pruners.NopPruner()
    result = tuner.tune(
        config=QUADRATIC_CONFIG, search_space=SPACE, n_trials=1, **{**quad, "pruner": pruner}, sampler=sampler
    )
    assert result.study.sampler is sampler
    assert result.study.pruner is pruner
    assert result.study.user_attrs["sampler"]["name"] == "RandomSampler"


def test_save_to_directory_writes_what_tune_export_writes(quad, tmp_path):
    result = tuner.tune(config=QUADRATIC_CONFIG, search_space=SPACE, n_trials=2, **quad)

    export = result.save_to_directory(tmp_path / "out", plots=False)

    assert {path.name for path in export.files} == {"trials.tsv", "study.json", "best_config.json"}
    assert json.loads((tmp_path / "out" / "best_config.json").read_text()) == result.best_config
    summary = json.loads((tmp_path / "out" / "study.json").read_text())
    assert summary["best_trial"]["number"] == result.best_trial.number


def test_tune_from_config_takes_sections_and_overrides(quad, tmp_path):
    study_config = {
        "tune": {
            "config": QUADRATIC_CONFIG,
            "search_space": SPACE,
            "n_trials": 3,
            "ext_vars": {"epochs": 1, "sleep": 0, "extra": "{}"},
        },
        "optuna": {"sampler": "random", "seed": 0, "pruner": "none"},
    }
    result = tuner.tune_from_config(study_config, n_trials=1, command=quad["command"], study_name="from-config")

    assert result.study.study_name == "from-config"
    assert len(result.study.trials) == 1
    assert isinstance(result.study.sampler, optuna.samplers.RandomSampler)
    assert result.best_config["epochs"] == 1


def test_tune_from_path_reads_jsonnet_relative_to_its_folder(quad, tmp_path):
    folder = tmp_path / "setup"
    folder.mkdir()
    (folder / "quad.jsonnet").write_text(QUADRATIC_CONFIG)
    (folder / "space.json").write_text(json.dumps(SPACE))
    (folder / "study.jsonnet").write_text(
        "{ tune: { config: 'quad.jsonnet', search_space: 'space.json', n_trials: 1, "
        "ext_vars: { epochs: 1, sleep: 0, extra: '{}' } }, optuna: { pruner: 'none' } }"
    )
    result = tuner.tune_from_path(folder / "study.jsonnet", command=quad["command"])

    assert result.study.study_name == "quad"
    assert result.best_config["epochs"] == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_trials": 0}, "n_trials must be at least 1, got 0"),
        ({"timeout": float("nan")}, "timeout must be a finite positive number of seconds, got nan"),
        ({"trial_timeout": -1.0}, "trial_timeout must be a finite positive number of seconds, got -1"),
    ],
)
def test_bad_numbers_are_refused_by_argument_name_before_anything_is_stored(quad, tmp_path, arguments, message):
    with pytest.raises(OptionError, match=f"^{message}$"):
        tuner.tune(config=QUADRATIC_CONFIG, search_space=SPACE, **arguments, **quad)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def best_config_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict, int]]:
    """Each write of best_config.json, by the one writer: the content written and the file's inode after it."""
    writes: list[tuple[dict, int]] = []
    write = best_config.write_best_config

    def recorded(path: Path, config: dict) -> Path:
        written = write(path, config)
        writes.append((json.loads(written.read_text()), written.stat().st_ino))
        return written

    monkeypatch.setattr(best_config, "write_best_config", recorded)
    return writes


def improvements(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that were the best when they finished (one at a time: in number order)."""
    best: list[optuna.trial.FrozenTrial] = []
    for trial in study.trials:
        if trial.value is not None and (not best or trial.value > best[-1].value):
            best.append(trial)
    return best


def test_best_config_is_written_once_per_new_best_and_not_again_at_the_end(quad, best_config_writes):
    result = tuner.tune(config=QUADRATIC_CONFIG, search_space=SPACE, n_trials=6, sampler="random", seed=3, **quad)

    better = improvements(result.study)
    assert len(better) >= 2  # else this study shows nothing of "once per new best"
    assert [config for config, _ in best_config_writes] == [trial_config(result.study, trial) for trial in better]
    assert json.loads(result.best_config_path.read_text()) == result.best_config == best_config_writes[-1][0]
    assert result.best_config_path.stat().st_ino == best_config_writes[-1][1]  # the file of the last new best


def test_best_config_of_an_earlier_run_is_written_once_at_the_end(quad, best_config_writes):
    first = tuner.tune(config=QUADRATIC_CONFIG, search_space=SPACE, n_trials=2, **quad)
    first.best_config_path.unlink()
    best_config_writes.clear()

    again = tuner.tune(config=QUADRATIC_CONFIG, search_space=SPACE, n_trials=2, **quad)  # nothing left to run

    assert sum(again.summary.finished.values()) == 0
    assert [config for config, _ in best_config_writes] == [first.best_config]
    assert json.loads(again.best_config_path.read_text()) == first.best_config
