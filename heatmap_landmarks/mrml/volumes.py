"""numpy arrays + :class:`~heatmap_landmarks.geometry.Geometry` <-> MRML volume nodes.

Slicer's ``slicer.util.arrayFromVolume`` returns voxels indexed ``[k, j, i]``
(KJI), which is this package's ``(frame, row, column)``; the node's IJK->RAS
matrix is exactly :meth:`Geometry.ijk_to_ras`. So no axis is flipped or
permuted anywhere in this module.
"""
from __future__ import annotations

import os

import numpy as np
import slicer
import vtk

from ..errors import InputError
from ..geometry import Geometry
from ._storage import file_stem, read_node, require_extension, write_node_atomically
from .scene import add_new_node, resolve_scene, unique_name

SCALAR_CLASS = "vtkMRMLScalarVolumeNode"
VECTOR_CLASS = "vtkMRMLVectorVolumeNode"
LABELMAP_CLASS = "vtkMRMLLabelMapVolumeNode"
_NODE_CLASSES = (SCALAR_CLASS, VECTOR_CLASS, LABELMAP_CLASS)

#: File types written by :func:`save_volume_node` (single-file formats only, so
#: that one ``os.replace`` makes the write atomic).
VOLUME_EXTENSIONS = (".nrrd", ".nii.gz", ".nii", ".mha")


def _voxels(array, what: str) -> np.ndarray:
    """Validate ``(F, H, W)`` or ``(F, H, W, C)`` voxels; floats become float32."""
    a = np.asarray(array)
    if a.ndim not in (3, 4) or (a.ndim == 4 and a.shape[3] not in (3, 4)) or 0 in a.shape:
        raise InputError(None, f"{what}: voxels must be (frames, rows, columns) or (frames, rows, columns, 3|4), "
                               f"got shape {a.shape}")
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    if a.dtype.kind in "iu" and a.dtype.itemsize <= 4:
        return a
    raise InputError(None, f"{what}: voxel type {a.dtype} is not supported by Slicer's display; "
                           f"use float32, (u)int8/16/32 or bool")


def _node_class_for(a: np.ndarray, node_class: str | None, what: str) -> str:
    if node_class is None:
        return VECTOR_CLASS if a.ndim == 4 else SCALAR_CLASS
    if node_class not in _NODE_CLASSES:
        raise InputError(None, f"{what}: node class must be one of {', '.join(_NODE_CLASSES)}, got {node_class!r}")
    if (node_class == VECTOR_CLASS) != (a.ndim == 4):
        raise InputError(None, f"{what}: {node_class} does not fit voxels of shape {a.shape}")
    return node_class


def fill_volume_node(node, array, geometry: Geometry | None = None) -> None:
    """Replace the voxels (deep copy) and, if given, the geometry of an existing volume node.

    Works on nodes outside any scene too (e.g. items for a sequence).
    """
    a = _voxels(array, node.GetName() or "volume")
    _node_class_for(a, node.GetClassName(), node.GetName() or "volume")
    was_modifying = node.StartModify()
    try:
        if geometry is not None:
            node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(geometry.ijk_to_ras()))
        slicer.util.updateVolumeFromArray(node, a)
    finally:
        node.EndModify(was_modifying)


def volume_node_from_array(array, geometry: Geometry, name: str, *, scene=None, node_class: str | None = None):
    """Add a new volume node holding a copy of ``array`` placed by ``geometry``.

    Args:
        array: ``(F, H, W)`` scalar voxels (float32 heatmaps/images; other float
            types are converted to float32, integer types up to 32 bit are kept)
            or ``(F, H, W, 3)`` RGB (``(F, H, W, 4)`` RGBA) voxels.
        geometry: pixel -> RAS placement; becomes the node's IJK->RAS matrix.
        name: wanted node name; made unique (``name_1``, ...) so no existing
            node is ever replaced or confused with the new one.
        scene: defaults to :func:`~heatmap_landmarks.mrml.scene.ensure_scene`.
        node_class: ``vtkMRMLScalarVolumeNode`` (default for 3D arrays),
            ``vtkMRMLVectorVolumeNode`` (default for 4D arrays) or
            ``vtkMRMLLabelMapVolumeNode``.

    Returns:
        the node, in the scene, with default display nodes. Float RGB voxels
        get window/level 0..1 so that [0, 1] colours show as colours.

    >>> from heatmap_landmarks.mrml.scene import new_headless_scene, close_headless_scene
    >>> scene = new_headless_scene(slice_views=False)
    >>> g = Geometry(spacing=(0.5, 0.5, 8.0), origin=(10.0, 20.0, 30.0))
    >>> node = volume_node_from_array(np.zeros((2, 3, 4), np.float32), g, "Heatmap", scene=scene)
    >>> node.GetImageData().GetDimensions()
    (4, 3, 2)
    >>> array_from_volume_node(node)[1].almost_equal(g)
    True
    >>> close_headless_scene(scene)
    """
    a = _voxels(array, name)
    node_class = _node_class_for(a, node_class, name)
    scene = resolve_scene(scene)
    node = add_new_node(scene, node_class, name)
    fill_volume_node(node, a, geometry)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if node_class == VECTOR_CLASS and a.dtype == np.float32 and display is not None:
        display.SetAutoWindowLevel(False)
        display.SetWindowLevelMinMax(0.0, 1.0)
    return node


def parent_to_world(node) -> np.ndarray:
    """``(4, 4)`` matrix of the linear transforms above ``node`` (its parent -> world); identity without one.

    Raises:
        InputError: the node is under a non-linear transform (it cannot be
            described by a matrix; harden the transform first).
    """
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise InputError(None, f"volume '{node.GetName()}' is under a non-linear transform; harden it first")
    to_world = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(to_world)
    return slicer.util.arrayFromVTKMatrix(to_world)


def volume_ijk_to_ras(node, *, world: bool = True) -> np.ndarray:
    """``(4, 4)`` IJK->RAS of a volume node; with ``world`` through its parent transforms.

    Raises:
        InputError: ``world`` and the node is under a non-linear transform (it
            cannot be described by a matrix; harden the transform first).
    """
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    ijk_to_ras = slicer.util.arrayFromVTKMatrix(m)
    if world and node.GetParentTransformNode() is not None:
        ijk_to_ras = parent_to_world(node) @ ijk_to_ras
    return ijk_to_ras


def voxels_missing(node) -> str | None:
    """Why the volume ``node`` holds nothing to process (no image data, no scalars, a zero size), or None.

    The one test both the Logics' input description and :func:`array_from_volume_node` use.
    """
    image = node.GetImageData()
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        return f"volume '{node.GetName()}' has no voxels"
    dims = image.GetDimensions()
    if min(dims) < 1 or image.GetNumberOfPoints() == 0:
        return f"volume '{node.GetName()}' has no voxels (size {dims[0]} x {dims[1]} x {dims[2]})"
    return None


def array_from_volume_node(node, *, world: bool = True) -> tuple[np.ndarray, Geometry]:
    """Copy of a volume node's voxels and its geometry.

    Returns:
        ``(array, geometry)``: ``(F, H, W)`` (scalar) or ``(F, H, W, C)`` (vector)
        array in the node's voxel type (a copy: later edits of the node do not
        change it), and the Geometry from the node's IJK->RAS matrix, composed
        with its parent linear transforms when ``world`` (the default; this is
        where the voxels are shown). With ``world=False`` parent transforms are
        ignored.

    Raises:
        InputError: not a volume node, no voxels, or a non-linear parent transform.
    """
    if node is None or not node.IsA("vtkMRMLVolumeNode"):
        raise InputError(None, f"expected a volume node, got {None if node is None else node.GetClassName()}")
    problem = voxels_missing(node)
    if problem:
        raise InputError(None, problem)
    image = node.GetImageData()
    array = np.array(slicer.util.arrayFromVolume(node), copy=True)
    return array, Geometry.from_ijk_to_ras(volume_ijk_to_ras(node, world=world))


def save_volume_node(node, path, *, overwrite: bool = False) -> str:
    """Write a volume node to ``.nrrd`` / ``.nii.gz`` / ``.nii`` / ``.mha`` atomically.

    Uses ``vtkMRMLVolumeArchetypeStorageNode`` (files are LPS, as Slicer writes
    them). The node's own storage node is not changed. Returns ``path``.

    Raises:
        OutputExistsError: ``path`` exists and not ``overwrite``.
        InputError: unsupported extension, missing folder, or the write failed.
    """
    require_extension(path, VOLUME_EXTENSIONS, "volume file name")
    return write_node_atomically("vtkMRMLVolumeArchetypeStorageNode", node, path,
                                 overwrite=overwrite, what="volume")


def load_volume_node(path, *, scene=None, name: str | None = None, node_class: str | None = None):
    """Read a volume file into a new node (scalar, or vector when the file has 3/4 components).

    Args:
        node_class: force a class; by default a scalar read is tried first and a
            vector read when the file has several components.
        name: node name (made unique); defaults to the file name without extension.

    Note: Slicer's reader makes a left-handed IJK->RAS right-handed by reversing
    the frame axis, so the array of such a file comes back with its frames in
    reverse order and a matching geometry (every voxel keeps its RAS position).
    """
    if node_class is not None and node_class not in _NODE_CLASSES:
        raise InputError(path, f"node class must be one of {', '.join(_NODE_CLASSES)}, got {node_class!r}")
    scene = resolve_scene(scene)
    node_name = unique_name(scene, name or file_stem(os.fspath(path)))
    classes = (node_class,) if node_class else (SCALAR_CLASS, VECTOR_CLASS)
    error = None
    for cls in classes:
        node = scene.AddNewNodeByClass(cls, node_name)
        try:
            read_node("vtkMRMLVolumeArchetypeStorageNode", node, path, scene=scene, what="volume")
        except InputError as err:
            scene.RemoveNode(node)
            error = error or err
            continue
        node.SetName(node_name)
        node.CreateDefaultDisplayNodes()
        return node
    raise error

