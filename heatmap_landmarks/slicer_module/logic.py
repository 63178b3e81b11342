"""What every module Logic shares: base class and parameter node, transactions, progress, cancelling.

Inside 3D Slicer a module Logic derives from
``slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic``. slicer-core
(CI, the CLI) has no scripted-module framework, so :func:`logic_base_class`
returns :class:`HeadlessModuleLogic` there, which provides the one method our
Logic classes use from the base, ``getParameterNode()``, the same way Slicer
does (a singleton ``vtkMRMLScriptedModuleNode`` tagged with the module name).

:class:`SceneTransaction` makes a Logic call all-or-nothing: nodes added to
the scene inside the ``with`` block are removed again if it raises, so a bad
input or a cancel never leaves partial nodes behind. :class:`CancelWhenGone`
cancels a run whose scene is closed or whose input is deleted while it runs
(the panels process GUI events between batches, so both can happen).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import slicer
import vtk

from ..mrml.scene import ensure_scene


class HeadlessModuleLogic:
    """Stand-in base for module Logic on slicer-core (no ScriptedLoadableModule).

    Mirrors ``ScriptedLoadableModuleLogic``: ``moduleName`` is the class name
    without its ``Logic`` suffix and the parameter node is a scene singleton.
    """

    def __init__(self, parent=None):
        name = type(self).__name__
        self.moduleName = name[: -len("Logic")] if name.endswith("Logic") else name
        self.parent = parent

    def getParameterNode(self):
        scene = ensure_scene()
        node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node:
            return node
        node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        node.SetSingletonTag(self.moduleName)
        node.SetName(scene.GenerateUniqueName(self.moduleName))
        node.SetModuleName(self.moduleName)
        return scene.AddNode(node)


def logic_base_class():
    """``ScriptedLoadableModuleLogic`` inside Slicer, :class:`HeadlessModuleLogic` on slicer-core."""
    try:
        from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic
    except ImportError:
        return HeadlessModuleLogic
    return ScriptedLoadableModuleLogic


class SceneTransaction:
    """Remove every node added to ``scene`` inside the block if the block raises.

    >>> from heatmap_landmarks.mrml import new_headless_scene
    >>> scene = new_headless_scene()
    >>> before = scene.GetNumberOfNodes()
    >>> try:
    ...     with SceneTransaction(scene):
    ...         _ = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    ...         raise ValueError("bad input")
    ... except ValueError:
    ...     pass
    >>> scene.GetNumberOfNodes() == before
    True
    """

    def __init__(self, scene=None):
        self.scene = scene or ensure_scene()
        self.added: list = []
        self._tag = None

    def _on_added(self, caller, event, calldata):
        self.added.append(calldata)

    _on_added.CallDataType = vtk.VTK_OBJECT

    def __enter__(self) -> "SceneTransaction":
        self._tag = self.scene.AddObserver(self.scene.NodeAddedEvent, self._on_added)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.scene.RemoveObserver(self._tag)
        if exc_type is not None:
            for node in reversed(self.added):
                if node is not None and self.scene.IsNodePresent(node):
                    self.scene.RemoveNode(node)
            logging.info("Rolled back %d node(s) after %s", len(self.added), exc_type.__name__)
        return False


class Progress:
    """Progress reporting and cancellation for long Logic calls.

    ``callback(fraction in [0, 1], message)`` is what the Widget connects to a
    progress bar (and the CLI to tqdm). ``cancel()`` is checked between batches
    by :class:`heatmap_landmarks.inference.Predictor` via ``should_cancel``,
    and by the Logic itself (:meth:`check`) before it adds its results.
    """

    def __init__(self, callback: Optional[Callable[[float, str], None]] = None):
        self.callback = callback
        self.cancelled = False
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        if not self.cancelled:
            self.reason = reason
        self.cancelled = True

    def should_cancel(self) -> bool:
        return self.cancelled

    def check(self) -> None:
        """Raise ``heatmap_landmarks.inference.Cancelled`` if :meth:`cancel` was called."""
        if self.cancelled:
            from ..inference import Cancelled  # imports OpenCV: only ever reached during a run

            raise Cancelled(self.reason)

    def report(self, fraction: float, message: str = "") -> None:
        if self.callback is not None:
            self.callback(max(0.0, min(1.0, float(fraction))), message)


class CancelWhenGone:
    """Cancel ``progress`` when ``scene`` starts closing or one of ``nodes`` is removed from it.

    A panel calls ``slicer.app.processEvents()`` between batches so that its
    Cancel button works; that also lets the user close the scene or delete the
    input in the middle of a run. The run then stops at its next check, like a
    cancel, and :class:`SceneTransaction` removes what it had added.
    ``nodes`` may hold None entries (ignored).

    >>> from heatmap_landmarks.mrml import new_headless_scene, close_headless_scene
    >>> scene = new_headless_scene(slice_views=False)
    >>> volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    >>> progress = Progress()
    >>> with CancelWhenGone(progress, scene, [volume, None]):
    ...     scene.RemoveNode(volume)
    >>> progress.cancelled, progress.reason
    (True, 'the input was removed from the scene')
    >>> close_headless_scene(scene)
    """

    def __init__(self, progress: Progress, scene, nodes=()):
        self.progress = progress
        self.scene = scene
        self.nodes = [n for n in nodes if n is not None]
        self._tags: list = []

    def _on_close(self, caller, event) -> None:
        self.progress.cancel("the scene was closed")

    def _on_removed(self, caller, event, calldata) -> None:
        if any(calldata is node for node in self.nodes):
            self.progress.cancel("the input was removed from the scene")

    _on_removed.CallDataType = vtk.VTK_OBJECT

    def __enter__(self) -> "CancelWhenGone":
        self._tags = [self.scene.AddObserver(self.scene.StartCloseEvent, self._on_close),
                      self.scene.AddObserver(self.scene.NodeAboutToBeRemovedEvent, self._on_removed)]
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        for tag in self._tags:
            self.scene.RemoveObserver(tag)
        self._tags = []
        return False
