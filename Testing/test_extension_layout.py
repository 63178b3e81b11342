"""The Slicer extension's CMake files list exactly the files that exist.

No Slicer build runs in CI, so this is the check that catches a module
script or resource added without being listed (it would be missing from an
installed extension) or listed without existing (the CMake configure fails).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]


def cmake_list(text: str, variable: str, module: str) -> list[str]:
    match = re.search(rf"set\({variable}\s+(.*?)\)", text, re.S)
    assert match, f"{variable} not found"
    return [item.replace("${MODULE_NAME}", module) for item in match.group(1).split()]


def test_top_level_cmake_declares_the_extension():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r'set\(EXTENSION_DEPENDS\s+"PyTorch"\)', text)
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL"):
        assert f"set({key}" in text
    assert [m for m in MODULES if f"add_subdirectory({m})" in text] == MODULES
    assert "heatmap_landmarks/*.py" in text  # the core package is installed with the modules


def test_requested_top_level_layout():
    for name in ["CMakeLists.txt", "CardiacLandmarkGAN", "SutureDetection", "Resources", "Testing", "training",
                 "README.md", "heatmap_landmarks", "pyproject.toml"]:
        assert (ROOT / name).exists(), name
    assert (ROOT / "Resources" / "HeatmapLandmarks.png").is_file()


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_lists_every_script_and_resource(module):
    folder = ROOT / module
    text = (folder / "CMakeLists.txt").read_text(encoding="utf-8")
    scripts = cmake_list(text, "MODULE_PYTHON_SCRIPTS", module)
    resources = cmake_list(text, "MODULE_PYTHON_RESOURCES", module)
    for item in scripts + resources:
        assert (folder / item).is_file(), f"{module}/CMakeLists.txt lists missing {item}"
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.glob("*.py"))
    on_disk += sorted(str(p.relative_to(folder)) for p in (folder / f"{module}Lib").glob("*.py"))
    assert sorted(scripts) == sorted(on_disk)
    assert "slicerMacroBuildScriptedModule" in text and "slicer_add_python_unittest" in text
    assert f"Resources/UI/{module}.ui" in resources and f"Resources/Icons/{module}.png" in resources
