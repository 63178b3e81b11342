"""Pieces every module Logic shares: parameter node, transactions, progress.

Inside 3D Slicer a module Logic derives from
``slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic``. slicer-core
(CI, the CLI) has no scripted-module framework, so :func:`logic_base_class`
returns :class:`HeadlessModuleLogic` there, which provides the one method our
Logic classes use from the base, ``getParameterNode()``, the same way Slicer
does (a singleton ``vtkMRMLScriptedModuleNode`` tagged with the module name).

:class:`SceneTransaction` makes a Logic call all-or-nothing: nodes added to
the scene inside the ``with`` block are removed again if it raises, so a bad
input or a cancel never leaves partial nodes behind.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import slicer
import vtk

from .scene import ensure_scene


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
    by :class:`heatmap_landmarks.inference.Predictor` via ``should_cancel``.
    """

    def __init__(self, callback: Optional[Callable[[float, str], None]] = None):
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def should_cancel(self) -> bool:
        return self.cancelled

    def report(self, fraction: float, message: str = "") -> None:
        if self.callback is not None:
            self.callback(max(0.0, min(1.0, float(fraction))), message)
