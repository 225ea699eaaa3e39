"""A trial module's code, compiled once by the warm worker and run in each trial as ``python -m`` runs it.

Without a ``.pyc`` (``PYTHONDONTWRITEBYTECODE``, a read-only checkout) every trial would compile its
module again, ~2 ms for a 200-line trainer. The worker finds and compiles the module without
importing anything of it (its package's ``__init__`` may touch CUDA, which must happen only in
trials); a trial imports the package and runs the code as ``__main__``, as ``runpy`` does. A module
whose file changed since is found and compiled afresh by the trial itself.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types
from typing import Any


class ModuleCode:
    """The compiled code of the module ``python -m NAME`` runs (``NAME.__main__`` for a package)."""

    def __init__(self, spec: importlib.machinery.ModuleSpec, code: types.CodeType, stamp: tuple[int, int]) -> None:
        self.spec = spec
        self.code = code
        self._stamp = stamp

    @classmethod
    def find(cls, name: str) -> ModuleCode | None:
        """The code of ``name`` found on ``sys.path``; None where anything is unusual (the trial then runs
        it through ``runpy``, which reports what is wrong as Python would)."""
        try:
            spec = _find_spec(name)
            if spec is not None and spec.submodule_search_locations is not None:
                spec = _find_spec(f"{name}.__main__")
            if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader) or not spec.origin:
                return None
            stamp = _stamp(spec.origin)
            code = spec.loader.get_code(spec.name)
        except (ImportError, OSError, SyntaxError, ValueError):
            return None
        return cls(spec, code, stamp) if code is not None else None

    def is_current(self) -> bool:
        """Whether the module's file is still the one compiled."""
        try:
            return _stamp(self.spec.origin or "") == self._stamp
        except OSError:
            return False

    def run_as_main(self) -> None:
        """Run the code as ``__main__``: its package imported first, ``sys.argv[0]`` its file, as ``runpy`` does."""
        package = self.spec.name.rpartition(".")[0]
        if package:
            importlib.import_module(package)
        module = types.ModuleType("__main__")
        attributes: dict[str, Any] = {
            "__file__": self.spec.origin,
            "__cached__": self.spec.cached,
            "__loader__": self.spec.loader,
            "__package__": package,
            "__spec__": self.spec,
        }
        module.__dict__.update(attributes)
        sys.modules["__main__"] = module
        sys.argv[0] = self.spec.origin or sys.argv[0]
        exec(self.code, module.__dict__)  # noqa: S102 - the trial's own module, as python -m runs it


def _find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of ``name`` as the import system finds it, each parent's found but not imported (importing
    would run them; those imported already are used as they are)."""
    path = None
    spec = None
    parts = name.split(".")
    for index in range(len(parts)):
        prefix = ".".join(parts[: index + 1])
        imported = sys.modules.get(prefix)
        if index < len(parts) - 1 and imported is not None:
            path = getattr(imported, "__path__", None)
            if path is None:
                return None  # a module, not a package: runpy says so
            continue
        spec = _find_one(prefix, path)
        if spec is None:
            return None
        if index < len(parts) - 1:
            if spec.submodule_search_locations is None:
                return None
            path = list(spec.submodule_search_locations)
    return spec


def _find_one(name: str, path: list[str] | None) -> importlib.machinery.ModuleSpec | None:
    """The first spec a finder of ``sys.meta_path`` gives for ``name``, as the import system asks them."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(name, path) if find_spec is not None else None
        if spec is not None:
            return spec
    return None


def _stamp(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_mtime_ns, status.st_size
