"""The stack is strict: cot_tasks < trainers < harness_plugins; nothing imports upward, lazily or not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("cot_tasks", "trainers", "harness_plugins")


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level package of every import statement anywhere in the file (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_imports(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    bad = [f"{path.relative_to(ROOT)}:{line} imports {pkg}"
           for path in sorted((ROOT / layer).rglob("*.py"))
           for pkg, line in imported_packages(path) if pkg in above]
    assert not bad, "\n".join(bad)


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from harness_plugins.grid.run import run_grid\n")
    assert ("harness_plugins", 2) in imported_packages(module)
