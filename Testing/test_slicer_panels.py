"""What the two panels decide and show, tested without Qt.

slicer-core has no Qt, so the Widgets cannot be built here. Their decisions
live in small functions (``heatmap_landmarks.slicer_module.widget``,
``heatmap_landmarks.mrml.overlays``, ``SutureDetectionLib.panel``) that these
tests call for real, with real MRML nodes where nodes are involved; static
(ast / .ui) checks make sure the Widgets call them.

* Suture fields that depend on a check box are enabled from the parameter
  node in the update method (``QCheckBoxToBoolConnector.write`` sets
  ``checked`` without a ``toggled`` signal when the value does not change,
  so a saved scene with the box already unchecked kept them greyed out).
* A saved "cuda" device is reset to "cpu" only when CUDA is known to be
  unavailable, and PyTorch is imported at the first Apply, not when the
  panel is shown.
* Path fields show an empty field for an unset path (the wrapper's
  ``pathlib.Path`` connector writes ``Path()`` as ".").
* The input selectors hide our heatmap volumes; the default input skips
  label maps and heatmaps; the opacity slider only touches views that show
  one of our heatmaps.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]
for _module in MODULES:
    if str(ROOT / _module) not in sys.path:
        sys.path.insert(0, str(ROOT / _module))

from CardiacLandmarkGANLib.logic import CardiacLandmarkGANLogic  # noqa: E402
from heatmap_landmarks import mrml  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.slicer_module import widget  # noqa: E402
from heatmap_landmarks.slicer_module.widget import path_field_text, should_reset_device  # noqa: E402
from heatmap_landmarks.testing import blob_frame, blob_points, save_identity_checkpoint  # noqa: E402
from SutureDetectionLib.panel import enabledFields  # noqa: E402

MIXIN = ast.parse(Path(widget.__file__).read_text(encoding="utf-8"))


def module_tree(module: str) -> ast.Module:
    return ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))


def method(tree: ast.AST, name: str, cls: str | None = None) -> ast.FunctionDef:
    scope = tree if cls is None else next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    [found] = [n for n in ast.walk(scope) if isinstance(n, ast.FunctionDef) and n.name == name]
    return found


def calls(node: ast.AST) -> list[str]:
    return [ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)]


def ui_widgets(module: str) -> dict[str, ET.Element]:
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    return {w.get("name"): w for w in tree.iter("widget")}


def ui_property(element: ET.Element, name: str):
    prop = next((p for p in element.findall("property") if p.get("name") == name), None)
    return None if prop is None else prop[0].text


@pytest.fixture
def scene():
    s = mrml.new_headless_scene()
    yield s
    mrml.close_headless_scene(s)


@pytest.fixture(scope="module")
def sax_card(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return save_identity_checkpoint(tmp_path_factory.mktemp("models"), "sax")


# -- item 6: suture fields enabled from the parameter node ---------------------------------------------


@pytest.mark.parametrize("shipped,automatic", [(True, True), (True, False), (False, True), (False, False)])
def test_suture_fields_follow_their_check_boxes(shipped, automatic):
    assert enabledFields(shipped, automatic) == {"weightsPathLineEdit": not shipped,
                                                  "thresholdSliderWidget": not automatic}


def test_suture_update_method_sets_the_enabled_states_from_the_parameter_node():
    update = method(module_tree("SutureDetection"), "_updateButtons", "SutureDetectionWidget")
    source = ast.unparse(update)
    assert "enabledFields(p.useShippedWeights, p.automaticThreshold)" in source
    assert ".enabled = enabled" in source
    # The mixin calls the update method whenever the parameter node changes and when one is first shown.
    assert "self._updateButtons" in calls(method(MIXIN, "onParameterNodeModified"))
    assert "self.onParameterNodeModified" in calls(method(MIXIN, "setParameterNode"))


def test_suture_ui_leaves_those_fields_to_the_update_method():
    widgets = ui_widgets("SutureDetection")
    text = (ROOT / "SutureDetection" / "Resources" / "UI" / "SutureDetection.ui").read_text(encoding="utf-8")
    for name in enabledFields(True, True):
        assert name in widgets, name
        assert ui_property(widgets[name], "enabled") is None, f"{name}: enabled is set in the .ui"
        assert f"<receiver>{name}</receiver>" not in text, f"{name}: a .ui connection sets it too"


# -- item 7: the saved device choice, and torch only at the first Apply ------------------------------------


@pytest.mark.parametrize("device,cuda,reset", [("cuda", None, False), ("cuda", False, True), ("cuda", True, False),
                                               ("cpu", None, False), ("cpu", False, False)])
def test_device_is_reset_only_when_cuda_is_known_to_be_missing(device, cuda, reset):
    assert should_reset_device(device, cuda) is reset


def test_update_device_choices_uses_that_rule_and_does_not_import_torch_by_default():
    update = method(MIXIN, "updateDeviceChoices")
    assert "should_reset_device" in calls(update)
    assert "bool(self._cudaAvailable)" not in ast.unparse(update)
    defaults = {a.arg: ast.literal_eval(d) for a, d in zip(update.args.args[-len(update.args.defaults):],
                                                              update.args.defaults)}
    assert defaults == {"check": False}


def test_only_apply_asks_for_the_torch_import():
    """enter()/setParameterNode() never pass check=True; runCancellable does, after ensure_dependencies."""
    for name in ("enter", "setParameterNode", "setupPanel", "initializeParameterNode"):
        assert "check=True" not in ast.unparse(method(MIXIN, name)), name
    run = ast.unparse(method(MIXIN, "runCancellable"))
    assert run.index("ensure_dependencies(") < run.index("self.updateDeviceChoices(check=True)")


CUDA_CHECK = r"""
import sys
from heatmap_landmarks.slicer_module.widget import cuda_available
assert 'torch' not in sys.modules
assert cuda_available(import_torch=False) is None and 'torch' not in sys.modules
answer = cuda_available()
assert answer in (True, False) and 'torch' in sys.modules
assert cuda_available(import_torch=False) is answer  # once imported, asking is free
print('ok')
"""


def test_cuda_check_imports_torch_only_when_asked():
    result = subprocess.run([sys.executable, "-c", CUDA_CHECK], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# -- path fields: empty when unset ---------------------------------------------------------------------


@pytest.mark.parametrize("value,text", [("", ""), (".", ""), (Path(), ""), (None, ""),
                                        ("w/card.json", "w/card.json"), (Path("/a/b.json"), "/a/b.json")])
def test_an_unset_path_shows_as_an_empty_field(value, text):
    assert path_field_text(value) == text


def class_assignments(tree: ast.Module, cls: str) -> dict[str, ast.expr]:
    [node] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    out = {}
    for n in node.body:
        if isinstance(n, ast.Assign):
            out.update({ast.unparse(t): n.value for t in n.targets})
        elif isinstance(n, ast.AnnAssign):
            out[ast.unparse(n.target)] = n
    return out


@pytest.mark.parametrize("module", MODULES)
def test_every_path_field_is_kept_in_step_by_the_mixin(module):
    tree = module_tree(module)
    path_fields = ast.literal_eval(class_assignments(tree, f"{module}Widget")["pathFields"])
    parameters = class_assignments(tree, f"{module}ParameterNode")
    widgets = ui_widgets(module)
    path_edits = {name for name, w in widgets.items() if w.get("class") == "ctkPathLineEdit"}
    assert set(path_fields) == path_edits
    for name, parameter in path_fields.items():
        assert ui_property(widgets[name], "SlicerParameterName") is None, f"{name} is bound by connectGui too"
        field = parameters[parameter]
        assert ast.unparse(field.annotation) == "str" and ast.literal_eval(field.value) == "", ast.unparse(field)
    assert "path_field_text" in calls(method(MIXIN, "updatePathFields"))
    assert "self.updatePathFields" in calls(method(MIXIN, "onParameterNodeModified"))


# -- heatmaps are ours: hidden from the input selector, skipped as default, opacity guard -------------------


def test_selector_filter_hides_the_heatmaps_as_they_appear():
    setup = ast.unparse(method(MIXIN, "setupPanel"))
    for event in ("NodeAddedEvent", "EndImportEvent"):
        assert f"slicer.mrmlScene.{event}, self.updateInputSelectorFilter" in setup, event
    update = ast.unparse(method(MIXIN, "updateInputSelectorFilter"))
    assert "heatmap_node_ids(" in update and "hiddenNodeIDs = hidden" in update
    assert "self.updateInputSelectorFilter" in calls(method(MIXIN, "runCancellable"))


def test_cardiac_heatmaps_are_listed_for_hiding_and_the_input_is_not(scene, sax_card):
    frame = blob_frame((64, 64), list(blob_points("sax").values()))
    geometry = Geometry(spacing=(1.0, 1.0, 8.0))
    volume = mrml.volume_node_from_array(frame[None], geometry, "Slice", scene=scene)
    single = CardiacLandmarkGANLogic().detect(volume, view="sax", weights=str(sax_card))
    _, browser, proxy = mrml.sequence_from_frames([(np.stack([frame, frame]), geometry)] * 3, "Cine", scene=scene)
    cine = CardiacLandmarkGANLogic().detect(proxy, view="sax", weights=str(sax_card))
    for t in range(3):  # the cine's heatmap proxy stays marked whatever frame it shows
        browser.SetSelectedItemNumber(t)
        hidden = mrml.heatmap_node_ids(scene)
        assert hidden == [single.heatmapNode.GetID(), cine.heatmapNode.GetID()]
        assert volume.GetID() not in hidden and proxy.GetID() not in hidden


def test_suture_heatmaps_are_listed_for_hiding(scene, tmp_path):
    from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector

    from SutureDetectionLib.logic import SutureDetectionLogic

    detector = make_spot_detector(tmp_path)
    frames = np.stack([draw_spot_frame((37, 61), [[10.0, 10.0]], dtype=np.uint8)] * 2)
    _, _, proxy = mrml.sequence_from_frames(frames, "video", geometry=Geometry())
    result = SutureDetectionLogic().detect(proxy, weights=detector, showResults=False)
    assert mrml.heatmap_node_ids(scene) == [result.heatmapNode.GetID()]


def test_default_input_skips_label_maps_and_heatmaps(scene):
    g = Geometry()
    mrml.volume_node_from_array(np.zeros((1, 4, 4), np.uint8), g, "Labels", scene=scene,
                                node_class="vtkMRMLLabelMapVolumeNode")
    mrml.mark_heatmap(mrml.volume_node_from_array(np.zeros((1, 4, 4), np.float32), g, "Heatmap", scene=scene))
    assert mrml.first_input_volume("vtkMRMLScalarVolumeNode", scene) is None
    image = mrml.volume_node_from_array(np.zeros((1, 4, 4), np.float32), g, "Image", scene=scene)
    colour = mrml.volume_node_from_array(np.zeros((1, 4, 4, 3), np.uint8), g, "Frame", scene=scene)
    assert mrml.first_input_volume("vtkMRMLScalarVolumeNode", scene) is image
    assert mrml.first_input_volume("vtkMRMLVectorVolumeNode", scene) is colour


@pytest.mark.parametrize("module,cls", [("CardiacLandmarkGAN", "vtkMRMLScalarVolumeNode"),
                                        ("SutureDetection", "vtkMRMLVectorVolumeNode")])
def test_widgets_preselect_through_first_input_volume(module, cls):
    source = ast.unparse(method(module_tree(module), "defaultInputNode", f"{module}Widget"))
    assert f"first_input_volume('{cls}', slicer.mrmlScene)" in source


def test_opacity_slider_leaves_views_without_our_heatmap_alone(scene, sax_card):
    g = Geometry(spacing=(1.0, 1.0, 8.0))
    image = mrml.volume_node_from_array(blob_frame((64, 64), list(blob_points("sax").values()))[None], g, "Image",
                                        scene=scene)
    other = mrml.volume_node_from_array(np.zeros((1, 64, 64), np.float32), g, "User overlay", scene=scene)
    composites = [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
                  for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]
    for node in composites:
        node.SetForegroundVolumeID(other.GetID())
        node.SetForegroundOpacity(0.8)
    logic = CardiacLandmarkGANLogic()
    assert logic.setOverlayOpacity(0.3) == 0
    assert all(node.GetForegroundOpacity() == pytest.approx(0.8) for node in composites)
    logic.detect(image, view="sax", weights=str(sax_card))
    assert logic.setOverlayOpacity(0.3) == len(composites)
    assert all(node.GetForegroundOpacity() == pytest.approx(0.3) for node in composites)
