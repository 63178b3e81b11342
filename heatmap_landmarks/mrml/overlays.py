"""Heatmap shown as the foreground layer of Slicer's slice views, over the input image.

Heatmap volumes made by the modules carry the node attribute
:data:`HEATMAP_ATTRIBUTE` (:func:`mark_heatmap`), so that the panels can keep
them out of their input selectors (:func:`heatmap_node_ids`,
:func:`first_input_volume`) and the opacity slider only touches views that
show one (:func:`set_overlay_opacity`). The attribute is saved with the scene.
"""
from __future__ import annotations

import math

from ..errors import InputError
from .colors import inferno_color_node
from .scene import application_logic, ensure_slice_views, resolve_scene

#: Upper display threshold: far above any heatmap value, so nothing bright is hidden.
UPPER_THRESHOLD = 1.0e6

_SELECTION_NODE_ID = "vtkMRMLSelectionNodeSingleton"
#: Node attribute that marks a heatmap volume made by this package.
HEATMAP_ATTRIBUTE = "HeatmapLandmarks.Heatmap"


def mark_heatmap(node):
    """Mark ``node`` as one of our heatmaps; returns it.

    For a cine, mark the sequence items: a browser's proxy node takes the
    attributes of the item it shows, so a mark set on the proxy alone is lost
    at the next frame.
    """
    node.SetAttribute(HEATMAP_ATTRIBUTE, "1")
    return node


def is_heatmap(node) -> bool:
    """True for a node marked by :func:`mark_heatmap` (None is not a heatmap)."""
    return node is not None and node.GetAttribute(HEATMAP_ATTRIBUTE) == "1"


def heatmap_node_ids(scene=None) -> list[str]:
    """IDs of the heatmap volumes in ``scene``, e.g. for an input selector's ``hiddenNodeIDs``.

    >>> import numpy as np
    >>> from heatmap_landmarks.geometry import Geometry
    >>> from heatmap_landmarks.mrml import new_headless_scene, close_headless_scene, volume_node_from_array
    >>> scene = new_headless_scene(slice_views=False)
    >>> image = volume_node_from_array(np.zeros((1, 2, 2), np.float32), Geometry(), "Image", scene=scene)
    >>> heat = mark_heatmap(volume_node_from_array(np.zeros((1, 2, 2), np.float32), Geometry(), "Heat", scene=scene))
    >>> heatmap_node_ids(scene) == [heat.GetID()]
    True
    >>> close_headless_scene(scene)
    """
    scene = resolve_scene(scene)
    nodes = (scene.GetNthNodeByClass(i, "vtkMRMLVolumeNode")
             for i in range(scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode")))
    return [node.GetID() for node in nodes if is_heatmap(node)]


def first_input_volume(class_name: str, scene=None):
    """The first ``class_name`` volume that can be an input: no label map, no heatmap of ours; or None.

    What a panel preselects in a new scene (``GetFirstNodeByClass`` alone may
    return a label map or a heatmap).
    """
    scene = resolve_scene(scene)
    for i in range(scene.GetNumberOfNodesByClass(class_name)):
        node = scene.GetNthNodeByClass(i, class_name)
        if not node.IsA("vtkMRMLLabelMapVolumeNode") and not is_heatmap(node):
            return node
    return None


def _check_fraction(value, what: str, *, upper_open: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or v > 1.0 or (upper_open and v == 1.0):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise InputError(None, f"{what} must be in {bound}, got {value!r}")
    return v


def _composite_nodes(scene):
    """Slice composite nodes that follow the volume selection (all, unless a user unlinked one)."""
    nodes = []
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        if node.GetDoPropagateVolumeSelection():
            nodes.append(node)
    return nodes


def configure_heatmap_display(heatmap_node, *, threshold: float = 0.1) -> None:
    """Display a 0..1 heatmap volume with the inferno table, values below ``threshold`` transparent.

    Sets window/level to the fixed range 0..1 (not automatic, so frames of a
    cine are comparable) and the display threshold to ``[threshold, big]``,
    and marks the node as a heatmap (:func:`mark_heatmap`).
    """
    threshold = _check_fraction(threshold, "heatmap display threshold", upper_open=True)
    if heatmap_node is None or not heatmap_node.IsA("vtkMRMLScalarVolumeNode") \
            or heatmap_node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise InputError(None, "the heatmap must be a scalar volume node")
    scene = heatmap_node.GetScene()
    if scene is None:
        raise InputError(None, f"heatmap volume '{heatmap_node.GetName()}' is not in a scene")
    if heatmap_node.GetDisplayNode() is None:
        heatmap_node.CreateDefaultDisplayNodes()
    mark_heatmap(heatmap_node)
    display = heatmap_node.GetDisplayNode()
    was_modifying = display.StartModify()
    display.SetAndObserveColorNodeID(inferno_color_node(scene).GetID())
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(0.0, 1.0)
    display.SetAutoThreshold(False)
    display.SetThreshold(threshold, UPPER_THRESHOLD)
    display.SetApplyThreshold(True)
    display.EndModify(was_modifying)


def show_heatmap_overlay(heatmap_node, background_node=None, *, threshold: float = 0.1,
                         opacity: float = 0.6, fit: bool = False) -> int:
    """Show ``heatmap_node`` in inferno over ``background_node`` in every slice view.

    The heatmap becomes the foreground layer and ``background_node`` (if given;
    otherwise the current background stays) the background layer of every
    slice composite node that follows the volume selection, with the given
    foreground opacity. The selection node is updated too, so views created
    later (and Slicer's own propagation) agree. In a headless scene without
    views, Red/Yellow/Green views are created first.

    Args:
        threshold: heatmap values below it are transparent, in [0, 1).
        opacity: foreground opacity in [0, 1].
        fit: also fit the slice views to the background (needs slice logics:
            always there in Slicer, created for headless scenes).

    Returns:
        the number of slice composite nodes updated.
    """
    opacity = _check_fraction(opacity, "overlay opacity")
    configure_heatmap_display(heatmap_node, threshold=threshold)
    scene = heatmap_node.GetScene()
    if background_node is not None and background_node.GetScene() is not scene:
        raise InputError(None, "the background volume is not in the heatmap's scene")
    ensure_slice_views(scene)

    selection = scene.GetNodeByID(_SELECTION_NODE_ID)
    if selection is not None:
        if background_node is not None:
            selection.SetActiveVolumeID(background_node.GetID())
        selection.SetSecondaryVolumeID(heatmap_node.GetID())

    composites = _composite_nodes(scene)
    for node in composites:
        was_modifying = node.StartModify()
        if background_node is not None:
            node.SetBackgroundVolumeID(background_node.GetID())
        node.SetForegroundVolumeID(heatmap_node.GetID())
        node.SetForegroundOpacity(opacity)
        node.EndModify(was_modifying)

    if fit:
        app_logic = application_logic(scene)
        if app_logic is not None and app_logic.GetSliceLogics() is not None:
            app_logic.FitSliceToAll()
    return len(composites)


def set_overlay_opacity(opacity: float, *, scene=None) -> int:
    """Set the foreground opacity of the slice views that show one of our heatmaps; returns how many.

    Views that follow the volume selection but show something else in the
    foreground (or nothing) are left alone.
    """
    opacity = _check_fraction(opacity, "overlay opacity")
    scene = resolve_scene(scene)
    composites = [node for node in _composite_nodes(scene)
                  if is_heatmap(scene.GetNodeByID(node.GetForegroundVolumeID() or ""))]
    for node in composites:
        node.SetForegroundOpacity(opacity)
    return len(composites)


def hide_heatmap_overlay(heatmap_node) -> int:
    """Remove ``heatmap_node`` from the foreground of the slice views showing it; returns how many."""
    scene = heatmap_node.GetScene()
    if scene is None:
        return 0
    count = 0
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        if node.GetForegroundVolumeID() == heatmap_node.GetID():
            node.SetForegroundVolumeID(None)
            count += 1
    selection = scene.GetNodeByID(_SELECTION_NODE_ID)
    if selection is not None and selection.GetSecondaryVolumeID() == heatmap_node.GetID():
        selection.SetSecondaryVolumeID(None)
    return count
