"""Landmarks <-> ``vtkMRMLMarkupsFiducialNode`` (point list) and ``.mrk.json`` files.

Points are RAS mm, ``(N, 3)`` float64. A row of NaN is an *absent* landmark:
it becomes a control point whose position is "missing" (it keeps its label,
is not drawn, and is saved as such in ``.mrk.json``), so a fixed landmark set
(e.g. RVI-1, RVI-2, LV centre) keeps its order when one is not found.

The command line writes the same files without slicer through
:mod:`heatmap_landmarks.markups_json`, which also holds the confidence
description helpers re-exported here.

Slicer draws all points of one node in one colour; to colour points by class
(e.g. TP/FP/FN) make one node per class and use :func:`set_fiducial_color`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import slicer

from ..errors import InputError
from ..markups_json import MARKUPS_EXTENSIONS, check_points_labels, format_confidence, parse_confidence  # noqa: F401
from ._storage import file_stem, read_node, require_extension, write_node_atomically
from .scene import add_new_node, resolve_scene

FIDUCIAL_CLASS = "vtkMRMLMarkupsFiducialNode"


def update_fiducials(node, points_ras, labels: Sequence[str], descriptions: Sequence[str] | None = None, *,
                     confidences=None) -> None:
    """Replace a point list's control points (any count, zero allowed) in one modification.

    Args:
        points_ras: ``(N, 3)`` RAS mm (world: through the node's parent
            transforms); a NaN row marks an absent point (position "missing").
        labels: N labels (e.g. "RVI-1").
        descriptions: N descriptions, or ``confidences`` (N floats) written as
            ``"confidence=0.93"``.
    """
    p, labels, descriptions = check_points_labels(points_ras, labels, descriptions, confidences, what=node.GetName())
    was_modifying = node.StartModify()
    try:
        while node.GetNumberOfControlPoints() > len(p):
            node.RemoveNthControlPoint(node.GetNumberOfControlPoints() - 1)
        while node.GetNumberOfControlPoints() < len(p):
            node.AddControlPoint([0.0, 0.0, 0.0], "")
        for i, (xyz, label, description) in enumerate(zip(p, labels, descriptions)):
            node.SetNthControlPointLabel(i, label)
            node.SetNthControlPointDescription(i, description)
            if np.isnan(xyz).any():
                node.SetNthControlPointPositionMissing(i)
            else:
                node.SetNthControlPointPositionWorld(i, float(xyz[0]), float(xyz[1]), float(xyz[2]))
    finally:
        node.EndModify(was_modifying)


def create_fiducials(points_ras, labels: Sequence[str], *, name: str, descriptions: Sequence[str] | None = None,
                     confidences=None, scene=None, locked: bool = False, color=None):
    """Add a new point list (``vtkMRMLMarkupsFiducialNode``) holding the given landmarks.

    Args:
        points_ras, labels, descriptions, confidences: see :func:`update_fiducials`.
        name: node name, made unique so no existing node is touched.
        locked: when False (default) users can drag the points to correct them.
        color: optional ``(r, g, b)`` in [0, 1] (see :func:`set_fiducial_color`).

    Returns:
        the node, in the scene, with its display node.

    >>> from heatmap_landmarks.mrml.scene import new_headless_scene, close_headless_scene
    >>> scene = new_headless_scene(slice_views=False)
    >>> node = create_fiducials([[1.0, 2.0, 3.0]], ["MV-1"], name="Landmarks", confidences=[0.93], scene=scene)
    >>> points, labels, descriptions = fiducials_to_arrays(node)
    >>> points.tolist(), labels, descriptions
    ([[1.0, 2.0, 3.0]], ['MV-1'], ['confidence=0.93'])
    >>> close_headless_scene(scene)
    """
    p, labels, descriptions = check_points_labels(points_ras, labels, descriptions, confidences, what=name)
    scene = resolve_scene(scene)
    node = add_new_node(scene, FIDUCIAL_CLASS, name)
    node.CreateDefaultDisplayNodes()
    node.SetLocked(bool(locked))
    update_fiducials(node, p, labels, descriptions)
    if color is not None:
        set_fiducial_color(node, color)
    return node


def fiducials_to_arrays(node, *, world: bool = True) -> tuple[np.ndarray, list[str], list[str]]:
    """Control points of a markups node as ``(points (N, 3) float64 RAS mm, labels, descriptions)``.

    Points whose position is not defined (missing, or being placed) are NaN rows.
    With ``world`` (default) positions go through the node's parent transforms.
    """
    if node is None or not node.IsA("vtkMRMLMarkupsNode"):
        raise InputError(None, f"expected a markups node, got {None if node is None else node.GetClassName()}")
    n = node.GetNumberOfControlPoints()
    points = np.full((n, 3), np.nan)
    defined = slicer.vtkMRMLMarkupsNode.PositionDefined
    for i in range(n):
        if node.GetNthControlPointPositionStatus(i) == defined:
            get = node.GetNthControlPointPositionWorld if world else node.GetNthControlPointPosition
            points[i] = get(i)
    labels = [node.GetNthControlPointLabel(i) for i in range(n)]
    descriptions = [node.GetNthControlPointDescription(i) for i in range(n)]
    return points, labels, descriptions


def set_fiducial_color(node, rgb) -> None:
    """Colour of all points of ``node`` (Slicer has no per-point colour); ``rgb`` in [0, 1]."""
    c = np.asarray(rgb, dtype=np.float64).reshape(-1)
    if c.shape != (3,) or not np.all((c >= 0) & (c <= 1)):
        raise InputError(None, f"point colour must be (r, g, b) in [0, 1], got {rgb!r}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    # Points are "selected" by default and then drawn in SelectedColor.
    display.SetSelectedColor(*c.tolist())
    display.SetColor(*c.tolist())


def save_markups_json(node, path, *, overwrite: bool = False) -> str:
    """Write a markups node to a Slicer ``.mrk.json`` file atomically (LPS in the file, as Slicer does).

    Raises:
        OutputExistsError: ``path`` exists and not ``overwrite``.
        InputError: wrong extension, missing folder, or the write failed.
    """
    require_extension(path, MARKUPS_EXTENSIONS, "markups file name")
    return write_node_atomically("vtkMRMLMarkupsJsonStorageNode", node, path,
                                 overwrite=overwrite, what="markups")


def load_markups_json(path, *, scene=None, name: str | None = None):
    """Read the first point list of a ``.mrk.json`` file into a new fiducial node.

    The node is named ``name`` (default: the file name without ``.mrk.json``),
    made unique; it gets a display node and keeps the storage node (as after
    loading in Slicer).

    Raises:
        InputError: missing file or not a readable point list.
    """
    require_extension(path, MARKUPS_EXTENSIONS, "markups file name")
    scene = resolve_scene(scene)
    node = add_new_node(scene, FIDUCIAL_CLASS, name or file_stem(path))
    wanted_name = node.GetName()
    try:
        read_node("vtkMRMLMarkupsJsonStorageNode", node, path, scene=scene, what="markups point list")
    except InputError:
        scene.RemoveNode(node)
        raise
    node.SetName(wanted_name)  # the reader may rename the node from the file's content
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node
