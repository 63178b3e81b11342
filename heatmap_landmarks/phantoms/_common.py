"""Small private helpers shared by the phantom generators.

Everything here is deterministic given the ``np.random.Generator`` passed in.
Speed matters (training renders thousands of phantoms on the fly on a small
CPU), so the work is done with a few whole-image OpenCV calls: polygons are
rasterised with ``cv2.fillPoly`` at 1/16 pixel precision, smooth random fields
are upsampled from a coarse grid, and white noise is cut from a cached pool.
"""
from __future__ import annotations

import numbers

import cv2
import numpy as np

#: cv2 fixed-point shift: polygon vertices are placed with 1/16 px precision.
_SHIFT = 4
_SCALE = float(1 << _SHIFT)

# A fixed pool of standard-normal samples. Cutting a random window out of it is
# ~50x faster than drawing fresh normals for every pixel, which would dominate
# the per-sample cost; windows start at random offsets so no two images share
# an aligned noise pattern in practice.
_POOL_SIZE = 1 << 21
_noise_pool: np.ndarray | None = None


def as_rng(seed_or_rng) -> np.random.Generator:
    """Return a ``np.random.Generator`` for an int seed (or pass a Generator through).

    >>> int(as_rng(3).integers(100)) == int(as_rng(3).integers(100))
    True
    """
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    if isinstance(seed_or_rng, numbers.Integral) and not isinstance(seed_or_rng, bool):
        return np.random.default_rng(int(seed_or_rng))
    raise TypeError(f"seed must be an int or a numpy Generator, got {type(seed_or_rng).__name__}")


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")


def white_noise(rng: np.random.Generator, shape) -> np.ndarray:
    """``shape`` float32 standard-normal noise (window of a cached pool, random sign)."""
    global _noise_pool
    if _noise_pool is None:
        _noise_pool = np.random.default_rng(20240601).standard_normal(_POOL_SIZE, dtype=np.float32)
    n = int(np.prod(shape))
    if n > _POOL_SIZE // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(0, _POOL_SIZE - n))
    out = _noise_pool[start:start + n].reshape(shape)
    return -out if rng.random() < 0.5 else out.copy()


def smooth_field(rng: np.random.Generator, shape, cells: float) -> np.ndarray:
    """``(H, W)`` float32 smooth random field, ~zero mean, ~unit std.

    ``cells`` is the number of independent values across the larger image side,
    so features are about ``max(H, W) / cells`` pixels wide.
    """
    h, w = int(shape[0]), int(shape[1])
    scale = max(h, w) / max(float(cells), 1.0)
    gh, gw = max(2, int(round(h / scale)) + 2), max(2, int(round(w / scale)) + 2)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    # Cubic to ~4 samples per cell, then (cheap) linear to full size: smooth
    # enough, and ~10x faster than a full-size cubic resize.
    mh, mw = min(h, 4 * gh), min(w, 4 * gw)
    field = cv2.resize(coarse, (mw, mh), interpolation=cv2.INTER_CUBIC)
    if (mh, mw) != (h, w):
        field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    return field * np.float32(1.0 / 0.8)  # interpolation lowers the std to ~0.8


def fill_polygon(canvas: np.ndarray, pts_xy: np.ndarray, value) -> None:
    """Fill the polygon ``pts_xy`` ``(N, 2)`` float (x, y) pixels into ``canvas`` in place (fast).

    OpenCV scan conversion with 1/16 px vertex precision; it rounds edge
    crossings to whole pixels, so shapes come out up to half a pixel larger.
    Fine for backgrounds; use :func:`fill_polygon_exact` for ground truth.
    """
    pts = np.round(np.asarray(pts_xy, dtype=np.float64) * _SCALE).astype(np.int32)
    cv2.fillPoly(canvas, [pts.reshape(-1, 1, 2)], value, lineType=cv2.LINE_8, shift=_SHIFT)


def fill_polygon_exact(canvas: np.ndarray, pts_xy: np.ndarray, value) -> None:
    """Set the pixels of ``canvas`` whose centres lie inside the polygon ``(N, 2)`` (x, y) px.

    Exact point sampling at pixel centres (even-odd rule), unlike
    ``cv2.fillPoly``, which rounds edge crossings to whole pixels and so grows
    shapes by about half a pixel. Used where label boundaries must match the
    analytic ground truth; costs ~R*N for R rows and N vertices.

    >>> c = np.zeros((6, 6), np.uint8)
    >>> fill_polygon_exact(c, np.array([[0.6, 0.6], [3.4, 0.6], [3.4, 3.4], [0.6, 3.4]]), 1)
    >>> np.argwhere(c).min(0).tolist(), np.argwhere(c).max(0).tolist()
    ([1, 1], [3, 3])
    """
    h, w = canvas.shape[:2]
    p = np.asarray(pts_xy, dtype=np.float64)
    x0, y0 = p[:, 0], p[:, 1]
    r0, r1 = max(int(np.ceil(y0.min())), 0), min(int(np.floor(y0.max())), h - 1)
    c0, c1 = max(int(np.ceil(x0.min())), 0), min(int(np.floor(x0.max())), w - 1)
    if r1 < r0 or c1 < c0:
        return
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = np.arange(r0, r1 + 1, dtype=np.float64)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    # Half-open edges (lo <= y < hi) so a shared vertex is counted once.
    e_idx, r_idx = np.nonzero((lo[:, None] <= rows[None, :]) & (rows[None, :] < hi[:, None]))
    if e_idx.size == 0:
        return
    t = (rows[r_idx] - y0[e_idx]) / (y1[e_idx] - y0[e_idx])
    xc = x0[e_idx] + t * (x1[e_idx] - x0[e_idx])
    ncols = c1 - c0 + 2
    # A crossing at x toggles inside/outside for every pixel centre >= x.
    col = np.clip(np.ceil(xc).astype(np.int64) - c0, 0, ncols - 1)
    counts = np.bincount(r_idx * ncols + col, minlength=(r1 - r0 + 1) * ncols).reshape(r1 - r0 + 1, ncols)
    inside = (np.cumsum(counts, axis=1)[:, :-1] & 1).astype(bool)
    canvas[r0:r1 + 1, c0:c1 + 1][inside] = value


def draw_polyline(canvas: np.ndarray, pts_xy: np.ndarray, value, thickness_px: float, antialias=False) -> None:
    """Draw an open polyline ``(N, 2)`` (x, y) pixels, at least 1 px thick."""
    pts = np.round(np.asarray(pts_xy, dtype=np.float64) * _SCALE).astype(np.int32)
    cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, value, max(1, int(round(thickness_px))),
                  lineType=cv2.LINE_AA if antialias else cv2.LINE_8, shift=_SHIFT)


_UNIT_CIRCLES: dict = {}


def _unit_circle(n: int):
    if n not in _UNIT_CIRCLES:
        t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        _UNIT_CIRCLES[n] = (t, np.cos(t), np.sin(t))
    return _UNIT_CIRCLES[n]


def ellipse_points(cx, cy, a, b, rot=0.0, n=64, wobble=None, rng=None) -> np.ndarray:
    """``(n, 2)`` points on a (optionally wobbly) ellipse centred at (cx, cy), rotated by ``rot`` rad.

    ``wobble`` is a relative radial perturbation amplitude; the perturbation is
    a random low-order Fourier series drawn from ``rng``.
    """
    t, ct, st = _unit_circle(n)
    if wobble:
        r = 1.0 + fourier(rng, t, wobble, kmax=5)
        ct, st = ct * r, st * r
    c, s = np.cos(rot), np.sin(rot)
    out = np.empty((n, 2))
    out[:, 0] = cx + (c * a) * ct - (s * b) * st
    out[:, 1] = cy + (s * a) * ct + (c * b) * st
    return out


def fourier_coeffs(rng: np.random.Generator, amplitude: float, kmin=2, kmax=5):
    """Random Fourier coefficients (ks, amps, phases) with amplitudes falling as 1/k."""
    ks = np.arange(kmin, kmax + 1, dtype=np.float64)
    amps = amplitude * rng.uniform(0.0, 1.0, ks.size) / (ks / kmin)
    phases = rng.uniform(0.0, 2.0 * np.pi, ks.size)
    return ks, amps, phases


def eval_fourier(coeffs, t) -> np.ndarray:
    ks, amps, phases = coeffs
    t = np.asarray(t, dtype=np.float64)
    return np.sum(amps[:, None] * np.cos(ks[:, None] * t.reshape(1, -1) + phases[:, None]), axis=0).reshape(t.shape)


def fourier(rng, t, amplitude, kmin=2, kmax=5) -> np.ndarray:
    return eval_fourier(fourier_coeffs(rng, amplitude, kmin, kmax), t)


def polygon_centroid(pts: np.ndarray) -> np.ndarray:
    """Area centroid ``(2,)`` of a simple closed polygon ``(N, 2)`` (shoelace)."""
    x, y = pts[:, 0], pts[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2.0
    if abs(area) < 1e-12:
        return pts.mean(axis=0)
    return np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (6.0 * area)


def rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
