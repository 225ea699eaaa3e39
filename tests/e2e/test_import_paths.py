"""Every import path and entry point from before the subpackages keeps working."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tuner._aliases import OLD_MODULES

# One name each old module exposed, and where it lives now.
MOVED_NAMES = [
    ("tuner.search_space", "parse_search_space", "tuner.space.parse"),
    ("tuner.search_space", "load_search_space", "tuner.config.sources"),
    ("tuner.search_space", "SearchSpace", "tuner.space.parameters"),
    ("tuner.conditions", "is_active", "tuner.space.parameters"),
    ("tuner.config", "ConfigSnapshot", "tuner.config.snapshot"),
    ("tuner.preflight", "prepare_config", "tuner.config.preflight"),
    ("tuner.study", "open_storage", "tuner.study.storage"),
    ("tuner.study", "ATTR_METRIC", "tuner.study.records"),
    ("tuner.trials", "TrialRun", "tuner.trials.trial"),
    ("tuner.trials", "ATTR_REASON", "tuner.study.records"),
    ("tuner.objective", "parse_metrics", "tuner.contract"),
    ("tuner.runner", "StudyRunner", "tuner.trials.runner"),
    ("tuner.results", "trial_rows", "tuner.analysis.results"),
    ("tuner.retrain", "compare", "tuner.analysis.retrain"),
    ("tuner.extras", "require", "tuner.errors"),
    ("tuner.cli", "main", "tuner.cli.group"),
    ("tuner.display", "TuneDisplay", "tuner.display.progress"),
    ("tuner.sources", "load_config", "tuner.config.sources"),
]


@pytest.mark.parametrize("old", sorted(OLD_MODULES))
def test_every_old_module_path_still_imports(old):
    module = importlib.import_module(old)
    assert module.__name__ == old


@pytest.mark.parametrize(("old", "name", "new"), MOVED_NAMES)
def test_a_name_from_an_old_path_is_the_object_at_its_new_home(old, name, new):
    old_module = importlib.import_module(old)
    moved = getattr(old_module, name)
    assert moved.__module__ == new if callable(moved) else moved is getattr(importlib.import_module(new), name)


def test_a_name_no_module_ever_had_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        importlib.import_module("tuner.runner").no_such_name  # noqa: B018


def test_the_public_face_is_cheap_and_lazy():
    script = (
        "import sys, tuner\n"
        "assert 'optuna' not in sys.modules and 'tuner.api' not in sys.modules, 'import tuner loaded more'\n"
        "assert callable(tuner.tune) and callable(tuner.retrain) and callable(tuner.compare)\n"
        "assert 'tuner.api' in sys.modules and 'tuner.analysis.retrain' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("module", ["tuner", "tuner.train", "tuner.pykeen_trainer"])
def test_python_dash_m_entry_points_answer_help(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower()
