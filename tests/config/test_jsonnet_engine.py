"""The study's Jsonnet engine (go-jsonnet) renders what users send exactly as the C++ reference engine does,
and a runaway render becomes an error, never a hang, a traceback or a trained NaN."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import optuna
import pytest

from tuner.config import jsonnet_engine
from tuner.config.preflight import prepare_config
from tuner.config.snapshot import capture_config, config_from_text, ext_var_string
from tuner.config.sources import load_search_space
from tuner.errors import ConfigError

_jsonnet = pytest.importorskip("_jsonnet", reason="the C++ engine (jsonnet, in the dev extra) is the reference")

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = [
    ("configs/digits_optuna.jsonnet", "search_spaces/digits.json"),
    ("configs/imdb_optuna.jsonnet", "search_spaces/imdb.json"),
    ("configs/nations_transe.jsonnet", "search_spaces/nations_transe.json"),
]
POINTS = 60


def _reference_render(snapshot, ext_vars: dict[str, str]):
    def import_file(directory: str, relative: str) -> tuple[str, bytes]:
        path = str(Path(directory, relative))
        return path, snapshot.files.get(path, "").encode() or Path(path).read_bytes()

    return json.loads(
        _jsonnet.evaluate_snippet(
            snapshot.entry, snapshot.files[snapshot.entry], ext_vars=ext_vars, import_callback=import_file
        )
    )


def _interior_points(space, seed: int, count: int) -> list[dict]:
    """Values as a study samples them: Optuna's random sampler over the whole space, corners not favoured."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    points = []
    for _ in range(count):
        trial = study.ask()
        points.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return points


@pytest.mark.parametrize(("config", "space"), BUNDLED)
def test_bundled_configs_render_alike_at_random_interior_points(config: str, space: str) -> None:
    search_space = load_search_space(ROOT / space)
    snapshot = prepare_config(capture_config(ROOT / config), search_space, {}, environ={}).snapshot
    for params in _interior_points(search_space, seed=len(config), count=POINTS):
        ext_vars = {**snapshot.fixed_ext_vars, **{name: ext_var_string(value) for name, value in params.items()}}
        assert snapshot.render(params) == _reference_render(snapshot, ext_vars), params


def _random_float(rng: random.Random) -> float:
    kind = rng.randrange(4)
    if kind == 0:
        return 10 ** rng.uniform(-8, 4)  # log-uniform, as learning rates and weight decays are sampled
    if kind == 1:
        return rng.uniform(0.0, 1.0)  # dropout, momentum
    if kind == 2:
        return -rng.uniform(0.0, 10.0)
    return rng.uniform(-1e6, 1e6)


# Value-dependent classes where fast engines have been seen to differ from the reference.
FLOAT_SNIPPETS = [
    "x",
    "'%s' % x",
    "'cnn-do%s' % x",
    "'%.1f' % x",
    "'%.2f' % x",
    "'%.0f' % x",
    "'%.3e' % x",
    "'%e' % x",
    "'%g' % x",
    "'%10.4f' % x",
    "std.toString(x)",
    "std.floor(x * 1000)",
    "std.ceil(x)",
    "std.abs(x - 0.5) < 1e-9",
    "x * 3 == x + x + x",
    "std.parseJson(std.toString(x))",
    "std.parseJson(std.manifestJson({v: x})).v",
    "std.sqrt(std.abs(x))",
    "std.pow(std.abs(x), 0.5)",
    "std.pow(std.abs(x), 2)",
]
# The engines' maths libraries (libm against Go's math) may round these a few units in the last place apart;
# neither is wrong, and a study renders with one engine only, so its configs are consistent.
LAST_PLACE_SNIPPETS = ["std.exp(std.min(x, 50))", "std.log(std.abs(x) + 1)", "std.sin(x)", "std.pow(std.abs(x), 1.7)"]
INT_SNIPPETS = ["'%d' % n", "'%05d' % n", "'%x' % std.abs(n)", "n / 3", "n % 7", "std.toString(n)", "'l%d' % n"]


def _ours(text: str, ext_vars: dict[str, str]) -> str:
    return jsonnet_engine.render("s", {"s": text}, ext_vars)


def _reference(text: str, ext_vars: dict[str, str]) -> str:
    return _jsonnet.evaluate_snippet("s", text, ext_vars=ext_vars)


def _render_all(engine_render, expression: str, variable: str, values: list[str]) -> list:
    """One render of ``expression`` for every value, each read through its own ext var as a config reads it."""
    cast = "std.parseJson" if variable == "x" else "std.parseInt"
    items = ", ".join(f"(local {variable} = {cast}(std.extVar('v{i}')); {expression})" for i in range(len(values)))
    ext_vars = {f"v{i}": value for i, value in enumerate(values)}
    return json.loads(engine_render(f"[{items}]", ext_vars))


def _both_engines(expression: str, variable: str, values: list[str]) -> list[tuple[str, object, object]]:
    """(value, go-jsonnet's result, the C++ engine's result) for each value."""
    ours = _render_all(_ours, expression, variable, values)
    return list(zip(values, ours, _render_all(_reference, expression, variable, values)))


def _random_floats(seed: str) -> list[str]:
    rng = random.Random(seed)
    return [ext_var_string(_random_float(rng)) for _ in range(300)]


@pytest.mark.parametrize("expression", FLOAT_SNIPPETS)
def test_value_sensitive_float_expressions_render_alike(expression: str) -> None:
    for value, mine, theirs in _both_engines(expression, "x", _random_floats(expression)):
        assert mine == theirs, f"{expression} with x={value}"


@pytest.mark.parametrize("expression", LAST_PLACE_SNIPPETS)
def test_transcendental_functions_agree_to_fourteen_digits(expression: str) -> None:
    for value, mine, theirs in _both_engines(expression, "x", _random_floats(expression)):
        assert math.isclose(mine, theirs, rel_tol=1e-14), f"{expression} with x={value}"


@pytest.mark.parametrize("expression", INT_SNIPPETS)
def test_value_sensitive_int_expressions_render_alike(expression: str) -> None:
    rng = random.Random(expression)
    values = [str(rng.choice([rng.randint(-1000, 1000), rng.randint(-(2**53), 2**53)])) for _ in range(300)]
    for value, mine, theirs in _both_engines(expression, "n", values):
        assert mine == theirs, f"{expression} with n={value}"


def test_seventeen_digit_floats_reach_the_config_exactly_as_sampled() -> None:
    rng = random.Random(17)
    values = [rng.random() for _ in range(2000)]
    snapshot = config_from_text("{lr: std.parseJson(std.extVar('lr'))}")
    for value in values[:50]:
        assert snapshot.render({"lr": value})["lr"] == value
    text = "[" + ", ".join(f"std.parseJson(std.extVar('v{i}'))" for i in range(len(values))) + "]"
    rendered = json.loads(jsonnet_engine.render("s", {"s": text}, {f"v{i}": repr(v) for i, v in enumerate(values)}))
    assert rendered == values


def test_a_render_that_never_ends_is_an_error_within_its_time_limit() -> None:
    snapshot = config_from_text("local f(n) = if n < 0 then 0 else f(n + 1) tailstrict; {a: f(0)}")
    with pytest.raises(jsonnet_engine.RenderLimitError, match="took more than 0.3 s"):
        jsonnet_engine.render(snapshot.entry, snapshot.files, {}, time_limit=0.3)
    assert config_from_text("{a: 1}").render({}) == {"a": 1}  # the engine is started again for the next render


def test_a_render_that_grows_without_end_is_an_error_not_a_dead_tune() -> None:
    with pytest.raises(jsonnet_engine.RenderLimitError, match="ran out of memory"):
        grow = "std.length(std.makeArray(2000000000, function(i) i))"
        jsonnet_engine.render("s", {"s": grow}, {}, time_limit=600)  # the memory limit, not the clock, ends it
    assert config_from_text("{a: 2}").render({}) == {"a": 2}


@pytest.mark.parametrize("text", ["{lr: std.pow(10, 400)}", "{lr: 1e999}", "{lr: std.log(0)}"])
def test_non_finite_numbers_are_a_config_error_never_a_trained_value(text: str) -> None:
    with pytest.raises(ConfigError, match="RUNTIME ERROR"):
        config_from_text(text).render({})


def test_nan_from_an_ext_var_is_refused_before_rendering() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        ext_var_string(math.nan)


NAMED_CONFIG = """
local x = std.parseJson(std.extVar('x'));
local loop(n) = if n < 0 then 0 else loop(n + 1) tailstrict;
{
  x: x, epochs: 2, sleep: 0, trainer: { validation_metric: '+accuracy' },
  run_name: 'quad-x%s-r%.3f' % [x, x],
  hang: if std.extVar('hang') == 'yes' && x > 4 && x < 5.9 then loop(0) else false,
}
"""


def _tune_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hang: str, n_trials: int):
    import sys

    import tuner
    from tests.conftest import TRAINERS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "quad.jsonnet").write_text(NAMED_CONFIG)
    command = f"{sys.executable} {TRAINERS / 'quadratic.py'} {{config}} {{serialization_dir}}"
    return tuner.tune(
        config="quad.jsonnet",
        search_space={"x": {"type": "float", "low": 0.0, "high": 6.0}},
        n_trials=n_trials,
        seed=3,
        ext_vars={"hang": hang},
        command=command,
        pruner="none",
        warm_launch=False,
        max_failures=n_trials,
    )


def test_every_trial_config_holds_the_values_optuna_recorded_and_best_config_is_the_best_trials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _tune_named(tmp_path, monkeypatch, hang="no", n_trials=6)

    for trial in result.study.trials:
        ran = json.loads((tmp_path / "results" / "quad" / f"trial_{trial.number}" / "config.json").read_text())
        assert ran["x"] == trial.params["x"]
        assert float(ran["run_name"].removeprefix("quad-x").split("-r")[0]) == trial.params["x"]
    best_trial_file = tmp_path / "results" / "quad" / f"trial_{result.best_trial.number}" / "config.json"
    assert json.loads(result.best_config_path.read_text()) == json.loads(best_trial_file.read_text())


def test_a_trial_whose_config_cannot_render_fails_with_the_reason_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(jsonnet_engine.ENV_RENDER_TIME_LIMIT, "2")
    result = _tune_named(tmp_path, monkeypatch, hang="yes", n_trials=8)

    states = {trial.number: trial.state.name for trial in result.study.trials}
    failed = [trial for trial in result.study.trials if trial.state.name == "FAIL"]
    assert "RUNNING" not in states.values()
    assert failed and all(4 < trial.params["x"] < 5.9 for trial in failed)
    # The loop ends by the clock or, where it allocates faster than the clock runs out, by the memory limit.
    assert all("may loop or grow without end" in str(trial.user_attrs) for trial in failed)
    assert any(state == "COMPLETE" for state in states.values())
