"""Tests of heatmap_landmarks/slicer_module/widget.py, the Widget behaviour both modules share.

slicer-core has no Qt, so the module Widgets cannot be built here: these
tests check that the mixin imports without Qt, its pure helpers, its run
loop and Apply-button logic on plain stand-ins for the few Qt widgets it
touches, and, statically, that both module Widgets use it correctly (base
order, hooks, every ``self.ui`` name present in their .ui file).
"""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from heatmap_landmarks.inference import Cancelled
from heatmap_landmarks.slicer_module import widget
from heatmap_landmarks.slicer_module.widget import (
    HeatmapModuleWidgetMixin,
    cuda_available,
    path_or_none,
    progress_percent,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]


# -- importable without Qt ---------------------------------------------------------------------

NO_QT = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'qt', 'ctk'}:
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
import slicer
assert not hasattr(slicer, 'app'), 'expected slicer-core, which has no slicer.app'
from heatmap_landmarks.slicer_module.widget import HeatmapModuleWidgetMixin
print('ok', HeatmapModuleWidgetMixin.__name__)
"""


def test_imports_on_slicer_core_without_qt():
    result = subprocess.run([sys.executable, "-c", NO_QT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok HeatmapModuleWidgetMixin"


def test_source_never_imports_qt_or_ctk():
    tree = ast.parse(pathlib.Path(widget.__file__).read_text(encoding="utf-8"))
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not names & {"qt", "ctk"}, names


# -- pure helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value,expected", [
    (None, None), ("", None), (pathlib.Path(""), None), (pathlib.Path("."), None),
    (pathlib.Path("w/card.json"), "w/card.json"), ("/abs/x.safetensors", "/abs/x.safetensors"),
])
def test_path_or_none(value, expected):
    assert path_or_none(value) == expected


@pytest.mark.parametrize("fraction,expected", [(0.0, 0), (0.004, 0), (0.5, 50), (0.996, 100), (1.0, 100)])
def test_progress_percent(fraction, expected):
    assert progress_percent(fraction) == expected


def test_cuda_available_matches_torch():
    import torch

    assert cuda_available() is torch.cuda.is_available()


# -- run loop and Apply button on stand-ins for the Qt widgets ----------------------------------


class _ProgressBar:
    def __init__(self):
        self.value, self.visible, self.format = -1, False, ""

    def setVisible(self, visible):
        self.visible = visible

    def setFormat(self, text):
        self.format = text


class _Panel(HeatmapModuleWidgetMixin):
    """The mixin with the hooks a module Widget provides; records what the user would see."""

    def __init__(self, hasInput=True):
        self.ui = SimpleNamespace(progressBar=_ProgressBar(), applyButton=SimpleNamespace(),
                                  box=SimpleNamespace(enabled=True))
        self.logic = SimpleNamespace(cancelled=0)
        self.logic.cancel = lambda: setattr(self.logic, "cancelled", self.logic.cancelled + 1)
        self._parameterNode = SimpleNamespace(inputVolume=object() if hasInput else None)
        self.messages, self.buttonStates = [], []

    def _updateButtons(self, caller=None, event=None):
        self.updateApplyButton(text="Detect", toolTip="run", noInputToolTip="pick an input", cancelToolTip="stop",
                               lockWhileRunning=(self.ui.box,))
        self.buttonStates.append((self.ui.applyButton.text, self.ui.applyButton.enabled, self.ui.box.enabled,
                                  self.ui.progressBar.visible))

    def showProgressMessage(self, message):
        self.messages.append(("progress", message))

    def showResultMessage(self, message):
        self.messages.append(("result", message))

    def run(self, work):
        shown = []
        self.runCancellable(work, shown.append, errorMessage="failed", purpose="a test", waitCursor=False)
        return shown


def test_run_shows_cancel_while_running_then_the_result():
    panel = _Panel()
    seen_while_running = []

    def work():
        seen_while_running.append((panel._running, panel.ui.applyButton.text, panel.ui.progressBar.visible))
        return "result"

    assert panel.run(work) == ["result"]
    assert seen_while_running == [(True, "Cancel", True)]
    assert panel.buttonStates == [("Cancel", True, False, True), ("Detect", True, True, False)]
    assert not panel._running and panel.ui.progressBar.value == 0 and panel.messages == []


def test_cancelled_run_shows_a_message_and_no_result():
    panel = _Panel()

    def work():
        raise Cancelled()

    assert panel.run(work) == []
    assert panel.messages == [("result", "Cancelled; nothing was added to the scene.")]
    assert not panel._running and not panel.ui.progressBar.visible and panel.ui.applyButton.text == "Detect"


def test_failed_run_resets_the_panel_and_raises():
    panel = _Panel()

    def work():
        raise ValueError("bad input")

    with pytest.raises(Exception) as info:
        panel.run(work)
    # In Slicer tryWithErrorDisplay shows the error and re-raises it; slicer-core's has no slicer.app for
    # the dialog and fails while handling it, so the ValueError is the context there.
    assert "bad input" in str(info.value) + str(info.value.__context__)
    assert not panel._running and not panel.ui.progressBar.visible and panel.ui.box.enabled


def test_apply_while_running_cancels_instead_of_starting_again():
    panel = _Panel()
    panel._running = True
    assert panel.run(lambda: pytest.fail("must not start a second run")) == []
    assert panel.logic.cancelled == 1 and panel.messages == [("progress", "Cancelling...")]


@pytest.mark.parametrize("hasInput,running,expected", [
    (True, False, ("Detect", "run", True, True)),
    (False, False, ("Detect", "pick an input", False, True)),
    (True, True, ("Cancel", "stop", True, False)),
])
def test_apply_button_states(hasInput, running, expected):
    panel = _Panel(hasInput=hasInput)
    panel._running = running
    panel._updateButtons()
    button = panel.ui.applyButton
    assert (button.text, button.toolTip, button.enabled, panel.ui.box.enabled) == expected


def test_no_device_combo_box_means_no_cuda_check():
    panel = _Panel()  # deviceComboBoxName is None: nothing is imported or looked up
    panel.updateDeviceChoices()
    assert panel._cudaAvailable is None


# -- the module Widgets use the mixin correctly (static: their files need Qt to import) ----------


def _ui_names(module: str) -> set[str]:
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    return {w.get("name") for w in tree.iter("widget")}


def _widget_class(module: str) -> ast.ClassDef:
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == f"{module}Widget"]
    return cls


def _self_ui_names(tree: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)
            and n.value.attr == "ui" and isinstance(n.value.value, ast.Name) and n.value.value.id == "self"}


@pytest.mark.parametrize("module", MODULES)
def test_module_widget_puts_the_mixin_before_the_slicer_base(module):
    bases = [ast.unparse(b) for b in _widget_class(module).bases]
    # ScriptedLoadableModuleWidget.cleanup is a no-op that would hide the mixin's if it came first.
    assert bases == ["HeatmapModuleWidgetMixin", "ScriptedLoadableModuleWidget", "VTKObservationMixin"]


@pytest.mark.parametrize("module", MODULES)
def test_module_widget_provides_the_hooks_and_parameter_node_class(module):
    cls = _widget_class(module)
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert {"setup", "_updateButtons", "showProgressMessage", "showResultMessage", "onApplyButton"} <= methods
    assigned = {t.id: ast.unparse(n.value) for n in cls.body if isinstance(n, ast.Assign) for t in n.targets}
    assert assigned["parameterNodeClass"] == f"{module}ParameterNode"
    device = assigned.get("deviceComboBoxName")
    assert device is None or ast.literal_eval(device) in _ui_names(module)


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_name_used_exists_in_the_ui_file(module):
    used = _self_ui_names(ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8")))
    used |= _self_ui_names(ast.parse(pathlib.Path(widget.__file__).read_text(encoding="utf-8")))
    assert {"applyButton", "progressBar"} <= used
    assert used <= _ui_names(module), sorted(used - _ui_names(module))
