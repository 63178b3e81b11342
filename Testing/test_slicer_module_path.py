"""``import heatmap_landmarks`` works from both module files in a developer checkout and in a built extension.

When Slicer loads a scripted module it puts the module file's folder on
``sys.path`` and runs the file. In a developer checkout (the README: add
``<repo>/CardiacLandmarkGAN`` and ``<repo>/SutureDetection`` to *Additional
module paths*) the core package sits one folder up, beside the module
folder, and only the module file's own path shim can make it importable. In
a built extension CMake installs ``heatmap_landmarks`` into the same
``qt-scripted-modules`` folder as the module files.

Each test lays out the files the way Slicer sees them (links to the real
files) and runs, in a fresh interpreter, the module file's statements up to
and including its imports of our code, the way Slicer would; only the
``slicer`` submodules that slicer-core lacks (``slicer.i18n``,
``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule``) and
``qt``/``ctk`` are skipped.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]
APP_ONLY = ("qt", "ctk", "slicer.i18n", "slicer.parameterNodeWrapper", "slicer.ScriptedLoadableModule")


def _names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def load_statements(module: str) -> list[str]:
    """The module file's top-level statements up to its last import of our code, minus app-only imports.

    Function and class definitions other than plain functions are left out (they need the app's base classes).
    """
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    ours = ("heatmap_landmarks", f"{module}Lib")
    last = max(i for i, node in enumerate(tree.body) if any(n.split(".")[0] in ours for n in _names(node)))
    keep = []
    for node in tree.body[: last + 1]:
        if any(n == a or n.startswith(a + ".") for n in _names(node) for a in APP_ONLY):
            continue
        if isinstance(node, ast.ClassDef):
            continue
        keep.append(ast.unparse(node))
    return keep


RUN = r"""
import json, sys
module_file, module_dir, root = sys.argv[1], sys.argv[2], sys.argv[3]
statements = json.loads(sys.argv[4])
sys.path[:] = [p for p in sys.path if p not in ('', '.', root)]
sys.path.insert(0, module_dir)  # what Slicer does for a scripted module
before = list(sys.path)
namespace = {'__file__': module_file, '__name__': 'moduleUnderTest'}
for source in statements:
    exec(compile(source, module_file, 'exec'), namespace)
import heatmap_landmarks
print(json.dumps({'heatmap_landmarks': heatmap_landmarks.__file__, 'added': [p for p in sys.path if p not in before]}))
"""


def run_module_file(module: str, module_file: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(module_file), str(module_file.parent), str(ROOT),
         json.dumps(load_statements(module))],
        cwd=module_file.parent, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def link(target: Path, source: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=source.is_dir())


@pytest.mark.parametrize("module", MODULES)
def test_developer_checkout_imports_the_checkout_core(module, tmp_path):
    """Module folder on Additional module paths, ``heatmap_landmarks`` beside it: the checkout's core is used."""
    checkout = tmp_path / "checkout"
    link(checkout / module / f"{module}.py", ROOT / module / f"{module}.py")
    link(checkout / module / f"{module}Lib", ROOT / module / f"{module}Lib")
    link(checkout / "heatmap_landmarks", ROOT / "heatmap_landmarks")
    got = run_module_file(module, checkout / module / f"{module}.py")
    assert got["heatmap_landmarks"] == str(checkout / "heatmap_landmarks" / "__init__.py")
    assert got["added"] == [str(checkout)]


@pytest.mark.parametrize("module", MODULES)
def test_built_extension_leaves_sys_path_alone(module, tmp_path):
    """Installed layout: ``heatmap_landmarks`` beside the module file in qt-scripted-modules; nothing is added."""
    scripted = tmp_path / "Slicer-5.x" / "lib" / "Slicer-5.x" / "qt-scripted-modules"
    link(scripted / f"{module}.py", ROOT / module / f"{module}.py")
    link(scripted / f"{module}Lib", ROOT / module / f"{module}Lib")
    link(scripted / "heatmap_landmarks", ROOT / "heatmap_landmarks")
    got = run_module_file(module, scripted / f"{module}.py")
    assert got["heatmap_landmarks"] == str(scripted / "heatmap_landmarks" / "__init__.py")
    assert got["added"] == []


@pytest.mark.parametrize("module", MODULES)
def test_load_statements_reach_our_imports(module):
    statements = load_statements(module)
    assert any(s.startswith("from heatmap_landmarks") for s in statements)
    assert any(s.startswith(f"from {module}Lib") for s in statements)
