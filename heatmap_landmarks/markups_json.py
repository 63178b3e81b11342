"""Slicer point lists (``.mrk.json``) written with the standard library, no ``slicer`` import.

A ``.mrk.json`` file is plain JSON in 3D Slicer's markups schema. This module
writes the document that slicer-core's ``vtkMRMLMarkupsJsonStorageNode``
writes for a point list (``vtkMRMLMarkupsFiducialNode``) with a default display
node: schema :data:`SCHEMA`, one markup of type ``"Fiducial"``, coordinates in
**LPS millimetres** (Slicer's default for files; points are given in RAS mm and
converted here: L = -R, P = -A, S = S), control point ids ``"1"``, ``"2"``...,
and an absent landmark (a NaN row) as ``"position": ""`` with
``"positionStatus": "missing"``. The test suite reads these files with
slicer-core's storage node and compares them with the files slicer-core
writes for the same points (``Testing/test_markups_json.py``).

Inside Slicer the MRML bridge (:mod:`heatmap_landmarks.mrml.markups`) keeps
using slicer-core's own storage node; the command line uses this module, so it
never needs slicer-core. The description helpers (:func:`format_confidence`,
:func:`parse_confidence`) live here and are shared by both.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

import numpy as np

from .errors import InputError, PathLike
from .fileutil import atomic_text_file

#: The schema slicer-core 5.x writes (``@schema`` of the document).
SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
          "markups-schema-v1.0.3.json#")
#: File name endings Slicer reads as a markups JSON file.
MARKUPS_EXTENSIONS = (".mrk.json", ".json")
#: RAS -> LPS: the file's coordinate system is LPS, as Slicer writes it by default.
_RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])
#: A control point's orientation (identity in RAS) as Slicer writes it in LPS, row-major 3x3.
_ORIENTATION_LPS = [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0]
#: The display block slicer-core writes for a default ``vtkMRMLMarkupsFiducialDisplayNode``.
DEFAULT_DISPLAY = {
    "visibility": True, "opacity": 1.0, "color": [0.4, 1.0, 1.0], "selectedColor": [1.0, 0.5, 0.5],
    "activeColor": [0.4, 1.0, 0.0], "propertiesLabelVisibility": False, "pointLabelsVisibility": True,
    "textScale": 3.0, "glyphType": "Sphere3D", "glyphScale": 3.0, "glyphSize": 5.0, "useGlyphScale": True,
    "sliceProjection": False, "sliceProjectionUseFiducialColor": True,
    "sliceProjectionOutlinedBehindSlicePlane": False, "sliceProjectionColor": [1.0, 1.0, 1.0],
    "sliceProjectionOpacity": 0.6, "lineThickness": 0.2, "lineColorFadingStart": 1.0, "lineColorFadingEnd": 10.0,
    "lineColorFadingSaturation": 1.0, "lineColorFadingHueOffset": 0.0, "handlesInteractive": False,
    "translationHandleVisibility": True, "rotationHandleVisibility": True, "scaleHandleVisibility": False,
    "interactionHandleScale": 3.0, "snapMode": "toVisibleSurface",
}
_CONFIDENCE = re.compile(r"confidence=([-+0-9.eE]+|nan)")
# A JSON list of numbers (no strings, objects or nested lists), as json.dumps(indent=...) spreads it over lines.
_NUMBER_LIST = re.compile(r"\[\s+([-+0-9.eE,\s]+?)\s+\]")


def format_confidence(confidence: float) -> str:
    """Description text for a detection confidence (0..1); '' for NaN.

    >>> format_confidence(0.934), format_confidence(float("nan"))
    ('confidence=0.93', '')
    """
    c = float(confidence)
    return "" if math.isnan(c) else f"confidence={c:.2f}"


def parse_confidence(description: str) -> float:
    """Confidence written by :func:`format_confidence` in a description, NaN if none.

    >>> parse_confidence("confidence=0.93"), math.isnan(parse_confidence("moved by user"))
    (0.93, True)
    """
    m = _CONFIDENCE.search(description or "")
    return float(m.group(1)) if m else float("nan")


def check_points_labels(points_ras, labels, descriptions=None, confidences=None, *, what: str = "point list"):
    """Validate a point list: ``(points (N, 3) float64 RAS mm, labels, descriptions)``.

    Args:
        points_ras: ``(N, 3)`` RAS mm (N may be 0); a whole row of NaN marks an absent point.
        labels: N labels; descriptions: N strings, or ``confidences`` (N floats in 0..1,
            written with :func:`format_confidence`), not both; default: empty descriptions.
        what: names the list in the error message.

    Raises:
        InputError: wrong shape, partly NaN or infinite coordinates, or counts that differ.

    >>> p, labels, descriptions = check_points_labels([[1, 2, 3]], ["MV-1"], confidences=[0.5])
    >>> p.tolist(), labels, descriptions
    ([[1.0, 2.0, 3.0]], ['MV-1'], ['confidence=0.50'])
    """
    p = np.asarray(points_ras, dtype=np.float64)
    if p.size == 0:
        p = p.reshape(0, 3)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InputError(None, f"{what}: points must be (N, 3) RAS mm, got shape {p.shape}")
    n = len(p)
    if np.isinf(p).any() or (np.isnan(p).any(axis=1) & ~np.isnan(p).all(axis=1)).any():
        raise InputError(None, f"{what}: point coordinates must be finite (a whole row of NaN marks an absent point)")
    labels = [str(x) for x in labels]
    if len(labels) != n:
        raise InputError(None, f"{what}: {n} points but {len(labels)} labels")
    if descriptions is not None and confidences is not None:
        raise InputError(None, f"{what}: give descriptions or confidences, not both")
    if confidences is not None:
        descriptions = [format_confidence(c) for c in np.asarray(confidences, dtype=np.float64).reshape(-1)]
    descriptions = [""] * n if descriptions is None else [str(x) for x in descriptions]
    if len(descriptions) != n:
        raise InputError(None, f"{what}: {n} points but {len(descriptions)} descriptions/confidences")
    return p, labels, descriptions


def markups_document(points_ras, labels: Sequence[str], descriptions: Sequence[str] | None = None, *,
                     confidences=None, locked: bool = False) -> dict:
    """The ``.mrk.json`` document (a dict) of one point list, as slicer-core writes it.

    Args:
        points_ras, labels, descriptions, confidences: see :func:`check_points_labels`
            (points in RAS mm; the document holds them in LPS mm).
        locked: whether Slicer should stop users from dragging the points.

    >>> doc = markups_document([[1.0, 2.0, 3.0], [np.nan] * 3], ["RVI-1", "RVI-2"])
    >>> markup = doc["markups"][0]
    >>> markup["coordinateSystem"], markup["coordinateUnits"]
    ('LPS', 'mm')
    >>> [(c["id"], c["label"], c["position"], c["positionStatus"]) for c in markup["controlPoints"]]
    [('1', 'RVI-1', [-1.0, -2.0, 3.0], 'defined'), ('2', 'RVI-2', '', 'missing')]
    """
    p, labels, descriptions = check_points_labels(points_ras, labels, descriptions, confidences)
    control_points = []
    for i, (xyz, label, description) in enumerate(zip(p, labels, descriptions)):
        missing = bool(np.isnan(xyz).any())
        control_points.append({
            "id": str(i + 1), "label": label, "description": description, "associatedNodeID": "",
            "position": "" if missing else [float(v) for v in xyz * _RAS_TO_LPS],
            "orientation": list(_ORIENTATION_LPS), "selected": True, "locked": False, "visibility": True,
            "positionStatus": "missing" if missing else "defined",
        })
    markup = {
        "type": "Fiducial", "coordinateSystem": "LPS", "coordinateUnits": "mm", "locked": bool(locked),
        "fixedNumberOfControlPoints": False, "labelFormat": "%N-%d", "lastUsedControlPointNumber": len(p),
        "controlPoints": control_points, "measurements": [], "display": dict(DEFAULT_DISPLAY),
    }
    return {"@schema": SCHEMA, "markups": [markup]}


def markups_json_text(document: dict) -> str:
    """JSON text of a markups document, laid out as Slicer lays it out (4 spaces, number lists on one line)."""
    text = json.dumps(document, indent=4, ensure_ascii=False, allow_nan=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def write_markups_json(path: PathLike, points_ras, labels: Sequence[str], descriptions: Sequence[str] | None = None,
                       *, confidences=None, locked: bool = False, overwrite: bool = False) -> str:
    """Write one point list as a Slicer ``.mrk.json`` file, atomically.

    Args:
        path: ends with ``.mrk.json`` (or ``.json``).
        points_ras: ``(N, 3)`` RAS mm, NaN rows for absent points (written as "missing").
        labels, descriptions, confidences, locked: see :func:`markups_document`.
        overwrite: replace an existing file.

    Returns:
        ``path`` as a string.

    Raises:
        OutputExistsError: ``path`` exists and not ``overwrite``.
        InputError: wrong extension, missing folder, or bad points.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "points.mrk.json")
    >>> _ = write_markups_json(path, [[1.0, 2.0, 3.0]], ["MV-1"], confidences=[0.93])
    >>> json.load(open(path))["markups"][0]["controlPoints"][0]["description"]
    'confidence=0.93'
    """
    lower = str(path).lower()
    if not any(lower.endswith(ext) for ext in MARKUPS_EXTENSIONS):
        raise InputError(path, f"markups file name must end with one of {', '.join(MARKUPS_EXTENSIONS)}")
    text = markups_json_text(markups_document(points_ras, labels, descriptions, confidences=confidences,
                                              locked=locked))
    with atomic_text_file(path, overwrite=overwrite, newline="") as handle:
        handle.write(text)
    return str(path)
