"""Landmark heatmaps: the one home of encoding points and decoding them back.

Conventions (see also :mod:`heatmap_landmarks.geometry`):

* A heatmap is ``(H, W)`` (one channel) or ``(C, H, W)`` (one channel per
  landmark type), float, indexed ``[row, column]``.
* Points are ``(N, 2)`` float ``(x, y) = (column, row)`` in pixels, 0-based,
  pixel centres at integers. A row of NaN is an absent landmark.
* Confidences are ``(N,)`` float32, taken from the heatmap (peak value of the
  blob), so they lie in [0, 1] for sigmoid or clipped network outputs.

Encoding
    Each point becomes ``exp(-d^2 / (2 sigma^2))`` with its (continuous) peak of 1
    exactly at the sub-pixel point, truncated to zero beyond ``truncate * sigma``.
    Several points in one channel are combined by **maximum, never by sum**:
    that is what "no two distributions may overlap" means here. Every pixel
    takes the value of the single strongest Gaussian at that pixel, so the map
    stays in [0, 1] and each local maximum stays exactly on its point (a sum
    would raise the values between close points and pull peaks together).
    Strict separation of the truncated supports (points at least
    ``2 * truncate * sigma`` apart) is only checked on request
    (``check_separation="warn"`` or ``"raise"``), because suture entry points
    can legitimately be closer than that.
    Points outside the image are allowed: the visible part of their Gaussian
    is drawn (nothing, if it lies wholly outside).

Decoding
    * Cardiac seed method (:func:`decode_contours`, :func:`decode_per_channel`):
      threshold, ``cv2.findContours`` around each blob, one sub-pixel centre
      per filled contour (a Gaussian fit by default; never the argmax).
    * Task decoders build on these: the cardiac one (naming, tethering) in
      :mod:`heatmap_landmarks.cardiac.decode`, the suture one (Otsu, opening,
      cutting, centroids) in :mod:`heatmap_landmarks.sutures.decode`.
    * :func:`smooth_over_time` averages the heatmaps of a cine's neighbouring
      frames before decoding (a landmark moves little between frames).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage

from .errors import InputError

__all__ = [
    "SIGMA2_SINGLE",
    "SIGMA2_SEVERAL",
    "default_sigma2",
    "encode_heatmap",
    "encode_heatmaps_per_channel",
    "decode_contours",
    "decode_per_channel",
    "smooth_over_time",
]

#: sigma^2 in px^2 of a heatmap holding a single landmark (Kanakatte et al.).
SIGMA2_SINGLE = 7.0
#: sigma^2 in px^2 of a heatmap holding several landmarks (narrower, to keep them apart).
SIGMA2_SEVERAL = 5.0

_CENTRE_METHODS = ("gaussian", "centroid")
_SEPARATION_CHECKS = ("ignore", "warn", "raise")


# --------------------------------------------------------------------------- validation


def check_points(points, what: str = "points") -> np.ndarray:
    """``(N, 2)`` float64 copy; NaN rows allowed (absent), inf refused."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"{what} must be numeric (N, 2) (x, y) pixels: {exc}") from None
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(None, f"{what} must have shape (N, 2) (x, y) pixels, got {arr.shape}")
    if np.isinf(arr).any():
        raise InputError(None, f"{what} contain infinite coordinates")
    # A half-NaN row is not a landmark: treat the whole row as absent.
    arr[np.isnan(arr).any(axis=1)] = np.nan
    return arr


def _as_shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise InputError(None, f"heatmap shape must be (H, W), got {shape!r}") from None
    if h < 1 or w < 1:
        raise InputError(None, f"heatmap shape must be positive (H, W), got {shape!r}")
    return h, w


def check_heatmap(heatmap, ndim: int = 2) -> np.ndarray:
    try:
        arr = np.asarray(heatmap, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"heatmap must be a numeric array: {exc}") from None
    if arr.ndim != ndim or 0 in arr.shape:
        want = "(H, W)" if ndim == 2 else "(C, H, W)"
        raise InputError(None, f"heatmap must be a non-empty {ndim}-D array {want}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(None, "heatmap contains NaN or infinite values")
    return arr


def _check_sigma2(sigma2: float) -> float:
    sigma2 = float(sigma2)
    if not (math.isfinite(sigma2) and sigma2 > 0):
        raise InputError(None, f"sigma2 must be a positive number of px^2, got {sigma2}")
    return sigma2


def strongest_first(points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Indices sorting by confidence descending; ties by row then column, for determinism."""
    return np.lexsort((points[:, 0], points[:, 1], -confidence))


def no_points() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 2), dtype=np.float32), np.zeros((0,), dtype=np.float32)


# --------------------------------------------------------------------------- encoding


def default_sigma2(n_points: int) -> float:
    """Default Gaussian variance in px^2 for a heatmap holding ``n_points`` landmarks.

    7.0 px^2 for a single landmark, 5.0 px^2 for several (or none), following
    the cardiac seed (Kanakatte et al.).

    >>> default_sigma2(1), default_sigma2(3)
    (7.0, 5.0)
    """
    n_points = int(n_points)
    if n_points < 0:
        raise InputError(None, f"number of points must be >= 0, got {n_points}")
    return SIGMA2_SINGLE if n_points == 1 else SIGMA2_SEVERAL


def encode_heatmap(
    points,
    shape,
    *,
    sigma2: float | None = None,
    truncate: float = 3.0,
    check_separation: str = "ignore",
) -> np.ndarray:
    """Draw N landmarks into one heatmap channel.

    Args:
        points: ``(N, 2)`` float, (x, y) pixels. NaN rows (absent landmarks)
            are skipped; points outside the image draw their visible part.
        shape: ``(H, W)`` of the heatmap.
        sigma2: Gaussian variance in px^2; default :func:`default_sigma2` of
            ``N`` (rows counted *including* absent ones, so the width of a
            training target does not change when one landmark is missing).
        truncate: Gaussians are set to 0 beyond ``truncate * sigma`` px.
        check_separation: ``"ignore"`` (default), ``"warn"`` or ``"raise"``
            (:class:`InputError`) when two present points are closer than
            ``2 * truncate * sigma``, i.e. their truncated supports intersect.
            Either way overlapping Gaussians are max-combined, never summed.

    Returns:
        ``(H, W)`` float32 in [0, 1].

    >>> h = encode_heatmap([[2.0, 1.0]], (3, 5))
    >>> h.shape, h.dtype, float(h[1, 2]), round(float(h[1, 3]), 4)
    ((3, 5), dtype('float32'), 1.0, 0.9311)
    >>> float(encode_heatmap([[1, 1], [1.2, 1]], (3, 3)).max())  # max-combined, not summed
    1.0
    """
    pts = check_points(points)
    height, width = _as_shape(shape)
    sigma2 = _check_sigma2(default_sigma2(len(pts)) if sigma2 is None else sigma2)
    truncate = float(truncate)
    if not (math.isfinite(truncate) and truncate > 0):
        raise InputError(None, f"truncate must be a positive number of sigmas, got {truncate}")
    if check_separation not in _SEPARATION_CHECKS:
        raise InputError(None, f"check_separation must be one of {_SEPARATION_CHECKS}, got {check_separation!r}")
    radius = truncate * math.sqrt(sigma2)
    present = pts[~np.isnan(pts[:, 0])]

    if check_separation != "ignore" and len(present) > 1:
        d = np.hypot(*(present[:, None, :] - present[None, :, :]).transpose(2, 0, 1))
        d[np.diag_indices_from(d)] = np.inf
        if d.min() < 2 * radius:
            i, j = np.unravel_index(np.argmin(d), d.shape)
            msg = (
                f"points {i} and {j} are {d[i, j]:.2f} px apart, closer than the truncated "
                f"Gaussian diameter {2 * radius:.2f} px; their Gaussians are max-combined"
            )
            if check_separation == "raise":
                raise InputError(None, msg)
            warnings.warn(msg, stacklevel=2)

    heat = np.zeros((height, width), dtype=np.float64)
    for x, y in present:
        x0, x1 = max(math.floor(x - radius), 0), min(math.ceil(x + radius), width - 1)
        y0, y1 = max(math.floor(y - radius), 0), min(math.ceil(y + radius), height - 1)
        if x0 > x1 or y0 > y1:
            continue  # wholly outside the image
        dx2 = (np.arange(x0, x1 + 1) - x) ** 2
        dy2 = (np.arange(y0, y1 + 1) - y) ** 2
        d2 = dy2[:, None] + dx2[None, :]
        g = np.exp(-d2 / (2.0 * sigma2))
        g[d2 > radius * radius] = 0.0
        window = heat[y0 : y1 + 1, x0 : x1 + 1]
        np.maximum(window, g, out=window)
    return heat.astype(np.float32)


def encode_heatmaps_per_channel(
    points, shape, *, sigma2: float | None = None, truncate: float = 3.0
) -> np.ndarray:
    """One heatmap channel per landmark type.

    Args:
        points: ``(C, 2)`` float, (x, y) pixels; row ``c`` is drawn in channel
            ``c``; a NaN row leaves its channel all zero.
        shape: ``(H, W)``.
        sigma2: px^2; default 7.0 (:data:`SIGMA2_SINGLE`) since every channel
            holds a single landmark.
        truncate: as in :func:`encode_heatmap`.

    Returns:
        ``(C, H, W)`` float32 in [0, 1].

    >>> maps = encode_heatmaps_per_channel([[1, 1], [float("nan"), float("nan")]], (3, 4))
    >>> maps.shape, float(maps[0, 1, 1]), float(maps[1].max())
    ((2, 3, 4), 1.0, 0.0)
    """
    pts = check_points(points)
    height, width = _as_shape(shape)
    sigma2 = SIGMA2_SINGLE if sigma2 is None else sigma2
    out = np.zeros((len(pts), height, width), dtype=np.float32)
    for c, point in enumerate(pts):
        out[c] = encode_heatmap(point[None, :], (height, width), sigma2=sigma2, truncate=truncate)
    return out


# --------------------------------------------------------------------------- contour decoding


def _fit_gaussian_centre(xs: np.ndarray, ys: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Centre of a weighted least-squares fit of ``log(value)`` by a 2-D quadratic.

    A Gaussian is a parabola in log space, so the fit is exact for an ideal
    blob even when only part of it is visible (image border) -- which is why
    it is used instead of a centroid. Weights ``value^2`` temper the noisy logs
    of faint pixels. Returns None when the fit is not a proper maximum.
    """
    keep = values > 0
    if keep.sum() < 6:
        return None
    xs, ys, values = xs[keep], ys[keep], values[keep]
    peak = int(np.argmax(values))
    # Coordinates relative to the brightest pixel keep the system well conditioned.
    u, v = xs - xs[peak], ys - ys[peak]
    design = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    weights = values  # sqrt of the value^2 weights
    try:
        coef, *_ = np.linalg.lstsq(design * weights[:, None], np.log(values) * weights, rcond=None)
    except np.linalg.LinAlgError:
        return None
    _, b, c, d, e, f = coef
    hessian = np.array([[2 * d, e], [e, 2 * f]])
    if not (hessian[0, 0] < 0 and np.linalg.det(hessian) > 0):
        return None  # not a maximum (flat, saddle or valley)
    du, dv = np.linalg.solve(hessian, [-b, -c])
    # A centre far from every pixel of its blob is an extrapolation we do not trust.
    extent = max(np.ptp(xs), np.ptp(ys)) + 2.0
    if not (np.isfinite(du) and np.isfinite(dv)) or math.hypot(du, dv) > extent:
        return None
    return np.array([xs[peak] + du, ys[peak] + dv])


def _weighted_centroid(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    if not total > 0:
        return np.array([xs.mean(), ys.mean()])
    return np.array([(xs * weights).sum() / total, (ys * weights).sum() / total])


def decode_contours(
    heatmap,
    *,
    level: float = 0.5,
    relative: bool = True,
    min_area: int = 3,
    max_points: int | None = None,
    min_confidence: float = 0.0,
    method: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Cardiac seed decoding: one sub-pixel point per blob, from its contour.

    Steps: threshold; ``cv2.findContours`` (external contours) around each
    blob; fill each contour (holes included); find the centre of the heatmap
    inside the filled contour:

    * ``method="gaussian"`` (default): weighted least-squares fit of
      ``log(heatmap)`` by a 2-D quadratic over the filled contour (exact for
      a Gaussian blob, also when the image border cuts it). Falls back to the
      centroid when the fit is not a proper maximum.
    * ``method="centroid"``: centroid weighted by ``heatmap - threshold``
      (weights fall to 0 at the contour, which keeps pixel-grid bias small);
      unbiased for symmetric blobs, pulled inwards at image borders.

    Args:
        heatmap: ``(H, W)`` float.
        level: threshold. With ``relative=True`` (default) a fraction of the
            heatmap maximum (0.5 = half maximum: robust to networks whose
            peaks do not reach 1); with ``relative=False`` in heatmap units.
            Pixels ``>=`` the threshold are foreground.
        min_area: blobs whose filled contour has fewer pixels are dropped.
        max_points: keep at most this many (the most confident).
        min_confidence: drop blobs whose peak value is below this.
        method: ``"gaussian"`` or ``"centroid"``.

    Returns:
        ``(M, 2)`` float32 (x, y) pixels and ``(M,)`` float32 confidence
        (peak heatmap value inside the blob), sorted by confidence descending.
        An all-zero (or all-negative) heatmap gives ``M = 0``.

    >>> h = encode_heatmap([[10.3, 7.6], [20.0, 15.0]], (24, 32))
    >>> pts, conf = decode_contours(h)
    >>> pts.astype(float).round(2).tolist(), conf.astype(float).round(3).tolist()
    ([[20.0, 15.0], [10.3, 7.6]], [1.0, 0.975])
    """
    heat = check_heatmap(heatmap)
    if method not in _CENTRE_METHODS:
        raise InputError(None, f"method must be one of {_CENTRE_METHODS}, got {method!r}")
    level = float(level)
    if not (math.isfinite(level) and level > 0) or (relative and level > 1):
        raise InputError(None, f"level must be in (0, 1] when relative, > 0 otherwise; got {level}")
    if max_points is not None and int(max_points) < 0:
        raise InputError(None, f"max_points must be >= 0, got {max_points}")
    peak = heat.max()
    if not peak > 0:
        return no_points()
    threshold = level * peak if relative else level
    import cv2  # on first use: stock 3D Slicer has no OpenCV until the module installs it

    mask = (heat >= threshold).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)

    points, confidence = [], []
    for contour in contours:
        bx, by, bw, bh = cv2.boundingRect(contour)
        filled = np.zeros((bh, bw), dtype=np.uint8)
        cv2.drawContours(filled, [contour], -1, 1, thickness=cv2.FILLED, offset=(-bx, -by))
        rows, cols = np.nonzero(filled)
        if len(rows) < max(int(min_area), 1):
            continue
        ys, xs = (rows + by).astype(np.float64), (cols + bx).astype(np.float64)
        values = heat[rows + by, cols + bx]
        conf = float(values.max())
        if conf < min_confidence:
            continue
        centre = _fit_gaussian_centre(xs, ys, values) if method == "gaussian" else None
        if centre is None:
            centre = _weighted_centroid(xs, ys, np.clip(values - threshold, 0.0, None))
        points.append(centre)
        confidence.append(min(max(conf, 0.0), 1.0))
    if not points:
        return no_points()
    pts = np.asarray(points, dtype=np.float64)
    conf_arr = np.asarray(confidence, dtype=np.float64)
    order = strongest_first(pts, conf_arr)
    if max_points is not None:
        order = order[: int(max_points)]
    return pts[order].astype(np.float32), conf_arr[order].astype(np.float32)


def decode_per_channel(
    heatmaps,
    *,
    min_confidence: float = 0.1,
    level: float = 0.5,
    relative: bool = True,
    min_area: int = 3,
    method: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one landmark per channel: the most confident blob of each.

    Args:
        heatmaps: ``(C, H, W)`` float.
        min_confidence: a channel whose best blob peaks below this is absent.
        level, relative, min_area, method: as in :func:`decode_contours`.

    Returns:
        ``(C, 2)`` float32 (x, y) pixels with NaN rows for absent landmarks,
        and ``(C,)`` float32 confidence: the best blob's peak value, also for
        absent landmarks (so a user can see why it was rejected), 0 for a
        channel with no blob at all.

    >>> maps = encode_heatmaps_per_channel([[5.25, 4.0], [float("nan")] * 2], (12, 12))
    >>> pts, conf = decode_per_channel(maps)
    >>> pts.astype(float).round(2).tolist(), conf.astype(float).round(3).tolist()
    ([[5.25, 4.0], [nan, nan]], [0.996, 0.0])
    """
    maps = check_heatmap(heatmaps, ndim=3)
    points = np.full((maps.shape[0], 2), np.nan, dtype=np.float32)
    confidence = np.zeros(maps.shape[0], dtype=np.float32)
    for c, channel in enumerate(maps):
        pts, conf = decode_contours(
            channel, level=level, relative=relative, min_area=min_area, max_points=1, method=method
        )
        if len(pts):
            confidence[c] = conf[0]
            if conf[0] >= min_confidence:
                points[c] = pts[0]
    return points, confidence


# --------------------------------------------------------------------------- time


def smooth_over_time(heatmaps, sigma_frames: float, *, cyclic: bool = True) -> np.ndarray:
    """Gaussian average of each frame's heatmaps with its neighbours in time, before decoding.

    Args:
        heatmaps: ``(T, ...)`` float, time first: e.g. ``(T, C, h, w)`` network channels
            of a cine, or ``(T, H, W)``.
        sigma_frames: standard deviation of the temporal Gaussian in frames (>= 0);
            0 returns the heatmaps unchanged. The kernel is truncated at 3 sigma.
        cyclic: the cine covers one whole cardiac cycle, so its last frame neighbours
            its first (wrap-around); False repeats the end frames instead.

    Returns:
        ``(T, ...)`` float32, each frame a weighted mean of frames, so values stay
        within the input's range (heatmaps in [0, 1] stay in [0, 1]).

    >>> h = np.zeros((5, 1, 3)); h[2, 0, 1] = 1.0
    >>> [round(float(v), 3) for v in smooth_over_time(h, 1.0)[:, 0, 1]]  # frames 0 and 4 also reach it round the cycle
    [0.058, 0.242, 0.399, 0.242, 0.058]
    >>> [round(float(v), 3) for v in smooth_over_time(h, 1.0, cyclic=False)[:, 0, 1]]
    [0.054, 0.242, 0.399, 0.242, 0.054]
    >>> bool(np.array_equal(smooth_over_time(h, 0.0), h))
    True
    """
    maps = np.asarray(heatmaps, dtype=np.float32)
    sigma = float(sigma_frames)
    if maps.ndim < 2:
        raise ValueError(f"heatmaps must be (T, ...) with time first, got shape {maps.shape}")
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma_frames must be a finite number >= 0, got {sigma_frames!r}")
    if sigma == 0.0 or maps.shape[0] == 1:
        return maps.copy()
    return ndimage.gaussian_filter1d(maps, sigma, axis=0, mode="wrap" if cyclic else "nearest", truncate=3.0)




