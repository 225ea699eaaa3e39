"""A warm trial's module, compiled once by its worker: run as ``python -m`` runs it, and edits take effect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna

from tests.conftest import invoke_tune
from tuner.trials.module_code import ModuleCode

# A package trainer (``-m shop.train``) that records how it sees itself as ``__main__``, reports a value
# from its source, and during trial 1 that source is edited, as a user fixing a trainer mid-study would.
TRAINER = """
import json, os, sys, time
import torch  # as real trainers do: the worker preloads it

VALUE = 0.25
main = sys.modules["__main__"]
view = {
    "name": __name__, "file": __file__, "package": __package__, "spec": __spec__.name,
    "argv0": sys.argv[0], "args": sys.argv[1:] == [sys.argv[1], sys.argv[2]], "main_is_me": main.__dict__ is globals(),
    "package_imported": "shop" in sys.modules, "doc": __doc__,
}
with open(os.path.join(sys.argv[2], "view.json"), "w") as handle:
    json.dump(view, handle)
if os.environ.get("TUNER_TRIAL_NUMBER") == "1":
    time.sleep(0.5)  # a trial that trains a while: its worker has forked the next trial's process meanwhile
    source = open(__file__).read().replace("VALUE = 0.25", "VALUE = 0.75")
    with open(__file__ + ".new", "w") as handle:
        handle.write(source)
    os.replace(__file__ + ".new", __file__)
from tuner import report
report(0, validation_accuracy=VALUE)
"""


def make_package(root: Path) -> Path:
    (root / "shop").mkdir()
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "train.py").write_text(TRAINER)
    return root / "shop" / "train.py"


def test_every_trial_sees_its_module_as_python_m_would_and_an_edit_takes_effect_at_the_next_trial(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    make_package(tmp_path)
    (tmp_path / "c.jsonnet").write_text(
        "{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"
    )
    (tmp_path / "space.json").write_text(json.dumps({"x": {"type": "float", "low": 0, "high": 1}}))
    result = invoke_tune("c.jsonnet", "space.json", "--module", "shop.train", "--n-trials", "4", "--pruner", "none")
    assert result.exit_code == 0, result.output

    views = [json.loads((tmp_path / "results" / "c" / f"trial_{n}" / "view.json").read_text()) for n in range(4)]
    fresh_run = [sys.executable, "-m", "shop.train", "missing.json", str(tmp_path)]  # a fresh interpreter
    reference = subprocess.run(fresh_run, check=False, cwd=tmp_path, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr  # it never opens its config
    fresh = json.loads((tmp_path / "view.json").read_text())
    # Trial 0 ran before its worker had compiled the module (runpy), trials 1-3 from the worker's copy.
    assert all(view == fresh for view in views), (views, fresh)
    values = [trial.value for trial in optuna.load_study(study_name="c", storage="sqlite:///tune.db").trials]
    assert values == [0.25, 0.25, 0.75, 0.75]  # trial 1 edited the source: the next trials run the new one


def test_modules_found_without_running_any_of_their_package(tmp_path, monkeypatch):
    make_package(tmp_path)
    (tmp_path / "shop" / "__init__.py").write_text("raise SystemExit('a package __init__ must not run here')")
    monkeypatch.syspath_prepend(str(tmp_path))

    found = ModuleCode.find("shop.train")

    assert found is not None and found.spec.origin == str(tmp_path / "shop" / "train.py") and found.is_current()
    assert "shop" not in sys.modules
    assert ModuleCode.find("shop") is None  # no shop.__main__: the trial's runpy says so, as python -m would
    assert ModuleCode.find("shop.missing") is None
    (tmp_path / "shop" / "train.py").write_text(TRAINER + "\n# edited\n")
    assert not found.is_current()
