"""The shape of the code: small modules and functions, one owner per concept, no cycles.

These read the source (no imports of it): a new string literal for a lake zone or a tag, a
day boundary computed outside the calendar, a storage call around the Lake, a module over
400 lines or a function over 60 lines fails here with the file and line to fix.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit
PACKAGES = ("pipelines", "mlops", "dags")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60
ZONES = {
    "landing",
    "raw",
    "quarantine",
    "discarded",
    "features",
    "predictions",
    "validation",
    "decisions",
    "monitoring",
    "promotions",
}
# Lake methods whose first argument is a zone: a string literal there bypasses the layout.
ZONE_ARGUMENT = {
    "partition_path",
    "partition_uri",
    "exists",
    "read_partition",
    "write_partition",
    "dataset_path",
    "list_dates",
}
OWNERS = {
    "layout": ROOT / "pipelines" / "core" / "layout.py",
    "calendar": ROOT / "pipelines" / "core" / "calendar.py",
    "storage": ROOT / "pipelines" / "core" / "storage.py",
    "registry": ROOT / "pipelines" / "core" / "registry.py",
}


def sources(*folders: str) -> dict[Path, ast.Module]:
    found = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[path] = ast.parse(path.read_text(), str(path))
    return found


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def strings(tree: ast.Module) -> list[ast.Constant]:
    """String literals that are values, not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_no_module_over_400_lines_and_no_function_over_60():
    problems = []
    for path, tree in sources(*PACKAGES).items():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{where(path, node)} {node.name}() is {length} lines")
    assert problems == []


def test_lake_zones_and_tag_names_come_from_the_layout_module():
    problems = []
    for path, tree in sources("pipelines", "mlops").items():
        if path == OWNERS["layout"]:
            continue
        for node in strings(tree):
            text = node.value
            if text.startswith("mlops.") or (text.split("/", 1)[0] in ZONES and "/" in text):
                problems.append(f"{where(path, node)} {text!r}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ZONE_ARGUMENT
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in ZONES
            ):
                problems.append(f"{where(path, node)} zone {node.args[0].value!r} as a literal")
    assert problems == []


def test_day_boundaries_come_from_the_calendar_module():
    """Midnights and local dates computed elsewhere disagreed (UTC in one place, the model's
    timezone in another); only pipelines/core/calendar.py makes them now."""
    problems = []
    for path, tree in sources("pipelines", "mlops").items():
        if path == OWNERS["calendar"]:
            continue
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
            if name in {"ZoneInfo", "combine", "in_timezone"}:
                problems.append(f"{where(path, node)} {name}")
    assert problems == []


def test_storage_calls_go_through_the_lake_and_mlflow_through_the_registry():
    problems = []
    for path, tree in sources("pipelines", "mlops").items():
        for node in ast.walk(tree):
            if (
                path != OWNERS["storage"] and isinstance(node, ast.Attribute) and node.attr == "fs"
            ) or (
                path != OWNERS["registry"]
                and isinstance(node, ast.Name | ast.Attribute)
                and (node.id if isinstance(node, ast.Name) else node.attr) == "MlflowClient"
            ):
                problems.append(f"{where(path, node)} {ast.unparse(node)}")
    assert problems == []


def test_no_parameter_is_typed_any_for_a_client_or_registry():
    problems = []
    for path, tree in sources("pipelines", "mlops").items():
        for node in ast.walk(tree):
            untyped = isinstance(node, ast.arg) and (
                node.annotation is None or ast.unparse(node.annotation) == "Any"
            )
            if untyped and node.arg in {"client", "registry"}:
                problems.append(f"{where(path, node)} {node.arg}")
    assert problems == []


@pytest.mark.integration
def test_a_new_import_cycle_fails_the_import_contracts(tmp_path):
    """The contracts of ``make lint`` hold, and break when a lower module imports a higher
    one (run on a copy of the packages with one import added)."""
    lint = str(Path(sys.executable).parent / "lint-imports")
    kept = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    for package in ("pipelines", "mlops"):
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    layout = tmp_path / "pipelines" / "core" / "layout.py"
    layout.write_text(layout.read_text() + "\nfrom pipelines.core import storage  # noqa\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    broken = subprocess.run(
        [lint], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout and "pipelines.core.layout" in broken.stdout
