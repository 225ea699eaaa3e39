"""Scripts that take flags: ``tune SPACE --command "python train.py --lr {lr} ..."``, no Jsonnet config.

Real argparse scripts run as real subprocesses on real Optuna studies (README "Scripts that take flags").
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import tuner
from tests.conftest import invoke_tune
from tuner.errors import OptionError

STORAGE = "sqlite:///tune.db"
SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "hidden": {"type": "int", "low": 8, "high": 64},
    "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
}
# An unmodified argparse script: it knows nothing of tune and writes its own JSON-lines log.
OWN_LOG_SCRIPT = """
import argparse, json, math

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--hidden", type=int, required=True)
parser.add_argument("--activation", choices=["relu", "tanh"], required=True)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--log", required=True)
args = parser.parse_args()
with open(args.log, "a") as log:
    for epoch in range(args.epochs):
        accuracy = (epoch + 1) / args.epochs * (1 - abs(math.log10(args.lr) + 2) / 3) * args.hidden / 64
        log.write(json.dumps({"epoch": epoch, "validation_accuracy": accuracy}) + "\\n")
"""
# The same, reporting through the trial contract, and saying what it was given.
CONTRACT_SCRIPT = """
import argparse, json, os, sys
from tuner import report

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--hidden", type=int, required=True)
parser.add_argument("--activation", required=True)
parser.add_argument("--momentum", type=float)
parser.add_argument("--offset", type=float, default=0.0)
parser.add_argument("--out", required=True)
args = parser.parse_args()
seen = {"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("TUNER_PARAM")}}
with open(os.path.join(args.out, "seen.json"), "w") as handle:
    json.dump(seen, handle)
report(0, last_epoch=0, validation_accuracy=args.lr * args.hidden + args.offset)
"""


def expected_accuracy(params: dict) -> float:
    return (1 - abs(math.log10(params["lr"]) + 2) / 3) * params["hidden"] / 64


def write_script(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    script = tmp_path / name
    script.write_text(text)
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    return script


def tune_script(*args: str):
    return invoke_tune(*args, "--metric", "best_validation_accuracy", "--direction", "maximize", "--seed", "0")


def trials(name: str = "space") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=STORAGE).trials


def test_unmodified_argparse_script_tuned_with_placeholders_and_metrics_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = write_script(tmp_path, OWN_LOG_SCRIPT)
    command = f"{sys.executable} {script.name} --lr {{lr}} --hidden {{hidden}} --activation {{activation}} "
    command += "--log {serialization_dir}/log.jsonl"
    result = tune_script(
        "space.json", "--command", command, "--metrics-file", "{serialization_dir}/log.jsonl", "--n-trials", "4"
    )

    assert result.exit_code == 0, result.output
    done = trials()
    assert [trial.state.name for trial in done] == ["COMPLETE"] * 4
    for trial in done:  # the value the script computed from the flags it got: exactly the sampled values
        assert trial.value == pytest.approx(expected_accuracy(trial.params), rel=1e-12)


def test_placeholders_and_environment_carry_every_sampled_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_PARAM_STALE", "from an outer run")
    script = write_script(tmp_path, CONTRACT_SCRIPT)
    command = f"{sys.executable} {script.name} --lr {{lr}} --hidden {{hidden}} --activation {{activation}} "
    result = tune_script("space.json", "--command", command + "--out {serialization_dir}", "--n-trials", "3")

    assert result.exit_code == 0, result.output
    assert "Created study 'space'" in result.output  # named after the space file
    for trial in trials():
        seen = json.loads((tmp_path / "results" / "space" / f"trial_{trial.number}" / "seen.json").read_text())
        lr, hidden, activation = trial.params["lr"], trial.params["hidden"], trial.params["activation"]
        assert seen["argv"][:6] == ["--lr", repr(lr), "--hidden", str(hidden), "--activation", activation]
        assert seen["env"] == {
            "TUNER_PARAM_LR": repr(lr),
            "TUNER_PARAM_HIDDEN": str(hidden),
            "TUNER_PARAM_ACTIVATION": activation,
            "TUNER_PARAMS": json.dumps({"lr": lr, "hidden": hidden, "activation": activation}),
        }
        assert json.loads(seen["env"]["TUNER_PARAMS"]) == trial.params
        assert trial.value == lr * hidden


def test_inactive_conditional_parameter_drops_its_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = write_script(tmp_path, CONTRACT_SCRIPT)
    space = {
        "lr": {"type": "float", "low": 0.01, "high": 0.1},
        "hidden": {"type": "int", "low": 8, "high": 16},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.9, "condition": {"activation": "tanh"}, "default": None},
    }
    (tmp_path / "space.json").write_text(json.dumps(space))
    command = f"{sys.executable} {script.name} --lr {{lr}} --hidden {{hidden}} --activation {{activation}} "
    command += "--momentum {momentum} --out {serialization_dir}"
    result = tune_script("space.json", "--command", command, "--n-trials", "6", "--sampler", "random")

    assert result.exit_code == 0, result.output
    kinds = set()
    for trial in trials():
        seen = json.loads((tmp_path / "results" / "space" / f"trial_{trial.number}" / "seen.json").read_text())
        if "momentum" in trial.params:
            kinds.add("active")
            assert seen["argv"][6:8] == ["--momentum", repr(trial.params["momentum"])]
            assert seen["env"]["TUNER_PARAM_MOMENTUM"] == repr(trial.params["momentum"])
        else:
            kinds.add("inactive")
            assert "--momentum" not in seen["argv"]
            assert "TUNER_PARAM_MOMENTUM" not in seen["env"]
            assert json.loads(seen["env"]["TUNER_PARAMS"])["momentum"] is None
    assert kinds == {"active", "inactive"}, "seed 0 gives both branches"


def test_dump_best_writes_a_command_that_runs_the_best_trial_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = write_script(tmp_path, CONTRACT_SCRIPT)
    command = f"{sys.executable} {script.name} --lr {{lr}} --hidden {{hidden}} --activation {{activation}} "
    assert (
        tune_script("space.json", "--command", command + "--out {serialization_dir}", "--n-trials", "3").exit_code == 0
    )

    result = invoke_tune("dump-best")

    assert result.exit_code == 0, result.output
    best = optuna.load_study(study_name="space", storage=STORAGE).best_trial
    assert json.loads((tmp_path / "best_config.json").read_text()) == best.params
    assert "Wrote best_command.sh" in result.output
    again = tmp_path / "again"
    rerun = subprocess.run(["sh", str(tmp_path / "best_command.sh"), str(again)], check=False, capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    seen = json.loads((tmp_path / "again" / "seen.json").read_text())
    trial_dir = tmp_path / "results" / "space" / f"trial_{best.number}"
    assert seen["argv"] == [
        *json.loads((trial_dir / "seen.json").read_text())["argv"][:6],
        "--out",
        str(tmp_path / "again"),
    ]
    assert json.loads(seen["env"]["TUNER_PARAMS"]) == best.params
    assert json.loads((tmp_path / "again" / "metrics.jsonl").read_text())["validation_accuracy"] == best.value


def tune_with_two_commands(tmp_path: Path) -> tuple[str, str]:
    """Two runs of study 'space': two trials whose command adds 100 to the value, then two without it.

    Returns both command templates; the first run's trials are the best, the study's latest command the second.
    """
    script = write_script(tmp_path, CONTRACT_SCRIPT)
    command = f"{sys.executable} {script.name} --lr {{lr}} --hidden {{hidden}} --activation {{activation}} "
    first, second = command + "--offset 100 --out {serialization_dir}", command + "--out {serialization_dir}"
    assert tune_script("space.json", "--command", first, "--n-trials", "2").exit_code == 0
    assert tune_script("space.json", "--command", second, "--n-trials", "4").exit_code == 0
    return first, second


def rerun_best_command(tmp_path: Path) -> dict:
    """Run best_command.sh into again/ and return what the script was given there."""
    rerun = subprocess.run(["sh", str(tmp_path / "best_command.sh"), "again"], check=False, capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    return json.loads((tmp_path / "again" / "seen.json").read_text())


def test_best_command_is_the_command_the_best_trial_ran_not_the_latest_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tune_with_two_commands(tmp_path)
    study = optuna.load_study(study_name="space", storage=STORAGE)
    assert "--offset" not in study.user_attrs["command"]  # the latest run's
    assert study.best_trial.number in (0, 1) and len(study.trials) == 4

    result = invoke_tune("dump-best")

    assert result.exit_code == 0, result.output
    assert "--offset 100" in (tmp_path / "best_command.sh").read_text()
    seen = rerun_best_command(tmp_path)
    trial_dir = tmp_path / "results" / "space" / f"trial_{study.best_trial.number}"
    assert seen["argv"][:8] == json.loads((trial_dir / "seen.json").read_text())["argv"][:8]
    assert seen["argv"][6:8] == ["--offset", "100"]
    assert json.loads((tmp_path / "again" / "metrics.jsonl").read_text())["validation_accuracy"] == study.best_value


def test_export_names_the_command_the_best_trial_ran(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = tune_with_two_commands(tmp_path)

    result = invoke_tune("export", "-o", "shared", "--no-plots")

    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "shared" / "study.json").read_text())
    assert summary["best_trial"]["command"] == first.split()
    assert summary["command"] == second.split()


def test_best_command_of_a_study_whose_trials_name_no_command_is_the_studys(tmp_path, monkeypatch):
    """A study from before trials recorded their command's key: best_command.sh runs the study's command."""
    monkeypatch.chdir(tmp_path)
    script = write_script(tmp_path, CONTRACT_SCRIPT)
    command = f"{sys.executable} {script.name} --lr {{lr}} --hidden {{hidden}} --activation {{activation}} "
    command += "--offset 7 --out {serialization_dir}"
    assert tune_script("space.json", "--command", command, "--n-trials", "2").exit_code == 0
    rebuild_without_command_keys("space")

    result = invoke_tune("dump-best")

    assert result.exit_code == 0, result.output
    assert "Wrote best_command.sh" in result.output
    seen = rerun_best_command(tmp_path)
    assert seen["argv"][6:] == ["--offset", "7", "--out", str(tmp_path / "again")]


def rebuild_without_command_keys(name: str) -> None:
    """Make study ``name`` again as a tune of before this change stored it: no command keys anywhere."""
    study = optuna.load_study(study_name=name, storage=STORAGE)
    attrs = {key: value for key, value in study.user_attrs.items() if not key.startswith("command:")}
    copies = []
    for trial in study.trials:
        launch = {key: value for key, value in trial.user_attrs["launch"].items() if key != "command"}
        copies.append(
            optuna.trial.create_trial(
                params=trial.params,
                distributions=trial.distributions,
                value=trial.value,
                user_attrs={**trial.user_attrs, "launch": launch},
                system_attrs=trial.system_attrs,
                intermediate_values=trial.intermediate_values,
            )
        )
    optuna.delete_study(study_name=name, storage=STORAGE)
    old = optuna.create_study(study_name=name, storage=STORAGE, direction="maximize")
    for key, value in attrs.items():
        old.set_user_attr(key, value)
    old.add_trials(copies)
    assert all("command" not in trial.user_attrs["launch"] for trial in old.trials)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("{python} train.py --lr {lr} --depth {depth}", "unknown placeholder {depth}"),
        ("{python} missing.py --lr {lr}", "script 'missing.py' not found"),
    ],
)
def test_a_command_that_cannot_run_is_refused_before_any_trial(tmp_path, monkeypatch, command, message):
    monkeypatch.chdir(tmp_path)
    write_script(tmp_path, CONTRACT_SCRIPT)
    result = tune_script("space.json", "--command", command, "--n-trials", "1")

    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "tune.db").exists()


def test_a_parameter_named_like_a_builtin_placeholder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_script(tmp_path, CONTRACT_SCRIPT)
    (tmp_path / "space.json").write_text(json.dumps({"config": {"type": "int", "low": 1, "high": 3}}))
    result = tune_script("space.json", "--command", "{python} train.py --config {config}", "--n-trials", "1")

    assert result.exit_code == 2
    assert "{config} is both a built-in placeholder and a parameter" in result.output
    assert not (tmp_path / "tune.db").exists()


def test_a_space_without_a_command_asks_for_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_script(tmp_path, CONTRACT_SCRIPT)
    result = tune_script("run", "--space", "space.json", "--n-trials", "1")

    assert result.exit_code == 2
    assert "Error: no CONFIG for the search space space.json: give a Jsonnet CONFIG" in result.output
    assert "--command with a placeholder for each parameter" in result.output
    with pytest.raises(OptionError, match="no config given: the built-in trainer needs CONFIG.*--command"):
        tuner.tune(search_space="space.json", n_trials=1, metric="score", direction="maximize")
    assert not (tmp_path / "tune.db").exists()
