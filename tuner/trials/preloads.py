"""What a warm worker imports before forking, besides torch: ``--preload`` and the trainer's framework.

A trainer module's top-level imports are read (never run) from its source; one that imports Lightning
or transformers (directly or through :mod:`tuner.integrations`) gets its framework imported once in
the worker instead of in every trial: Lightning costs 2.4-2.9 s of CPU beyond torch, transformers
1.1-1.7 s.
"""

from __future__ import annotations

import ast
import os
import sys
from importlib.machinery import PathFinder
from pathlib import Path

from tuner.errors import OptionError

# The framework a top-level import stands for, and the modules that import it for a trial.
FRAMEWORK_PRELOADS = {
    "lightning": ("lightning.pytorch",),
    "pytorch_lightning": ("pytorch_lightning",),
    "transformers": ("transformers", "transformers.trainer"),
}
# The built-in integrations (tuner.integrations.<name>) import their framework lazily: by name.
_INTEGRATION_FRAMEWORKS = {"lightning": "lightning", "hf": "transformers", "transformers": "transformers"}


def top_level_imports(module: str) -> list[str] | None:
    """The modules ``module`` imports at its top level (and in top-level ``try`` blocks), read from its
    source where ``python -m`` run here would find it; None when that source cannot be read."""
    search: list[str] | None = [os.getcwd(), *sys.path]  # where `python -m` run here looks first
    spec = None
    parts = module.split(".")
    for depth in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: depth + 1]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    statements = [*tree.body, *(item for node in tree.body if isinstance(node, ast.Try) for item in node.body)]
    names: list[str] = []
    for node in statements:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            if node.module == "tuner.integrations":  # from tuner.integrations import lightning
                names.extend(f"tuner.integrations.{alias.name}" for alias in node.names)
    return names


def framework_preloads(module: str) -> tuple[str, ...]:
    """The framework modules to import before forking trials of ``module`` (none when it names none)."""
    frameworks: list[str] = []
    for name in [module, *(top_level_imports(module) or [])]:
        parts = name.split(".")
        if parts[:2] == ["tuner", "integrations"] and len(parts) > 2:
            frameworks.extend(value for key, value in _INTEGRATION_FRAMEWORKS.items() if key in parts[2])
        elif parts[0] in FRAMEWORK_PRELOADS:
            frameworks.append(parts[0])
    preload = [item for framework in dict.fromkeys(frameworks) for item in FRAMEWORK_PRELOADS[framework]]
    return tuple(item for item in preload if _installed(item.split(".")[0]))


def check_preloads(modules: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse a ``--preload`` module that is not installed (its top-level package is looked up, not imported)."""
    for module in modules:
        if not module or not all(part.isidentifier() for part in module.split(".")):
            raise OptionError(f"--preload {module!r} is not a module name (such as lightning or my_pkg.models)")
        if not _installed(module.split(".")[0]):
            raise OptionError(f"--preload {module}: no module '{module.split('.')[0]}' in {sys.executable}")
    return modules


def _installed(package: str) -> bool:
    """Whether ``package`` is found where a trial's ``python -m`` finds it: here first, then on sys.path."""
    return PathFinder.find_spec(package, [os.getcwd(), *sys.path]) is not None
