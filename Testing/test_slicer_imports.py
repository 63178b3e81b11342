"""A stock 3D Slicer can load both modules before any extra Python package is installed.

Slicer imports every scripted module file when it starts; a failed import
means the module is never registered (and ``ensure_dependencies`` never gets
the chance to offer the install). Stock Slicer ships numpy, scipy, SimpleITK,
VTK and its own ``slicer``/``qt``/``ctk``, but not OpenCV, torch, safetensors
or tqdm. These tests import, in an interpreter where those four (and Qt,
which slicer-core lacks) cannot be imported:

* every module of both ``<Module>Lib`` packages, of ``heatmap_landmarks.mrml`` and of
  ``heatmap_landmarks.slicer_module``;
* every module-level import of both module files, except the three
  ``slicer`` submodules that only the desktop application has
  (``slicer.i18n``, ``slicer.parameterNodeWrapper``,
  ``slicer.ScriptedLoadableModule``) and ``qt``/``ctk``;
* the Logic constructors, which the Widgets call in ``setup()`` before
  anything can be installed.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]
#: Not in a stock 3D Slicer: imported on first use, after ensure_dependencies.
OPTIONAL = ("cv2", "torch", "safetensors", "tqdm")
#: What a module file may import at module level: the standard library, what stock Slicer ships, our own code.
STOCK_SLICER = {"slicer", "qt", "ctk", "vtk", "numpy", "scipy", "SimpleITK"}
#: Parts of stock Slicer that slicer-core lacks; the desktop application always has them.
APP_ONLY = ("qt", "ctk", "slicer.i18n", "slicer.parameterNodeWrapper", "slicer.ScriptedLoadableModule")


def module_level_imports(path: Path) -> list[ast.stmt]:
    """The import statements that run when Slicer loads ``path`` (module body, also inside top-level if/try)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try)):
            todo[:0] = [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                        *[s for h in getattr(node, "handlers", []) for s in h.body]]
    return found


def imported_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module or ""]


def is_app_only(name: str) -> bool:
    return any(name == a or name.startswith(a + ".") for a in APP_ONLY)


@pytest.mark.parametrize("module", MODULES)
def test_module_file_imports_only_stock_slicer_and_our_packages(module):
    allowed = STOCK_SLICER | set(sys.stdlib_module_names) | {"heatmap_landmarks", f"{module}Lib"}
    path = ROOT / module / f"{module}.py"
    bad = [name for node in module_level_imports(path) for name in imported_names(node)
           if name.split(".")[0] not in allowed]
    assert not bad, f"{path.name} imports {bad} when Slicer loads it; import them on first use instead"


BLOCKER = r"""
import importlib, importlib.abc, pkgutil, sys
OPTIONAL = {optional!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in OPTIONAL + ('qt', 'ctk'):
            raise ImportError('not in a stock 3D Slicer: ' + name)
sys.meta_path.insert(0, Block())
"""

BLOCKED_RUN = BLOCKER + r"""
root = {root!r}
sys.path[:0] = [root + '/' + m for m in {modules!r}]

done = []
for package in [m + 'Lib' for m in {modules!r}] + ['heatmap_landmarks.mrml', 'heatmap_landmarks.slicer_module']:
    pkg = importlib.import_module(package)
    done.append(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + '.'):
        importlib.import_module(info.name)
        done.append(info.name)

for module in {modules!r}:
    path = root + '/' + module + '/' + module + '.py'
    for source in {statements!r}[module]:
        exec(compile(source, path, 'exec'), {{'__name__': module}})
        done.append(source)

# The Widgets make their Logic in setup(), before anything can be installed.
from CardiacLandmarkGANLib.logic import CardiacLandmarkGANLogic
from SutureDetectionLib.logic import SutureDetectionLogic
CardiacLandmarkGANLogic(), SutureDetectionLogic()

leaked = sorted(m for m in sys.modules if m.split('.')[0] in OPTIONAL)
assert not leaked, leaked
print('ok', len(done))
"""


def test_lib_packages_and_module_file_imports_load_without_optional_packages():
    statements = {}
    for module in MODULES:
        path = ROOT / module / f"{module}.py"
        statements[module] = [ast.unparse(node) for node in module_level_imports(path)
                              if not any(is_app_only(n) for n in imported_names(node))]
        assert any("heatmap_landmarks" in s for s in statements[module]), f"{path.name}: nothing of ours imported?"
        assert any(f"{module}Lib" in s for s in statements[module]), f"{path.name}: its Lib is not imported?"
    script = BLOCKED_RUN.format(optional=OPTIONAL, root=str(ROOT), modules=MODULES,
                                                 statements=statements)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def test_the_blocker_really_blocks():
    """The finder used above makes ``import cv2`` fail (so the test above would catch a top-level import)."""
    script = BLOCKER.format(optional=OPTIONAL) + "import heatmap_landmarks.preprocess\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "not in a stock 3D Slicer: cv2" in result.stderr
