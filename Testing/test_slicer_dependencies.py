"""What the modules install inside 3D Slicer, and how their self-tests behave without those packages.

* One list of requirements, ``heatmap_landmarks/requirements.txt``, with the
  ranges of pyproject.toml; ``ensure_dependencies`` reads it and passes the
  torch range to PyTorchUtils' ``installTorch(torchVersionRequirement=...)``
  (signature read from fepegar/SlicerPyTorch, PyTorchUtils/PyTorchUtils.py).
* ctest runs a module self-test through ``slicer_add_python_unittest``:
  ``slicer.testing.runUnitTest`` loads the module's TestCase classes with
  ``unittest.TestLoader`` and runs every ``test_*`` method, never ``runTest``
  (Slicer's CMake/SlicerMacroPythonTesting.cmake, Base/Python/slicer/testing.py).
  So each Test class installs (without asking) or skips in ``setUpClass``.
* The pytest Logic tests are not registered with CTest through a system Python.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from heatmap_landmarks.slicer_module import dependencies
from heatmap_landmarks.slicer_module.dependencies import (
    PYTHON_REQUIREMENTS,
    REQUIREMENTS_FILE,
    read_requirements,
    torch_version_requirement,
)

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_requirements_file_has_the_ranges_of_pyproject():
    assert REQUIREMENTS_FILE == ROOT / "heatmap_landmarks" / "requirements.txt"
    assert sorted(read_requirements().values()) == sorted(pyproject()["project"]["dependencies"])


def test_every_requirement_names_the_module_it_provides():
    """The import names are the ones ensure_dependencies looks for (all installed in this environment)."""
    import importlib.util

    names = read_requirements()
    assert {"cv2", "torch", "safetensors", "tqdm", "scipy", "SimpleITK", "numpy"} == set(names)
    assert all(importlib.util.find_spec(name) is not None for name in names)


def test_torch_range_comes_from_the_file_and_everything_else_goes_to_pip():
    torch = next(r for r in pyproject()["project"]["dependencies"] if r.startswith("torch"))
    assert "torch" + torch_version_requirement() == torch
    assert PYTHON_REQUIREMENTS == {k: v for k, v in read_requirements().items() if k != "torch"}


def test_no_requirement_is_kept_by_hand_in_the_code():
    """Outside docstrings, dependencies.py holds no requirement string: the ranges live in the file only."""
    tree = ast.parse(Path(dependencies.__file__).read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and id(n) not in docstrings]
    names = "|".join(re.escape(r.split(">")[0].split("=")[0]) for r in read_requirements().values())
    assert not [s for s in literals if re.search(rf"({names})\s*[<>=!~]=?\s*\d", s)]


def test_torch_is_installed_with_the_range():
    tree = ast.parse(Path(dependencies.__file__).read_text(encoding="utf-8"))
    [call] = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith(".installTorch")]
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert keywords == {"askConfirmation": "False", "torchVersionRequirement": "torch_version_requirement()"}
    assert not call.args


def test_requirements_file_is_installed_with_the_package():
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "${CMAKE_CURRENT_SOURCE_DIR}/heatmap_landmarks/requirements.txt" in cmake
    assert "requirements.txt" in pyproject()["tool"]["setuptools"]["package-data"]["heatmap_landmarks"]


# -- the self-tests under ctest ------------------------------------------------------------------------

SKIP_WITHOUT_TORCH = r"""
import sys, unittest
sys.modules['torch'] = None  # as in a Slicer without the PyTorch extension's torch: find_spec -> None
from heatmap_landmarks.slicer_module.dependencies import ensure_test_dependencies, torch_version_requirement
try:
    ensure_test_dependencies('the test of the tests')
except unittest.SkipTest as err:
    text = str(err)
    assert 'the test of the tests' in text and 'torch' + torch_version_requirement() in text, text
    print('skipped:', text)
else:
    raise SystemExit('no SkipTest')
"""


def test_self_test_dependencies_skip_clearly_when_missing():
    result = subprocess.run([sys.executable, "-c", SKIP_WITHOUT_TORCH], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    assert result.stdout.startswith("skipped:")


def test_self_test_dependencies_pass_when_installed():
    assert dependencies.ensure_test_dependencies("a test") is None


@pytest.mark.parametrize("module", MODULES)
def test_test_class_installs_or_skips_before_any_test_method(module):
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == f"{module}Test"]
    holder = cls
    if not any(isinstance(n, ast.FunctionDef) and n.name == "setUpClass" for n in cls.body):
        # Inherited from the shared base, which must come first so that its setUpClass is the one unittest runs.
        assert [ast.unparse(b) for b in cls.bases][:1] == ["SelfTestCase"]
        base = ast.parse((ROOT / "heatmap_landmarks" / "slicer_module" / "selftest.py").read_text(encoding="utf-8"))
        [holder] = [n for n in base.body if isinstance(n, ast.ClassDef) and n.name == "SelfTestCase"]
    [setup] = [n for n in holder.body if isinstance(n, ast.FunctionDef) and n.name == "setUpClass"]
    assert [ast.unparse(d) for d in setup.decorator_list] == ["classmethod"]
    assert any(isinstance(n, ast.Call) and ast.unparse(n.func) == "ensure_test_dependencies" for n in ast.walk(setup))
    assert any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in cls.body)


def cmake_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("CMakeLists.txt") if ".venv" not in p.parts)


def test_no_cmake_file_runs_tests_with_a_system_python():
    assert len(cmake_files()) >= 5
    for path in cmake_files():
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        for forbidden in ("find_package(Python3", "Python3_EXECUTABLE", "PYTHON_EXECUTABLE", "-m pytest"):
            assert forbidden not in code, f"{path.relative_to(ROOT)} uses {forbidden}"
