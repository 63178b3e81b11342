"""What the Slicer Extensions Index reads from the extension: metadata URLs, contributors, licence.

No Slicer build runs in CI, so these checks stand in for the Index's review:
the icon and screenshot URLs must name files that exist in this repository
(on the branch the URLs point to), contributors are written
"Name (Organization)" like Slicer's extension template asks, and the
repository has the LICENSE.txt that the Index requires, matching the licence
in pyproject.toml.
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]
CONTRIBUTOR = r"[^(),]+ \([^()]+\)"


def cmake_setting(name: str) -> str:
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(rf'^set\({name}\s+"([^"]*)"\)', text, re.M)
    assert match, f"set({name} \"...\") not found in CMakeLists.txt"
    return match.group(1)


def repository_path(url: str) -> Path:
    """``https://raw.githubusercontent.com/<org>/<repo>/<branch>/<path>`` -> ``<path>`` in this repository."""
    homepage = re.match(r"https://github\.com/([^/]+/[^/#]+)", cmake_setting("EXTENSION_HOMEPAGE"))
    assert homepage, "EXTENSION_HOMEPAGE is not a GitHub repository URL"
    match = re.fullmatch(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/([^/]+)/(.+)", url)
    assert match, f"{url} is not a raw.githubusercontent.com URL"
    assert match.group(1) == homepage.group(1), f"{url} is not in the homepage's repository {homepage.group(1)}"
    return Path(match.group(3))


def image_urls() -> list[str]:
    return [cmake_setting("EXTENSION_ICONURL"), *cmake_setting("EXTENSION_SCREENSHOTURLS").split()]


def test_there_is_at_least_one_screenshot():
    assert cmake_setting("EXTENSION_SCREENSHOTURLS").split()


@pytest.mark.parametrize("url", image_urls())
def test_every_icon_and_screenshot_url_names_a_file_in_the_repository(url):
    path = repository_path(url)
    assert (ROOT / path).is_file(), f"{url} names {path}, which does not exist"
    assert path.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif")


def test_extension_contributors_are_name_and_organization():
    contributors = cmake_setting("EXTENSION_CONTRIBUTORS")
    assert re.fullmatch(rf"{CONTRIBUTOR}(, {CONTRIBUTOR})*", contributors), contributors


@pytest.mark.parametrize("module", MODULES)
def test_module_contributors_are_name_and_organization(module):
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    [value] = [n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
               and any(ast.unparse(t) == "self.parent.contributors" for t in n.targets)]
    names = ast.literal_eval(value)
    assert names and all(re.fullmatch(CONTRIBUTOR, n) for n in names), names


def test_license_file_matches_pyproject():
    license_text = (ROOT / "LICENSE.txt").read_text(encoding="utf-8")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]["text"]
    assert declared == "BSD-3-Clause"
    assert license_text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder nor the names of its" in license_text
