"""Module paths that registered models depend on, kept importable after the code moved.

An MLflow "model from code" runs its own copy of ``model_code.py`` at load time, and that copy
imports the project by module path. Versions logged before the stage packages existed import
``pipelines.model`` (and through it ``pipelines.trainers``, ``pipelines.dataset`` and
``pipelines.spec``); a worker that has already imported ``pipelines`` resolves those names
in the installed package, so they must keep meaning the same thing. Each old path is an alias
of the module that owns the code now (the same module object, not a copy: a class loaded
through either path is one class). tests/training/test_legacy_models.py loads versions logged
by the old layout.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

OLD_TO_NEW = {
    "pipelines.model": "pipelines.training.pyfunc",
    "pipelines.model_code": "pipelines.training.model_code",
    "pipelines.trainers": "pipelines.training.trainers",
    "pipelines.dataset": "pipelines.training.dataset",
    "pipelines.spec": "pipelines.core.spec",
}


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module that owns the code now."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._target_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the target is imported and executed already); only undo the import
        system's setting of the alias's spec on the target module."""
        module.__spec__ = self._target_spec


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths in ``OLD_TO_NEW`` (and nothing else)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in OLD_TO_NEW:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(OLD_TO_NEW[fullname]))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once per process."""
    if not any(isinstance(finder, LegacyFinder) for finder in sys.meta_path):
        sys.meta_path.append(LegacyFinder())
