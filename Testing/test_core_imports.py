"""The layering rules: the core never imports Slicer/Qt/VTK outside mrml/ and
slicer_module/, and module Logic never imports qt/ctk, so CI can run it on slicer-core."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "heatmap_landmarks"
FORBIDDEN_IN_CORE = {"slicer", "qt", "ctk", "vtk", "vtkmodules", "slicer_core"}
FORBIDDEN_IN_LOGIC = {"qt", "ctk"}
#: The core's subpackages that may import slicer/vtk: nodes <-> arrays, and the Slicer panel kit.
SLICER_PARTS = {"mrml", "slicer_module"}


def imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def core_files():
    return sorted(p for p in CORE.rglob("*.py") if not SLICER_PARTS & set(p.relative_to(CORE).parts))


def logic_files():
    return sorted(
        p for lib in ("CardiacLandmarkGAN/CardiacLandmarkGANLib", "SutureDetection/SutureDetectionLib")
        for p in (ROOT / lib).rglob("*.py")
    )


def test_core_has_files():
    assert len(core_files()) >= 3


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_slicer_qt_vtk(path):
    bad = imported_top_modules(path) & FORBIDDEN_IN_CORE
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; only mrml/ and slicer_module/ may"


@pytest.mark.parametrize("path", logic_files() or [None], ids=lambda p: "none" if p is None else str(p.relative_to(ROOT)))
def test_module_logic_imports_no_qt_ctk(path):
    if path is None:
        pytest.fail("no module Logic files found under CardiacLandmarkGANLib/SutureDetectionLib")
    bad = imported_top_modules(path) & FORBIDDEN_IN_LOGIC
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; Logic must run on slicer-core without Qt"


BLOCKER = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'slicer', 'slicer_core', 'vtk', 'vtkmodules', 'qt', 'ctk'}:
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
import pkgutil, importlib, heatmap_landmarks
for info in pkgutil.walk_packages(heatmap_landmarks.__path__, 'heatmap_landmarks.'):
    if '.mrml' in info.name or '.slicer_module' in info.name:
        continue
    importlib.import_module(info.name)
print('ok', heatmap_landmarks.__version__)
"""


def test_core_imports_without_slicer_core():
    """Every core module imports in an interpreter where slicer/vtk cannot be imported."""
    result = subprocess.run([sys.executable, "-c", BLOCKER], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")
