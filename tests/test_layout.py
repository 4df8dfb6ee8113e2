"""The package map holds: imports go one way (tasks/solvers/scorers <- models <- training <- caught), function-level
imports included, and Inspect's entry point stays light (no torch until a `ckpt/` model is made)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"tasks": 0, "solvers": 0, "scorers": 0, "models": 1, "training": 2, "caught": 3}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {(a.name.split(".")[0], node.lineno) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add((node.module.split(".")[0], node.lineno))
    return out


@pytest.mark.parametrize("package", sorted(LAYER))
def test_imports_go_one_way(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for imported, line in imported_packages(path):
            if imported in LAYER and LAYER[imported] > LAYER[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not bad, "imports against the layer order tasks/solvers/scorers <- models <- training <- caught:\n" + "\n".join(bad)


def test_layer_check_sees_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from caught.sweep import Sweep\n")
    assert ("caught", 2) in imported_packages(bad)


def test_inspect_entry_point_does_not_import_torch():
    code = ("import sys, caught._registry; from inspect_ai._util.registry import registry_info; "
            "print('torch' in sys.modules, registry_info(caught._registry.ckpt).name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["False", "caught/ckpt"]
