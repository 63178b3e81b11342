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
* the lazy CUDA check: PyTorch is imported when the panel is first shown,
  never when Slicer loads the module, and the device combo box offers "cuda"
  only when PyTorch sees a GPU.

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

import os
from typing import Any, Callable, Optional

import slicer
import vtk

from .dependencies import ensure_dependencies, torch_available
from .tables import show_table

__all__ = ["HeatmapModuleWidgetMixin", "cuda_available", "path_or_none", "progress_percent"]


def path_or_none(path) -> Optional[str]:
    """A ``pathlib.Path`` parameter as text, or None when unset (the wrapper stores an empty path as ``"."``).

    >>> import pathlib
    >>> path_or_none(pathlib.Path("")), path_or_none(None), path_or_none(pathlib.Path("w/card.json"))
    (None, None, 'w/card.json')
    """
    text = os.fspath(path) if path is not None else ""
    return None if text in ("", ".") else text


def progress_percent(fraction: float) -> int:
    """A progress fraction in [0, 1] as the progress bar's whole percent.

    >>> progress_percent(0.0), progress_percent(0.426), progress_percent(1.0)
    (0, 43, 100)
    """
    return int(round(100 * fraction))


def cuda_available() -> Optional[bool]:
    """Whether PyTorch sees a CUDA GPU; None when PyTorch is not installed (yet), so callers ask again later.

    Importing torch takes seconds, so this is called when a panel is shown,
    not when Slicer loads the module.

    >>> cuda_available() in (None, True, False)
    True
    """
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
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens the module: make sure a parameter node exists and is shown."""
        self.initializeParameterNode()
        self.updateDeviceChoices()

    def exit(self) -> None:
        """Called each time the user leaves the module: stop updating the GUI from the parameter node."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self.updateDeviceChoices(check=False)
        self._updateButtons()

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
    def updateDeviceChoices(self, check: bool = True) -> None:
        """Offer "cuda" in the device combo box only when PyTorch sees a GPU; fall back to "cpu" otherwise.

        ``check=False`` uses what is known already (no torch import): the
        parameter node may be set before the panel is ever shown.
        """
        if self.deviceComboBoxName is None:
            return
        if check and self._cudaAvailable is None:
            self._cudaAvailable = cuda_available()
        available = bool(self._cudaAvailable)
        combo = getattr(self.ui, self.deviceComboBoxName)
        index = combo.findText("cuda")
        if index >= 0:
            item = combo.model().item(index)
            if item is not None:
                item.setEnabled(available)
                item.setToolTip("" if available
                                else _tr("No CUDA GPU visible to PyTorch (or PyTorch is not installed)"))
        if not available and self._parameterNode and self._parameterNode.device == "cuda":
            self._parameterNode.device = "cpu"

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
            done(result)

    @staticmethod
    def showTable(tableNode) -> None:
        """Show ``tableNode`` in a table view, switching to a layout with one first (:func:`.tables.show_table`)."""
        show_table(tableNode)
