"""Frames from MRML nodes for streaming inference, and per-frame results as synchronised sequences.

A module's input is either one frame (a volume node) or a video imported as a
sequence. Users may pick the sequence node, its browser, or the proxy volume
the browser shows (the node they see in the views); :func:`resolve_frame_input`
turns any of these into one :class:`FrameInput`. :func:`iter_sequence_volumes`
then reads the items one at a time (copies of one item's voxels at a time),
and :class:`VolumeSequenceBuilder` adds per-frame result volumes (heatmaps) to
a new sequence as they are computed, then synchronises it with the input's
browser so the result follows the frame shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import slicer

from ..errors import InputError
from ..geometry import Geometry
from .scene import add_new_node, module_logic
from .sequences import browse_sequence
from .volumes import SCALAR_CLASS, array_from_volume_node, fill_volume_node

__all__ = ["FrameInput", "resolve_frame_input", "iter_sequence_volumes", "VolumeSequenceBuilder"]


@dataclass(eq=False)
class FrameInput:
    """What a module was asked to process.

    Attributes:
        kind: ``"volume"`` (one frame) or ``"sequence"`` (every item of a sequence).
        name: a name for result nodes (the volume's or the sequence's name).
        volume: the volume node (for ``"sequence"``: the browser's proxy, if any).
        sequence: the sequence node (``"sequence"`` only).
        browser: the browser showing ``sequence``, or None if none exists yet.
    """

    kind: str
    name: str
    volume: object = None
    sequence: object = None
    browser: object = None

    @property
    def count(self) -> int:
        """Number of frames."""
        return 1 if self.kind == "volume" else int(self.sequence.GetNumberOfDataNodes())


def _sequences_logic(scene):
    logic = module_logic("Sequences", scene)
    if logic is None:
        raise RuntimeError("the scene has no Sequences module logic (use heatmap_landmarks.mrml.new_headless_scene())")
    return logic


def resolve_frame_input(node, *, whole_sequence: bool = True) -> FrameInput:
    """Interpret a user's input node.

    Args:
        node: a volume node, a ``vtkMRMLSequenceNode`` of volumes, or a
            ``vtkMRMLSequenceBrowserNode`` (its master sequence is used).
        whole_sequence: when ``node`` is the proxy volume of a browser, process
            the browser's whole sequence (True) or only the frame shown (False).

    Raises:
        InputError: no node, a node of another type, or an empty sequence.
    """
    if node is None:
        raise InputError(None, "no input selected; choose an endoscopic frame (volume) or a video sequence")
    scene = node.GetScene()
    if scene is None:
        raise InputError(None, f"'{node.GetName()}' is not in the scene")
    browser = sequence = volume = None
    if node.IsA("vtkMRMLSequenceBrowserNode"):
        browser = node
        sequence = node.GetMasterSequenceNode()
        if sequence is None:
            raise InputError(None, f"browser '{node.GetName()}' has no sequence to play")
        volume = browser.GetProxyNode(sequence)
    elif node.IsA("vtkMRMLSequenceNode"):
        sequence = node
        browser = _sequences_logic(scene).GetFirstBrowserNodeForSequenceNode(node)
        volume = browser.GetProxyNode(node) if browser is not None else None
    elif node.IsA("vtkMRMLVolumeNode"):
        volume = node
        browser = _sequences_logic(scene).GetFirstBrowserNodeForProxyNode(node) if whole_sequence else None
        if browser is not None:
            sequence = browser.GetSequenceNode(node)
        if sequence is None:
            return FrameInput("volume", node.GetName(), volume=node)
    else:
        raise InputError(None, f"'{node.GetName()}' is a {node.GetClassName()}; expected a volume (frame) or a "
                               f"sequence of volumes (video)")
    if sequence.GetNumberOfDataNodes() == 0:
        raise InputError(None, f"sequence '{sequence.GetName()}' has no frames")
    if "VolumeNode" not in (sequence.GetDataNodeClassName() or ""):
        raise InputError(None, f"sequence '{sequence.GetName()}' holds {sequence.GetDataNodeClassName()} items; "
                               f"expected volumes (video frames)")
    return FrameInput("sequence", sequence.GetName(), volume=volume, sequence=sequence, browser=browser)


def iter_sequence_volumes(sequence_node) -> Iterator[tuple[int, np.ndarray, Geometry]]:
    """Yield ``(item number, voxels (F, H, W[, C]) copy, Geometry)`` for every item, one at a time."""
    for i in range(sequence_node.GetNumberOfDataNodes()):
        node = sequence_node.GetNthDataNode(i)
        if node is None or not node.IsA("vtkMRMLVolumeNode"):
            raise InputError(None, f"sequence '{sequence_node.GetName()}' item {i} is not a volume")
        array, geometry = array_from_volume_node(node, world=False)
        yield i, array, geometry


class VolumeSequenceBuilder:
    """A new volume sequence indexed like ``master``, filled item by item.

    >>> from heatmap_landmarks.mrml import new_headless_scene, close_headless_scene, sequence_from_frames
    >>> scene = new_headless_scene(slice_views=False)
    >>> video, browser, _ = sequence_from_frames(np.zeros((2, 3, 4), np.float32), "Video", geometry=Geometry())
    >>> builder = VolumeSequenceBuilder(video, "Heatmap")
    >>> for t in range(2):
    ...     builder.append(np.full((1, 3, 4), t, np.float32), Geometry())
    >>> proxy = builder.attach(browser)
    >>> browser.SetSelectedItemNumber(1)
    >>> float(array_from_volume_node(proxy)[0].max())
    1.0
    >>> close_headless_scene(scene)
    """

    def __init__(self, master_sequence, name: str, *, node_class: str = SCALAR_CLASS, item_attributes=None):
        self.master = master_sequence
        self.node_class = node_class
        #: Node attributes set on every item (a browser's proxy takes them from the item it shows).
        self.item_attributes = dict(item_attributes or {})
        self.sequence = add_new_node(master_sequence.GetScene(), "vtkMRMLSequenceNode", name)
        self.sequence.CopySequenceIndex(master_sequence)
        self.count = 0

    def append(self, array, geometry: Geometry) -> None:
        """Add the next item: ``(F, H, W)`` voxels placed by ``geometry``."""
        if self.count >= self.master.GetNumberOfDataNodes():
            raise InputError(None, f"{self.sequence.GetName()}: more items than the {self.master.GetNumberOfDataNodes()} "
                                   f"of '{self.master.GetName()}'")
        item = getattr(slicer, self.node_class)()
        item.SetName(self.sequence.GetName())
        for key, value in self.item_attributes.items():
            item.SetAttribute(key, value)
        fill_volume_node(item, array, geometry)
        self.sequence.SetDataNodeAtValue(item, self.master.GetNthIndexValue(self.count))  # stored as a copy
        self.count += 1

    def attach(self, browser):
        """Synchronise the finished sequence with ``browser``; returns its proxy volume node."""
        if self.count != self.master.GetNumberOfDataNodes():
            raise InputError(None, f"{self.sequence.GetName()}: {self.count} items for "
                                   f"{self.master.GetNumberOfDataNodes()} frames")
        _, proxy = browse_sequence(self.sequence, browser=browser)
        if proxy.GetDisplayNode() is None:
            proxy.CreateDefaultDisplayNodes()
        return proxy
