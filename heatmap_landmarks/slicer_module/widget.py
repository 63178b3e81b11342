"""What the module panels (CardiacLandmarkGAN, SutureDetection) do alike: one home for it.

:class:`HeatmapModuleWidgetMixin` holds the Widget behaviour both modules
share, so each module file keeps only its own parts (parameter-node class,
.ui file, what Apply runs and how results are shown):

* the parameter-node lifecycle of Slicer's scripted-module template
  (``enter``/``exit``/``cleanup``, scene close, ``initializeParameterNode``,
  ``setParameterNode`` with ``connectGui``);
* the run loop: install missing packages on first use, Apply becomes Cancel
  while a run is going, a progress bar, ``slicer.app.processEvents()`` between
  batches so the Cancel click gets through, and a cancelled run adds nothing;
* the lazy CUDA check: PyTorch is imported at the first Apply (after the
  missing packages are installed), never when Slicer loads the module or the
  panel is shown; until then a saved "cuda" choice is kept, and afterwards the
  device combo box offers "cuda" only when PyTorch sees a GPU;
* path fields (``ctkPathLineEdit``) kept in step with ``str`` parameters by
  hand (:attr:`HeatmapModuleWidgetMixin.pathFields`): the wrapper's
  ``pathlib.Path`` connector writes an unset path as ".";
* the input selector never lists our own heatmap volumes.

The mixin goes FIRST in the Widget's bases,
``class XWidget(HeatmapModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin)``,
because ``ScriptedLoadableModuleWidget`` has a no-op ``cleanup`` that would
otherwise hide the mixin's. The Widget provides ``self.ui`` (from its .ui
file, which must have ``applyButton`` and ``progressBar``), ``self.logic``
(with ``getParameterNode()`` and ``cancel()``), :attr:`parameterNodeClass` and
the hooks ``_updateButtons``, :meth:`showProgressMessage` and
:meth:`showResultMessage`.

Only ``slicer``/``vtk`` are imported here; Qt is reached through the Widget's
own objects, so this file also imports on slicer-core (CI), which has no Qt.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, Optional

import slicer
import vtk

from ..mrml.overlays import heatmap_node_ids
from ..mrml.tables import show_table
from .dependencies import ensure_dependencies, torch_available

__all__ = ["HeatmapModuleWidgetMixin", "cuda_available", "path_field_text", "path_or_none", "progress_percent",
           "should_reset_device"]


def path_or_none(path) -> Optional[str]:
    """A ``pathlib.Path`` parameter as text, or None when unset (the wrapper stores an empty path as ``"."``).

    >>> import pathlib
    >>> path_or_none(pathlib.Path("")), path_or_none(None), path_or_none(pathlib.Path("w/card.json"))
    (None, None, 'w/card.json')
    """
    text = os.fspath(path) if path is not None else ""
    return None if text in ("", ".") else text


def path_field_text(value) -> str:
    """What a path field shows for a path parameter: empty when unset (also for the "." of older scenes).

    >>> import pathlib
    >>> path_field_text(""), path_field_text("."), path_field_text(pathlib.Path()), path_field_text("w/card.json")
    ('', '', '', 'w/card.json')
    """
    return path_or_none(value) or ""


def should_reset_device(device: str, cuda: Optional[bool]) -> bool:
    """Whether a "cuda" device choice must fall back to "cpu": only when CUDA is known to be unavailable.

    ``cuda`` is :func:`cuda_available`'s answer; None (PyTorch not checked yet) keeps the choice.

    >>> should_reset_device("cuda", False), should_reset_device("cuda", None), should_reset_device("cuda", True)
    (True, False, False)
    >>> should_reset_device("cpu", False)
    False
    """
    return device == "cuda" and cuda is False


def progress_percent(fraction: float) -> int:
    """A progress fraction in [0, 1] as the progress bar's whole percent.

    >>> progress_percent(0.0), progress_percent(0.426), progress_percent(1.0)
    (0, 43, 100)
    """
    return int(round(100 * fraction))


def cuda_available(*, import_torch: bool = True) -> Optional[bool]:
    """Whether PyTorch sees a CUDA GPU; None when that is not known (yet), so callers ask again later.

    None when PyTorch is not installed, or when ``import_torch`` is False and
    nothing has imported torch yet: importing it takes seconds and freezes the
    GUI, so the panels ask with ``import_torch=True`` only at the first Apply.

    >>> cuda_available() in (None, True, False)
    True
    """
    if not import_torch and "torch" not in sys.modules:
        return None
    if not torch_available():
        return None
    import torch

    return bool(torch.cuda.is_available())


def _tr(text: str) -> str:
    """Translate a text shown by the mixin (slicer-core has no ``slicer.i18n``: untranslated there)."""
    try:
        from slicer.i18n import translate
    except ImportError:
        return text
    return translate("HeatmapModuleWidget", text)


class HeatmapModuleWidgetMixin:
    """Parameter-node lifecycle, cancellable runs and the CUDA check of a module Widget (see the module docstring)."""

    #: The module's ``@parameterNodeWrapper`` class; it must have an ``inputVolume`` field.
    parameterNodeClass: Any = None
    #: Name in ``self.ui`` of the QComboBox with the "cpu"/"cuda" choices whose "cuda" entry is
    #: enabled only when PyTorch sees a GPU; None leaves the combo box alone.
    deviceComboBoxName: Optional[str] = None
    #: ``self.ui`` name of a ``ctkPathLineEdit`` -> the ``str`` parameter it edits. These widgets have no
    #: SlicerParameterName: the mixin keeps them in step (an unset path shows as an empty field).
    pathFields: dict = {}

    # Class-level defaults, so that they exist even when ScriptedLoadableModuleWidget.__init__ calls
    # setup() itself (a Widget made without a parent) before the subclass __init__ goes on.
    logic: Any = None
    _parameterNode: Any = None
    _parameterNodeGuiTag: Any = None
    _running: bool = False
    _cudaAvailable: Optional[bool] = None  # None: not known yet

    # -- set-up and the template's lifecycle ---------------------------------------
    def setupPanel(self, uiFileName: str, logic) -> None:
        """Load ``Resources/UI/<uiFileName>`` into the panel, keep ``logic`` and observe scene closing.

        Call from ``setup()`` after ``ScriptedLoadableModuleWidget.setup(self)``;
        connects ``applyButton`` to ``onApplyButton``.
        """
        uiWidget = slicer.util.loadUI(self.resourcePath(f"UI/{uiFileName}"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.progressBar.setVisible(False)

        self.logic = logic

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        # Our heatmaps are volumes too: keep them out of the input selector as they appear (or a scene loads).
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAddedEvent, self.updateInputSelectorFilter)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.updateInputSelectorFilter)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        for widgetName, parameterName in self.pathFields.items():
            getattr(self.ui, widgetName).connect(
                "currentPathChanged(QString)", lambda path, name=parameterName: self.onPathEdited(name, path))
        self.updateInputSelectorFilter()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens the module: make sure a parameter node exists and is shown.

        PyTorch is not imported here (see :meth:`updateDeviceChoices`).
        """
        self.initializeParameterNode()
        self.updateDeviceChoices()
        self.updateInputSelectorFilter()

    def exit(self) -> None:
        """Called each time the user leaves the module: stop updating the GUI from the parameter node."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        self.updateInputSelectorFilter()  # the closed scene's heatmap IDs must not hide new nodes
        if self.parent.isEntered:  # the module is shown: give it a new parameter node right away
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Wrap the Logic's parameter node; an unset input gets :meth:`defaultInputNode`."""
        self.setParameterNode(self.parameterNodeClass(self.logic.getParameterNode()))
        if not self._parameterNode.inputVolume:
            node = self.defaultInputNode()
            if node:
                self._parameterNode.inputVolume = node

    def defaultInputNode(self):
        """The node to preselect as input in a new scene; None keeps it empty."""
        return None

    def setParameterNode(self, inputParameterNode) -> None:
        """Show ``inputParameterNode`` (a :attr:`parameterNodeClass` instance or None) in the GUI and observe it."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self.updateDeviceChoices()
        self.onParameterNodeModified()

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        """The parameter node changed (or a new one is shown): update what the connectors do not."""
        self.updatePathFields()
        self._updateButtons()

    # -- path fields -----------------------------------------------------------------
    def updatePathFields(self) -> None:
        """Show each :attr:`pathFields` parameter in its field ("" and "." as an empty field)."""
        if not self._parameterNode:
            return
        for widgetName, parameterName in self.pathFields.items():
            widget = getattr(self.ui, widgetName)
            text = path_field_text(getattr(self._parameterNode, parameterName))
            if widget.currentPath != text:
                widget.currentPath = text

    def onPathEdited(self, parameterName: str, path: str) -> None:
        """A path field changed: store its text in the parameter node (empty = unset)."""
        if self._parameterNode and getattr(self._parameterNode, parameterName) != path:
            setattr(self._parameterNode, parameterName, path)

    # -- input selector ----------------------------------------------------------------
    def updateInputSelectorFilter(self, caller=None, event=None) -> None:
        """Hide our heatmap volumes (:func:`heatmap_landmarks.mrml.heatmap_node_ids`) from the input selector."""
        selector = getattr(getattr(self, "ui", None), "inputSelector", None)
        if selector is None or getattr(slicer, "mrmlScene", None) is None:
            return
        hidden = heatmap_node_ids(slicer.mrmlScene)
        proxyModel = selector.sortFilterProxyModel()
        if list(proxyModel.hiddenNodeIDs) != hidden:
            proxyModel.hiddenNodeIDs = hidden

    # -- hooks the Widget provides ------------------------------------------------
    def _updateButtons(self, caller=None, event=None) -> None:
        """Enable/disable the panel's buttons (also the parameter node's ModifiedEvent observer)."""
        raise NotImplementedError(f"{type(self).__name__} must define _updateButtons")

    def showProgressMessage(self, message: str) -> None:
        """Show what a running job is doing (also "Cancelling...")."""
        raise NotImplementedError(f"{type(self).__name__} must define showProgressMessage")

    def showResultMessage(self, message: str) -> None:
        """Show how a run ended when it did not produce a result (e.g. cancelled)."""
        raise NotImplementedError(f"{type(self).__name__} must define showResultMessage")

    # -- device ----------------------------------------------------------------------
    def updateDeviceChoices(self, check: bool = False) -> bool:
        """Offer "cuda" only when PyTorch sees a GPU; a "cuda" choice falls back to "cpu" only when it does not.

        ``check=True`` imports PyTorch if nothing has yet (seconds: only at the
        first Apply); otherwise what is known is used, and while CUDA is not
        known (None) the "cuda" entry and a saved "cuda" choice are kept.

        Returns:
            True when a "cuda" choice was changed to "cpu".
        """
        if self.deviceComboBoxName is None:
            return False
        if self._cudaAvailable is None:
            self._cudaAvailable = cuda_available(import_torch=check)
        cuda = self._cudaAvailable
        combo = getattr(self.ui, self.deviceComboBoxName)
        index = combo.findText("cuda")
        if index >= 0:
            item = combo.model().item(index)
            if item is not None:
                item.setEnabled(cuda is not False)
                item.setToolTip(_tr("CUDA is checked when detection first runs") if cuda is None
                                else "" if cuda else _tr("No CUDA GPU visible to PyTorch"))
        if self._parameterNode and should_reset_device(self._parameterNode.device, cuda):
            self._parameterNode.device = "cpu"
            return True
        return False

    # -- running ---------------------------------------------------------------------
    def hasInput(self) -> bool:
        return bool(self._parameterNode and self._parameterNode.inputVolume)

    def updateApplyButton(self, *, text: str, toolTip: str, noInputToolTip: str, cancelToolTip: str,
                          lockWhileRunning=()) -> None:
        """The Apply button: ``text`` when idle (enabled with an input), "Cancel" while running.

        ``lockWhileRunning`` widgets (e.g. the parameter boxes) are disabled during a run.
        """
        if self._running:
            self.ui.applyButton.text = _tr("Cancel")
            self.ui.applyButton.toolTip = cancelToolTip
            self.ui.applyButton.enabled = True
        else:
            hasInput = self.hasInput()
            self.ui.applyButton.text = text
            self.ui.applyButton.toolTip = toolTip if hasInput else noInputToolTip
            self.ui.applyButton.enabled = hasInput
        for widget in lockWhileRunning:
            widget.enabled = not self._running

    def onProgress(self, fraction: float, message: str) -> None:
        """``progressCallback`` for the Logic: progress bar, message, and a chance for Qt to handle clicks."""
        self.ui.progressBar.value = progress_percent(fraction)
        self.showProgressMessage(message)
        slicer.app.processEvents()  # lets the Cancel click through

    def runCancellable(self, work: Callable[[], Any], done: Callable[[Any], None], *, errorMessage: str,
                       purpose: str, waitCursor: bool = False) -> None:
        """Apply-becomes-Cancel: run ``work()`` with a progress bar, or cancel the run going on.

        Missing packages are installed first (after asking; ``purpose`` names
        the task in that dialog). ``work`` gets its progress through
        :meth:`onProgress`; if it raises ``heatmap_landmarks.inference.Cancelled``
        the run ends quietly with a message, else ``done(result)`` shows the
        result. Any other error is shown as ``errorMessage`` with the details.
        """
        if self._running:  # the button reads "Cancel" now
            self.logic.cancel()
            self.showProgressMessage(_tr("Cancelling..."))
            return
        with slicer.util.tryWithErrorDisplay(errorMessage, waitCursor=waitCursor):
            if not ensure_dependencies(purpose=purpose):
                return
            from heatmap_landmarks.inference import Cancelled  # imports OpenCV: only after the check above

            if self.updateDeviceChoices(check=True):  # the first Apply imports PyTorch, here
                logging.warning("No CUDA GPU is visible to PyTorch: running on the CPU")

            self._running = True
            self.ui.progressBar.value = 0
            self.ui.progressBar.setVisible(True)
            self._updateButtons()
            try:
                result = work()
            except Cancelled:
                self.showResultMessage(_tr("Cancelled; nothing was added to the scene."))
                return
            finally:
                self._running = False
                self.ui.progressBar.setVisible(False)
                self._updateButtons()
                self.updateInputSelectorFilter()
            done(result)

    @staticmethod
    def showTable(tableNode) -> None:
        """Show ``tableNode`` in a table view, in a layout that has one (:func:`heatmap_landmarks.mrml.show_table`)."""
        show_table(tableNode)
