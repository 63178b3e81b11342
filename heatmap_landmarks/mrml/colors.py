"""The heatmap colour table: matplotlib's *inferno*, with transparent lowest entries.

slicer-core ships no matplotlib-style tables (and the desktop app's own tables
have no transparency), so the table is built here: inferno sampled at eleven
evenly spaced stops (the published ``inferno(11)`` values), linearly
interpolated to 256 entries. The first entry is fully transparent so heatmap
background (0) never tints the image under it.
"""
from __future__ import annotations

import numpy as np

from .scene import add_new_node, resolve_scene

#: inferno at 0.0, 0.1, ..., 1.0 (from near-black to pale yellow).
INFERNO_STOPS = ("#000004", "#160b39", "#420a68", "#6a176e", "#932667", "#bc3754",
                 "#dd513a", "#f37819", "#fca50a", "#f6d746", "#fcffa4")

#: Name given to the table node (unique-ified if a user's node already has it).
TABLE_NAME = "HeatmapInferno"
#: Node attribute that marks our table so it is found again (names can change).
TABLE_ATTRIBUTE = "HeatmapLandmarks.ColorTable"


def inferno_rgba(n: int = 256, *, transparent_entries: int = 1) -> np.ndarray:
    """``(n, 4)`` float64 RGBA in [0, 1]; the first ``transparent_entries`` have alpha 0.

    >>> lut = inferno_rgba()
    >>> lut.shape, lut[:2, 3].tolist()
    ((256, 4), [0.0, 1.0])
    >>> lut[-1, :3].round(3).tolist()
    [0.988, 1.0, 0.643]
    """
    if n < 2 or not 0 <= transparent_entries < n:
        raise ValueError(f"need n >= 2 and 0 <= transparent_entries < n, got {n}, {transparent_entries}")
    stops = np.array([[int(h[i:i + 2], 16) / 255.0 for i in (1, 3, 5)] for h in INFERNO_STOPS])
    where = np.linspace(0.0, 1.0, len(stops))
    x = np.linspace(0.0, 1.0, n)
    rgba = np.ones((n, 4))
    for c in range(3):
        rgba[:, c] = np.interp(x, where, stops[:, c])
    rgba[:transparent_entries, 3] = 0.0
    return rgba


def inferno_color_node(scene=None):
    """Find or create the scene's inferno ``vtkMRMLColorTableNode`` (256 entries, entry 0 transparent).

    One table per scene: it is found by its :data:`TABLE_ATTRIBUTE`, so calling
    this again returns the same node.

    >>> from heatmap_landmarks.mrml.scene import new_headless_scene, close_headless_scene
    >>> scene = new_headless_scene(slice_views=False)
    >>> node = inferno_color_node(scene)
    >>> node.GetNumberOfColors(), node is inferno_color_node(scene)
    (256, True)
    >>> close_headless_scene(scene)
    """
    scene = resolve_scene(scene)
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLColorTableNode")
        if node.GetAttribute(TABLE_ATTRIBUTE) == "inferno":
            return node
    node = add_new_node(scene, "vtkMRMLColorTableNode", TABLE_NAME)
    rgba = inferno_rgba(256)
    was_modifying = node.StartModify()
    node.SetTypeToUser()
    node.SetNumberOfColors(len(rgba))
    for i, (r, g, b, a) in enumerate(rgba):
        node.SetColor(i, float(r), float(g), float(b), float(a))
    node.SetAttribute(TABLE_ATTRIBUTE, "inferno")
    node.SetDescription("inferno (matplotlib) for heatmaps; entry 0 transparent")
    node.EndModify(was_modifying)
    return node


def color_table_rgba(node) -> np.ndarray:
    """``(N, 4)`` float64 RGBA of a colour node's lookup table (for checks and previews)."""
    lut = node.GetLookupTable()
    return np.array([lut.GetTableValue(i) for i in range(node.GetNumberOfColors())], dtype=np.float64)
