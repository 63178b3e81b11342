"""Image geometry: the one home of pixel <-> patient (RAS) coordinates.

Conventions used throughout the package:

* Arrays are indexed ``(frame, row, column)``; in Slicer's words KJI.
* A pixel index is ``(i, j, k) = (column, row, frame)``, 0-based, at the
  pixel *centre*. 2D points are ``(x, y) = (column, row)`` in pixels.
* Patient coordinates are RAS in millimetres, as in 3D Slicer. (DICOM, ITK and
  SimpleITK use LPS; :mod:`heatmap_landmarks.io` converts at the file boundary.)

``ras = direction @ (spacing * ijk) + origin``
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Flip between LPS (DICOM/ITK) and RAS (Slicer): negate x and y.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Geometry:
    """Placement of a (frames, rows, columns) array in patient space.

    Attributes:
        spacing: ``(3,)`` float64, mm per pixel along (column i, row j, frame k).
        origin: ``(3,)`` float64, RAS mm of the centre of pixel (0, 0, 0).
        direction: ``(3, 3)`` float64; column ``c`` is the RAS unit vector of
            axis ``c`` (i, j, k).

    >>> g = Geometry(spacing=(0.5, 0.5, 8.0), origin=(10.0, 20.0, 30.0))
    >>> g.pixel_to_ras([[2, 4, 1]]).tolist()
    [[11.0, 22.0, 38.0]]
    >>> g.ras_to_pixel(g.pixel_to_ras([[2, 4, 1]])).round(6).tolist()
    [[2.0, 4.0, 1.0]]
    """

    spacing: np.ndarray = field(default_factory=lambda: np.ones(3))
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        spacing = np.asarray(self.spacing, dtype=np.float64).reshape(-1)
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        direction = np.asarray(self.direction, dtype=np.float64)
        if spacing.shape != (3,) or origin.shape != (3,) or direction.shape != (3, 3):
            raise ValueError(
                f"Geometry needs spacing (3,), origin (3,), direction (3,3); got "
                f"{spacing.shape}, {origin.shape}, {direction.shape}"
            )
        if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise ValueError(f"Geometry spacing must be finite and positive, got {spacing.tolist()}")
        if not (np.all(np.isfinite(origin)) and np.all(np.isfinite(direction))):
            raise ValueError("Geometry origin and direction must be finite")
        if abs(np.linalg.det(direction)) < 1e-6:
            raise ValueError(f"Geometry direction matrix is singular: {direction.tolist()}")
        for name, value in (("spacing", spacing), ("origin", origin), ("direction", direction)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    # -- matrices ---------------------------------------------------------
    def ijk_to_ras(self) -> np.ndarray:
        """``(4, 4)`` homogeneous matrix mapping (i, j, k, 1) to (R, A, S, 1)."""
        m = np.eye(4)
        m[:3, :3] = self.direction * self.spacing[None, :]
        m[:3, 3] = self.origin
        return m

    def ras_to_ijk(self) -> np.ndarray:
        """``(4, 4)`` inverse of :meth:`ijk_to_ras`."""
        return np.linalg.inv(self.ijk_to_ras())

    @classmethod
    def from_ijk_to_ras(cls, matrix: np.ndarray) -> "Geometry":
        """Build from a ``(4, 4)`` IJK->RAS matrix (e.g. a Slicer volume node's)."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"IJK->RAS matrix must be (4,4), got {m.shape}")
        linear = m[:3, :3]
        spacing = np.linalg.norm(linear, axis=0)
        return cls(spacing=spacing, origin=m[:3, 3].copy(), direction=linear / spacing[None, :])

    # -- points -------------------------------------------------------------
    def pixel_to_ras(self, ijk) -> np.ndarray:
        """Map ``(N, 3)`` pixel indices (column, row, frame) to ``(N, 3)`` RAS mm."""
        p = np.atleast_2d(np.asarray(ijk, dtype=np.float64))
        return p @ (self.direction * self.spacing[None, :]).T + self.origin

    def ras_to_pixel(self, ras) -> np.ndarray:
        """Map ``(N, 3)`` RAS mm to ``(N, 3)`` fractional pixel indices (column, row, frame)."""
        p = np.atleast_2d(np.asarray(ras, dtype=np.float64)) - self.origin
        return np.linalg.solve(self.direction * self.spacing[None, :], p.T).T

    def xy_to_ras(self, xy, k=0.0) -> np.ndarray:
        """``(..., 2)`` pixel positions (column, row) on slice ``k`` -> ``(..., 3)`` RAS mm.

        ``k`` is a number or an array that broadcasts against ``xy[..., 0]``
        (e.g. one slice index per point). NaN (a landmark not found) stays NaN.

        >>> Geometry(spacing=(2.0, 3.0, 5.0)).xy_to_ras([[1.0, 1.0], [np.nan, np.nan]], k=2).tolist()
        [[2.0, 3.0, 10.0], [nan, nan, nan]]
        """
        p = np.asarray(xy, dtype=np.float64)
        if p.shape[-1:] != (2,):
            raise ValueError(f"expected (..., 2) pixel positions, got shape {p.shape}")
        kk = np.broadcast_to(np.asarray(k, dtype=np.float64), p.shape[:-1])
        ijk = np.concatenate([p, kk[..., None]], axis=-1).reshape(-1, 3)
        return self.pixel_to_ras(ijk).reshape(p.shape[:-1] + (3,)) if ijk.size else np.zeros(p.shape[:-1] + (3,))

    def ras_to_xy(self, ras) -> np.ndarray:
        """``(..., 3)`` RAS mm -> ``(..., 2)`` fractional pixel positions (column, row); the slice index is dropped."""
        r = np.asarray(ras, dtype=np.float64)
        if r.shape[-1:] != (3,):
            raise ValueError(f"expected (..., 3) RAS positions, got shape {r.shape}")
        if not r.size:
            return np.zeros(r.shape[:-1] + (2,))
        return self.ras_to_pixel(r.reshape(-1, 3))[:, :2].reshape(r.shape[:-1] + (2,))

    # -- derived ------------------------------------------------------------
    def with_spacing(self, spacing) -> "Geometry":
        """Same origin and direction, new spacing (the pixel-(0,0,0) centre stays put)."""
        return Geometry(spacing=spacing, origin=self.origin, direction=self.direction)

    def frame(self, k: int) -> "Geometry":
        """Geometry of the single frame ``k`` (its origin moved to that frame)."""
        origin = self.pixel_to_ras([[0.0, 0.0, float(k)]])[0]
        return Geometry(spacing=self.spacing, origin=origin, direction=self.direction)

    def almost_equal(self, other: "Geometry", atol: float = 1e-6) -> bool:
        return bool(np.allclose(self.ijk_to_ras(), other.ijk_to_ras(), atol=atol))

    def to_dict(self) -> dict:
        return {"spacing": self.spacing.tolist(), "origin": self.origin.tolist(), "direction": self.direction.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Geometry":
        return cls(spacing=d["spacing"], origin=d["origin"], direction=d["direction"])

    def __repr__(self) -> str:
        return f"Geometry(spacing={self.spacing.tolist()}, origin={self.origin.tolist()}, direction={self.direction.tolist()})"


def transformed(geometry: Geometry, matrix) -> Geometry:
    """``geometry`` moved by the ``(4, 4)`` linear transform ``matrix`` (RAS -> RAS, e.g. a parent -> world matrix).

    The composed IJK->RAS is ``matrix @ geometry.ijk_to_ras()``; a rotation or
    scaling in ``matrix`` ends up in the direction and spacing.

    >>> shift = np.eye(4); shift[:3, 3] = (5.0, 0.0, -1.0)
    >>> transformed(Geometry(spacing=(2.0, 2.0, 3.0)), shift).origin.tolist()
    [5.0, 0.0, -1.0]
    >>> transformed(Geometry(spacing=(2.0, 2.0, 3.0)), np.diag([1.0, 1.0, 2.0, 1.0])).spacing.tolist()
    [2.0, 2.0, 6.0]
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"transform matrix must be (4,4), got {m.shape}")
    return Geometry.from_ijk_to_ras(m @ geometry.ijk_to_ras())
