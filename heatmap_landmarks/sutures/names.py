"""The suture vocabulary: one landmark type, any number of points, labelled ``S-1``, ``S-2``, ...

Labels follow the order of detection (strongest first); the AdaptOR challenge's
files, the CSV, the Slicer fiducials and the overlays all use :func:`suture_labels`.
"""
from __future__ import annotations

__all__ = ["LANDMARK_NAME", "suture_labels"]

#: The one landmark name of a suture model card.
LANDMARK_NAME = "suture"


def suture_labels(n: int) -> list[str]:
    """Labels of ``n`` suture points: ``["S-1", ..., "S-n"]``.

    >>> suture_labels(3)
    ['S-1', 'S-2', 'S-3']
    """
    return [f"S-{i + 1}" for i in range(int(n))]
