"""Import paths from before the package had subpackages (``tuner.search_space``, ``tuner.runner``, ...).

Each old module name still imports: it is a module whose names are looked up, on first use, in the
modules that now hold them. Importing :mod:`tuner` installs the finder; nothing is loaded until used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable
from typing import Any

# Old module -> the modules that now hold its names, the main successor first.
OLD_MODULES: dict[str, list[str]] = {
    "tuner.search_space": ["tuner.space.parameters", "tuner.space.parse", "tuner.config.sources"],
    "tuner.conditions": ["tuner.space.conditions", "tuner.space.parameters"],
    "tuner.config": ["tuner.config.snapshot"],
    "tuner.jsonnet_engine": ["tuner.config.jsonnet_engine"],
    "tuner.jsonnet_server": ["tuner.config.jsonnet_server"],
    "tuner.sources": ["tuner.config.sources"],
    "tuner.preflight": ["tuner.config.preflight"],
    "tuner.study_config": ["tuner.config.study_file"],
    "tuner.init_space": ["tuner.config.init_space"],
    "tuner.study": ["tuner.study.storage", "tuner.study.records"],
    "tuner.samplers": ["tuner.study.samplers"],
    "tuner.objective": ["tuner.study.objective", "tuner.contract"],
    "tuner.sqlite_files": ["tuner.study.sqlite_files"],
    "tuner.folders": ["tuner.study.folders"],
    "tuner.recovery": ["tuner.trials.recovery", "tuner.study.records"],
    "tuner.runner": ["tuner.trials.runner", "tuner.trials.run_report"],
    "tuner.trials": ["tuner.trials.trial", "tuner.study.records"],
    "tuner.launch": ["tuner.trials.launch"],
    "tuner.warm": ["tuner.trials.warm"],
    "tuner.worker": ["tuner.trials.worker"],
    "tuner.slots": ["tuner.trials.slots"],
    "tuner.gpus": ["tuner.trials.gpus"],
    "tuner.budget": ["tuner.trials.budget"],
    "tuner.descendants": ["tuner.trials.descendants"],
    "tuner.trainer_check": ["tuner.trials.trainer_check"],
    "tuner.results": ["tuner.analysis.results", "tuner.study.records"],
    "tuner.views": ["tuner.analysis.views"],
    "tuner.plots": ["tuner.analysis.plots"],
    "tuner.importance": ["tuner.analysis.importance"],
    "tuner.export": ["tuner.analysis.export"],
    "tuner.retrain": ["tuner.analysis.retrain"],
    "tuner.cli": ["tuner.cli.run", "tuner.cli.common", "tuner.cli.group"],
    "tuner.extras": ["tuner.errors"],
    "tuner.cli_analysis": ["tuner.cli.analysis"],
    "tuner.display": [
        "tuner.display.progress",
        "tuner.display.trials",
        "tuner.display.findings",
        "tuner.display.text",
        "tuner.display.consoles",
    ],
}
# Old names that were renamed when they moved.
RENAMED = {
    ("tuner.extras", "EXTRA"): "PLOTS_EXTRA",
    ("tuner.sources", "load_config"): "snapshot_and_study_name",
    ("tuner.retrain", "load_config"): "rendered_config",
}


def lookup(old_module: str, name: str) -> Any:
    """``name`` as the old module ``old_module`` exposed it."""
    name_now = RENAMED.get((old_module, name), name)
    for module_name in OLD_MODULES[old_module]:
        module = importlib.import_module(module_name)
        if hasattr(module, name_now):
            return getattr(module, name_now)
    raise AttributeError(f"module {old_module!r} has no attribute {name!r}")


def package_getattr(package: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for a package that replaced an old module of the same name."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lookup(package, name)

    return __getattr__


class _OldModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old flat module names that are no package now."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in OLD_MODULES and fullname not in _PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name, f"Old import path; see {OLD_MODULES[spec.name][0]}.")
        module.__getattr__ = package_getattr(spec.name)  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: names are looked up when used."""


_PACKAGES = {"tuner.config", "tuner.study", "tuner.trials", "tuner.cli", "tuner.display"}


def install() -> None:
    """Put the finder for old module names on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _OldModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_OldModuleFinder())
