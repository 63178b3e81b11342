"""Sample Data registration and loaders, checked against Slicer's SampleData module.

Read in Slicer's Modules/Scripted/SampleData/SampleData.py:

* ``SampleDataLogic.downloadFile`` reuses a file of the same name in the
  cache when no checksum is given, and replaces it when its checksum differs:
  the cardiac phantoms (generated into Slicer's temporary folder, then copied
  into the cache) are named with the sample version and handed over with the
  SHA-256 of the generated file.
* ``loadFileType`` is deprecated in favour of ``loadFileTypes``.
* A SampleData button calls ``customDownloader(source)``; Slicer's
  ``tryWithErrorDisplay`` shows an error and then re-raises it, so the
  loaders catch it and return None.
* A category gets a (translatable) title with
  ``registerCustomSampleDataCategory(category, title=...)`` where Slicer has it.
"""
from __future__ import annotations

import ast
import hashlib
import re
import sys
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]
for _module in MODULES:
    if str(ROOT / _module) not in sys.path:
        sys.path.insert(0, str(ROOT / _module))

import heatmap_landmarks  # noqa: E402
from CardiacLandmarkGANLib import sampledata  # noqa: E402
from heatmap_landmarks import mrml  # noqa: E402
from SutureDetectionLib import sampledata as suture_sampledata  # noqa: E402

CATEGORIES = {"CardiacLandmarkGAN": (sampledata.CATEGORY, "Cardiac Landmark GAN"),
              "SutureDetection": (suture_sampledata.CATEGORY, "Suture Detection")}


def module_tree(module: str) -> ast.Module:
    return ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))


def function(tree: ast.Module, name: str) -> ast.FunctionDef:
    [found] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found


def registration_calls(module: str) -> list[ast.Call]:
    register = function(module_tree(module), "registerSampleData")
    return [n for n in ast.walk(register) if isinstance(n, ast.Call)
            and ast.unparse(n.func).endswith("registerCustomSampleDataSource")]


@pytest.fixture
def scene():
    s = mrml.new_headless_scene()
    yield s
    mrml.close_headless_scene(s)


@pytest.mark.parametrize("name", sorted(sampledata.SAMPLES))
def test_generated_file_names_carry_the_version(name, tmp_path):
    file_name = sampledata.sampleFileName(name)
    assert file_name == f"{name}-v{heatmap_landmarks.__version__}-{sampledata.SAMPLE_REVISION}.seq.nrrd"
    assert sampledata.generatedPath(name, tmp_path) == str(tmp_path / "CardiacLandmarkGAN" / file_name)


def test_loaded_source_carries_the_checksum_of_the_generated_file(scene, tmp_path):
    name = "CardiacPhantomLAXCine"
    path = sampledata.generatedPath(name, tmp_path)
    Path(path).parent.mkdir(parents=True)
    sampledata.writePhantomSequence(name, path)
    source = sampledata.sampleSource(name, path)
    algo, digest = slicer.util.extractAlgoAndDigest(source["checksums"])  # SampleData's own parser
    assert algo == "SHA256" and digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert slicer.util.computeChecksum(algo, path) == digest  # what SampleData compares a cached copy with
    assert source["fileNames"] == sampledata.sampleFileName(name) and source["loadFileTypes"] == "SequenceFile"
    assert source["uris"] == Path(path).as_uri() and source["nodeNames"] == name


def test_load_sample_hands_sample_data_the_checksummed_source():
    load = ast.unparse(function(ast.parse(Path(sampledata.__file__).read_text(encoding="utf-8")), "loadSample"))
    assert "SampleData.SampleDataSource(**sampleSource(name, path))" in load
    assert "loadFileType=" not in Path(sampledata.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize("module", MODULES)
def test_registration_uses_load_file_types(module):
    calls = registration_calls(module)
    assert calls
    for call in calls:
        keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
        assert "loadFileType" not in keywords and keywords.get("loadFileTypes") == "'SequenceFile'"
        assert keywords["customDownloader"] in ("loadCardiacPhantom", "loadSyntheticSutureVideo")
    if module == "CardiacLandmarkGAN":
        assert ast.unparse(next(k.value for k in calls[0].keywords if k.arg == "fileNames")) == \
            "sampledata.sampleFileName(name)"


@pytest.mark.parametrize("module", MODULES)
def test_category_is_registered_with_its_title_and_the_readme_names_it(module):
    key, title = CATEGORIES[module]
    assert key == title
    register = ast.unparse(function(module_tree(module), "registerSampleData"))
    assert "if hasattr(logic, 'registerCustomSampleDataCategory'):" in register
    assert f"registerCustomSampleDataCategory(" in register and f"title=_('{title}')" in register
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"*Sample Data → {title}*" in readme


@pytest.mark.parametrize("module,loader", [("CardiacLandmarkGAN", "loadCardiacPhantom"),
                                           ("SutureDetection", "loadSyntheticSutureVideo")])
def test_loaders_return_none_instead_of_raising(module, loader):
    """tryWithErrorDisplay re-raises after showing the error: the loader catches it and returns None."""
    body = function(module_tree(module), loader).body
    tries = [n for n in body if isinstance(n, ast.Try)]
    assert len(tries) == 1, "the loader's work must sit in one try block"
    [attempt] = tries
    assert any(isinstance(n, ast.With) and "tryWithErrorDisplay" in ast.unparse(n.items[0].context_expr)
               for n in attempt.body)
    [handler] = attempt.handlers
    assert ast.unparse(handler.type) == "Exception"
    assert isinstance(handler.body[-1], ast.Return) and ast.unparse(handler.body[-1].value) == "None"
    assert not any(isinstance(n, ast.Raise) for n in ast.walk(handler))
    # Nothing after the try: a `return None` after a re-raising `with` block could never run.
    assert body[-1] is attempt


def test_readme_sample_data_sections_are_spelled_as_slicer_shows_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\*Sample Data → ([^*]+)\*", readme))
    assert named == {title for _, title in CATEGORIES.values()}
