"""Pieces shared by the cardiac dataset loaders."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heatmap_landmarks.geometry import Geometry


def points_array(landmarks: dict, names) -> np.ndarray:
    """Stack named landmarks into ``(C, 2)`` float32 ``(x, y)`` pixels, NaN rows where absent.

    >>> points_array({"RVI-1": np.array([3.0, 4.0])}, ["RVI-1", "RVI-2"]).tolist()
    [[3.0, 4.0], [nan, nan]]
    """
    out = np.full((len(names), 2), np.nan, dtype=np.float32)
    for c, name in enumerate(names):
        if name in landmarks:
            out[c] = landmarks[name]
    return out


@dataclass(eq=False)
class LandmarkSample:
    """One annotated 2D cardiac image.

    Attributes:
        image: ``(H, W)`` float32, intensities as stored in the file.
        spacing_xy: ``(2,)`` float64, mm per pixel along (column, row).
        geometry: placement of this single frame (frame index 0) in RAS mm.
        landmarks: name -> ``(2,)`` float32 ``(x=column, y=row)``, 0-based pixels at pixel
            centres; NaN coordinates where the landmark is absent on this image.
        patient_id: the patient/study identifier (use it for patient-level splits).
        source: path of the image file.
    """

    image: np.ndarray
    spacing_xy: np.ndarray
    geometry: Geometry
    landmarks: dict
    patient_id: str
    source: str

    def points(self, names) -> np.ndarray:
        """``(C, 2)`` float32 ``(x, y)`` pixels of ``names`` in that order, NaN where absent."""
        return points_array(self.landmarks, names)
