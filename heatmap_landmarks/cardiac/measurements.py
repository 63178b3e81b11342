"""Clinical measurements from cardiac landmarks, in patient millimetres and degrees.

Pure numpy: every function takes RAS positions in mm (``(3,)`` or ``(N, 3)``
float) and treats a NaN coordinate as "landmark not found", which gives a NaN
result instead of an error, so a missed point in one frame of a cine never
stops the others being measured.

Definitions (the ones the Slicer module and the CLI report):

* **Mitral annulus diameter**: distance MV-1 -- MV-2 (the two hinge points on
  a long-axis view), per frame.
* **Annulus excursion** (MAPSE-like): how far a point travels over the cardiac
  cycle, ``max - min`` of its position projected on one axis. By default the
  axis is the principal direction of the point's own trajectory (first
  principal component of its positions over the frames), which for the mitral
  annulus is the long-axis motion toward the apex and needs no apex landmark;
  pass ``axis`` (e.g. the LV long-axis direction) to project on a known
  direction instead. Reported for MV-1, MV-2 and the annulus midpoint.
* **LV long-axis length**: distance BCA -- ACA (LV centre on the most basal and
  on the most apical short-axis slice).
* **RV insertion angle**: the angle at the LV centre between the directions to
  the anterior (RVI-1) and inferior (RVI-2) RV insertion points, in degrees in
  [0, 180]: the angular extent of the septum as seen from the LV centre.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = [
    "annulus_excursion",
    "distance_mm",
    "excursion_mm",
    "long_axis_length",
    "mitral_annulus_diameter",
    "principal_axis",
    "rv_insertion_angle",
]


def _points(p, what: str) -> np.ndarray:
    """``(3,)`` or ``(N, 3)`` -> ``(N, 3)`` float64 (a copy), or InputError."""
    a = np.array(p, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 3:
        raise InputError(None, f"{what} must be (3,) or (N, 3) RAS mm, got shape {np.shape(p)}")
    if np.isinf(a).any():
        raise InputError(None, f"{what} has infinite coordinates")
    return a


def _pair(a, b, what_a: str, what_b: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _points(a, what_a), _points(b, what_b)
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        raise InputError(None, f"{what_a} has {len(a)} points but {what_b} has {len(b)}")
    return np.broadcast_arrays(a, b)


def distance_mm(a, b) -> np.ndarray:
    """Euclidean distances between paired points, ``(N,)`` float64 mm; NaN where either is missing.

    >>> distance_mm([0, 0, 0], [3, 4, 0]).tolist()
    [5.0]
    >>> distance_mm([[0, 0, 0], [1, 1, 1]], [[0, 0, 2], [np.nan] * 3]).tolist()
    [2.0, nan]
    """
    a, b = _pair(a, b, "first points", "second points")
    return np.linalg.norm(a - b, axis=1)


def mitral_annulus_diameter(mv1, mv2) -> np.ndarray:
    """MV-1 -- MV-2 distance per frame: ``(T, 3)`` and ``(T, 3)`` RAS mm -> ``(T,)`` mm.

    >>> mitral_annulus_diameter([[10, 0, 0], [11, 0, 0]], [[40, 0, 0], [39, 0, 0]]).tolist()
    [30.0, 28.0]
    """
    return distance_mm(mv1, mv2)


def long_axis_length(bca, aca) -> np.ndarray:
    """BCA -- ACA distance (LV length from the basal to the apical slice centre), ``(T,)`` mm.

    >>> long_axis_length([0, 0, 0], [0, 0, -84.5]).tolist()
    [84.5]
    """
    return distance_mm(bca, aca)


def principal_axis(points) -> np.ndarray:
    """Unit ``(3,)`` direction along which ``(T, 3)`` positions spread most (first principal component).

    Frames with a missing point are ignored. Returns NaNs with fewer than two
    valid positions. The sign is arbitrary (it does not change an excursion).

    >>> np.abs(principal_axis([[0, 0, 0], [0, 0, 5], [0, 0, 12], [0, 0, 3]])).round(3).tolist()
    [0.0, 0.0, 1.0]
    """
    p = _points(points, "trajectory")
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) < 2:
        return np.full(3, np.nan)
    centred = p - p.mean(axis=0)
    if not np.any(centred):
        return np.array([0.0, 0.0, 1.0])  # no motion: any axis gives excursion 0
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[0]


def excursion_mm(points, axis=None) -> float:
    """``max - min`` of ``(T, 3)`` positions projected on ``axis`` (default :func:`principal_axis`), mm.

    NaN when fewer than two frames have the point.

    >>> excursion_mm([[0, 0, 0], [0, 0, 5], [0, 0, 12], [0, 0, 3]])
    12.0
    >>> excursion_mm([[0, 0, 0], [3, 4, 0]], axis=[1, 0, 0])
    3.0
    """
    p = _points(points, "trajectory")
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) < 2:
        return float("nan")
    if axis is None:
        direction = principal_axis(p)
    else:
        direction = np.asarray(axis, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(direction)) if direction.shape == (3,) else 0.0
        if not np.isfinite(norm) or norm == 0.0:
            raise InputError(None, f"excursion axis must be a non-zero (3,) vector, got {axis!r}")
        direction = direction / norm
    projected = p @ direction
    return float(projected.max() - projected.min())


def annulus_excursion(mv1, mv2, axis=None) -> dict[str, float]:
    """Excursion (mm) of each mitral hinge and of the annulus midpoint over a cine.

    Args:
        mv1, mv2: ``(T, 3)`` RAS mm per frame, NaN rows where not found.
        axis: optional ``(3,)`` direction to project on (see module notes).
    Returns:
        ``{"MV-1": mm, "MV-2": mm, "midpoint": mm}``; NaN where fewer than two frames qualify.

    >>> mv1 = [[0, 0, 0], [0, 0, -10], [0, 0, -4]]
    >>> mv2 = [[30, 0, 0], [30, 0, -12], [30, 0, -6]]
    >>> {k: round(v, 6) for k, v in annulus_excursion(mv1, mv2).items()}
    {'MV-1': 10.0, 'MV-2': 12.0, 'midpoint': 11.0}
    """
    a, b = _pair(mv1, mv2, "MV-1 positions", "MV-2 positions")
    return {"MV-1": excursion_mm(a, axis), "MV-2": excursion_mm(b, axis), "midpoint": excursion_mm((a + b) / 2.0, axis)}


def rv_insertion_angle(rvi1, rvi2, lv_centre) -> np.ndarray:
    """Angle at the LV centre between RVI-1 and RVI-2, ``(N,)`` degrees in [0, 180].

    Computed in 3D (the three points lie on one short-axis slice); NaN where a
    point is missing or coincides with the LV centre.

    >>> rv_insertion_angle([1, 0, 0], [0, 1, 0], [0, 0, 0]).tolist()
    [90.0]
    >>> rv_insertion_angle([[2, 2, 5]], [[2, -2, 5]], [[0, 0, 5]]).round(6).tolist()
    [90.0]
    """
    r1, c = _pair(rvi1, lv_centre, "RVI-1 positions", "LV centre positions")
    r2, c2 = _pair(rvi2, c, "RVI-2 positions", "LV centre positions")
    r1 = np.broadcast_to(r1, r2.shape)
    u, v = r1 - c2, r2 - c2
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # atan2 of |u x v| and u.v is exact also near 0 and 180 degrees (arccos is not).
        angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v), axis=1), np.einsum("ij,ij->i", u, v)))
    angle[(nu == 0) | (nv == 0)] = np.nan
    return angle
