"""Cines as MRML sequences: ``vtkMRMLSequenceNode`` items browsed by a ``vtkMRMLSequenceBrowserNode``.

A browser shows one item at a time through *proxy* nodes (ordinary scene
nodes the views display); changing its selected item copies that item into
the proxies. Sequences synchronised in the same browser (e.g. the landmarks
of each frame) follow along. Proxies are updated by the Sequences module
logic: always present in 3D Slicer, created by
:func:`~heatmap_landmarks.mrml.scene.new_headless_scene` otherwise.
"""
from __future__ import annotations

import numpy as np
import slicer

from ..errors import InputError
from ..geometry import Geometry
from ._storage import file_stem, read_node, require_extension, write_node_atomically
from .markups import FIDUCIAL_CLASS, fiducials_to_arrays, update_fiducials
from .scene import add_new_node, module_logic, resolve_scene
from .volumes import SCALAR_CLASS, VECTOR_CLASS, array_from_volume_node, fill_volume_node

#: Volume sequences: one 4D NRRD (vtkMRMLVolumeSequenceStorageNode).
VOLUME_SEQUENCE_EXTENSIONS = (".seq.nrrd",)
#: Any sequence (e.g. of point lists): a zipped MRML bundle (vtkMRMLSequenceStorageNode).
BUNDLE_SEQUENCE_EXTENSIONS = (".seq.mrb",)


def _index_strings(values, count: int, what: str) -> list[str]:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) != count:
        raise InputError(None, f"{what}: {count} items but {len(v)} index values")
    if not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
        raise InputError(None, f"{what}: index values must be finite and strictly increasing")
    strings = [format(float(x), ".10g") for x in v]
    if len(set(strings)) != count:
        raise InputError(None, f"{what}: index values are too close to tell apart")
    return strings


def _frame_items(frames, geometry, what: str) -> list[tuple[np.ndarray, Geometry]]:
    """Normalise the accepted frame layouts to a list of ``(volume array, Geometry)``."""
    if isinstance(frames, np.ndarray):
        if geometry is None:
            raise InputError(None, f"{what}: an array of frames needs a geometry")
        a = frames
        if a.ndim == 3 or (a.ndim == 4 and a.shape[-1] in (3, 4)):
            a = a[:, None]  # (T, H, W[, C]): 2D frames become one-slice volumes
        if a.ndim not in (4, 5):
            raise InputError(None, f"{what}: frames must be (T, H, W), (T, H, W, 3), (T, F, H, W) or "
                                   f"(T, F, H, W, 3), got shape {frames.shape}")
        return [(a[t], geometry) for t in range(len(a))]
    items = []
    for item in frames:
        try:
            array, g = item
        except (TypeError, ValueError):
            raise InputError(None, f"{what}: each frame must be an (array, Geometry) pair") from None
        array = np.asarray(array)
        items.append((array[None] if array.ndim == 2 else array, g if g is not None else geometry))
    return items


def _volume_class(array: np.ndarray) -> str:
    return VECTOR_CLASS if array.ndim == 4 else SCALAR_CLASS


def browse_sequence(sequence_node, *, browser=None, name: str | None = None):
    """Show a sequence: in a new browser (it becomes the master) or synchronised into ``browser``.

    A new browser is named ``name`` (default "<sequence name> browser"), made unique.

    Returns:
        ``(browser_node, proxy_node)``; the proxy holds the currently selected item.

    Raises:
        RuntimeError: no Sequences module logic serves the scene (proxies cannot be made).
    """
    scene = sequence_node.GetScene()
    if scene is None:
        raise InputError(None, f"sequence '{sequence_node.GetName()}' is not in a scene")
    logic = module_logic("Sequences", scene)
    if browser is None:
        browser = add_new_node(scene, "vtkMRMLSequenceBrowserNode", name or f"{sequence_node.GetName()} browser")
        browser.SetAndObserveMasterSequenceNodeID(sequence_node.GetID())
        browser.SetSelectedItemNumber(0)
    elif not browser.IsSynchronizedSequenceNode(sequence_node, True):
        browser.AddSynchronizedSequenceNode(sequence_node)
    if logic is not None:
        logic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence_node)
    if proxy is None:
        raise RuntimeError("no proxy node was created: the scene has no Sequences module logic "
                           "(use heatmap_landmarks.mrml.new_headless_scene() outside 3D Slicer)")
    return browser, proxy


def sequence_from_frames(frames, name: str, *, geometry: Geometry | None = None, index_name: str | None = None,
                         index_unit: str | None = None, index_values=None, scene=None):
    """Put a cine (or any series of volumes) in a new sequence with a new browser.

    Args:
        frames: either an array — ``(T, H, W)`` scalar or ``(T, H, W, 3)`` RGB 2D
            frames (each a one-slice volume), ``(T, F, H, W)`` or
            ``(T, F, H, W, 3)`` volumes — all placed by ``geometry``; or a list
            of ``(array, Geometry)`` pairs, each array ``(F, H, W)`` or
            ``(F, H, W, 3)`` as for
            :func:`~heatmap_landmarks.mrml.volumes.volume_node_from_array`, or
            ``(H, W)`` (one scalar slice); a None Geometry means ``geometry``.
            An array of shape ``(T, H, W, 3)`` is always read as RGB frames:
            pass ``(T, F, H, W)`` volumes with 3 columns as a list.
        name: sequence name (made unique); the browser is "<name> browser",
            the proxy volume is named like the sequence.
        index_values: T strictly increasing numbers, e.g. trigger times in ms.
            Default: item numbers 0..T-1.
        index_name, index_unit: default "time"/"ms" when ``index_values`` are
            given, else "frame"/"".

    Returns:
        ``(sequence_node, browser_node, proxy_node)``; the proxy shows item 0.

    >>> from heatmap_landmarks.mrml.scene import new_headless_scene, close_headless_scene
    >>> scene = new_headless_scene(slice_views=False)
    >>> cine = np.arange(3, dtype=np.float32)[:, None, None] * np.ones((3, 2, 4), np.float32)
    >>> seq, browser, proxy = sequence_from_frames(cine, "Cine", geometry=Geometry(), index_values=[0, 40, 80])
    >>> browser.SetSelectedItemNumber(2)
    >>> float(array_from_volume_node(proxy)[0].max())
    2.0
    >>> close_headless_scene(scene)
    """
    items = _frame_items(frames, geometry, name)
    if not items:
        raise InputError(None, f"{name}: a sequence needs at least one frame")
    if index_values is None:
        values = [str(t) for t in range(len(items))]
        index_name = "frame" if index_name is None else index_name
        index_unit = "" if index_unit is None else index_unit
    else:
        values = _index_strings(index_values, len(items), name)
        index_name = "time" if index_name is None else index_name
        index_unit = "ms" if index_unit is None else index_unit
    nodes = []  # built (and so validated) before anything is added to the scene
    for (array, g), value in zip(items, values):
        if g is None:
            raise InputError(None, f"{name}: frame at index {value} has no geometry")
        item = getattr(slicer, _volume_class(np.asarray(array)))()
        item.SetName(name)
        fill_volume_node(item, array, g)
        nodes.append(item)
    scene = resolve_scene(scene)
    sequence = add_new_node(scene, "vtkMRMLSequenceNode", name)
    sequence.SetIndexName(index_name)
    sequence.SetIndexUnit(index_unit)
    sequence.SetIndexType(slicer.vtkMRMLSequenceNode.NumericIndex)
    for item, value in zip(nodes, values):
        item.SetName(sequence.GetName())
        sequence.SetDataNodeAtValue(item, value)  # copied into the sequence's own scene
    browser, proxy = browse_sequence(sequence)
    return sequence, browser, proxy


def sequence_index_values(sequence_node) -> np.ndarray:
    """``(T,)`` float64 index values of a numeric sequence (e.g. times in ms)."""
    n = sequence_node.GetNumberOfDataNodes()
    return np.array([float(sequence_node.GetNthIndexValue(i)) for i in range(n)], dtype=np.float64)


def frames_from_sequence(sequence_node) -> list[tuple[np.ndarray, Geometry]]:
    """Copies of every item of a volume sequence: a list of ``(array (F, H, W[, C]), Geometry)``."""
    frames = []
    for i in range(sequence_node.GetNumberOfDataNodes()):
        node = sequence_node.GetNthDataNode(i)
        if node is None or not node.IsA("vtkMRMLVolumeNode"):
            raise InputError(None, f"sequence '{sequence_node.GetName()}' item {i} is not a volume")
        frames.append(array_from_volume_node(node, world=False))
    return frames


def add_markups_sequence(browser, points_per_item, labels_per_item, *, name: str, descriptions_per_item=None,
                         confidences_per_item=None, save_changes: bool = True, locked: bool = False):
    """Landmarks per frame as a sequence of point lists, synchronised in ``browser``.

    Item ``t`` holds ``points_per_item[t]`` (``(N_t, 3)`` RAS mm, NaN rows =
    absent) with ``labels_per_item[t]``; counts may differ between items. The
    proxy point list then follows the browser's frame. With ``save_changes``
    (default) points the user drags on the proxy are stored back into the
    current item.

    Returns:
        ``(sequence_node, proxy_fiducial_node)``.
    """
    master = browser.GetMasterSequenceNode()
    if master is None:
        raise InputError(None, f"browser '{browser.GetName()}' has no master sequence")
    count = master.GetNumberOfDataNodes()
    if len(points_per_item) != count or len(labels_per_item) != count:
        raise InputError(None, f"{name}: the browser has {count} items but {len(points_per_item)} point sets "
                               f"and {len(labels_per_item)} label lists were given")
    for extra, what in ((descriptions_per_item, "descriptions"), (confidences_per_item, "confidences")):
        if extra is not None and len(extra) != count:
            raise InputError(None, f"{name}: the browser has {count} items but {len(extra)} lists of {what}")
    items = []  # built (and so validated) before anything is added to the scene
    for t in range(count):
        item = slicer.vtkMRMLMarkupsFiducialNode()
        item.SetName(name)
        item.SetLocked(bool(locked))
        update_fiducials(item, points_per_item[t], labels_per_item[t],
                         None if descriptions_per_item is None else descriptions_per_item[t],
                         confidences=None if confidences_per_item is None else confidences_per_item[t])
        items.append(item)
    sequence = add_new_node(browser.GetScene(), "vtkMRMLSequenceNode", name)
    sequence.CopySequenceIndex(master)
    for t, item in enumerate(items):
        item.SetName(sequence.GetName())
        sequence.SetDataNodeAtValue(item, master.GetNthIndexValue(t))
    browser.AddSynchronizedSequenceNode(sequence)
    browser.SetSaveChanges(sequence, bool(save_changes))  # must follow AddSynchronizedSequenceNode
    _, proxy = browse_sequence(sequence, browser=browser)
    if proxy.GetDisplayNode() is None:
        proxy.CreateDefaultDisplayNodes()
    return sequence, proxy


def fiducials_from_sequence(sequence_node) -> list[tuple[np.ndarray, list[str], list[str]]]:
    """Every item of a point-list sequence as ``(points (N, 3) RAS mm, labels, descriptions)``."""
    result = []
    for i in range(sequence_node.GetNumberOfDataNodes()):
        node = sequence_node.GetNthDataNode(i)
        if node is None or not node.IsA(FIDUCIAL_CLASS):
            raise InputError(None, f"sequence '{sequence_node.GetName()}' item {i} is not a point list")
        result.append(fiducials_to_arrays(node, world=False))
    return result


def save_sequence(sequence_node, path, *, overwrite: bool = False) -> str:
    """Write a sequence atomically: volumes to ``.seq.nrrd`` (one 4D NRRD), anything to ``.seq.mrb``.

    Raises:
        OutputExistsError: ``path`` exists and not ``overwrite``.
        InputError: wrong extension for the content, missing folder, or the write failed.
    """
    ext = require_extension(path, VOLUME_SEQUENCE_EXTENSIONS + BUNDLE_SEQUENCE_EXTENSIONS, "sequence file name")
    if ext in VOLUME_SEQUENCE_EXTENSIONS:
        first = sequence_node.GetNthDataNode(0) if sequence_node.GetNumberOfDataNodes() else None
        if first is None or not first.IsA("vtkMRMLVolumeNode"):
            raise InputError(path, "only a sequence of volumes can be saved as .seq.nrrd; use .seq.mrb")
        storage_class = "vtkMRMLVolumeSequenceStorageNode"
    else:
        storage_class = "vtkMRMLSequenceStorageNode"
    return write_node_atomically(storage_class, sequence_node, path, overwrite=overwrite, what="sequence")


def load_sequence(path, *, scene=None, name: str | None = None):
    """Read a ``.seq.nrrd`` or ``.seq.mrb`` file into a new sequence node (no browser; see :func:`browse_sequence`)."""
    ext = require_extension(path, VOLUME_SEQUENCE_EXTENSIONS + BUNDLE_SEQUENCE_EXTENSIONS, "sequence file name")
    storage_class = ("vtkMRMLVolumeSequenceStorageNode" if ext in VOLUME_SEQUENCE_EXTENSIONS
                     else "vtkMRMLSequenceStorageNode")
    scene = resolve_scene(scene)
    sequence = add_new_node(scene, "vtkMRMLSequenceNode", name or file_stem(path))
    wanted_name = sequence.GetName()
    try:
        read_node(storage_class, sequence, path, scene=scene, what="sequence")
    except InputError:
        scene.RemoveNode(sequence)
        raise
    if sequence.GetNumberOfDataNodes() == 0:
        scene.RemoveNode(sequence)
        raise InputError(path, "the sequence has no items")
    sequence.SetName(wanted_name)
    return sequence
