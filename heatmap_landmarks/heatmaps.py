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
    * Suture seed method (:func:`decode_sutures`): Otsu threshold, opening,
      connected components, cutting of over-large blobs, centroids. The steps
      are public (:func:`otsu_threshold`, :func:`open_mask`,
      :func:`label_blobs`, :func:`cut_large_blobs`, :func:`blob_centroids`)
      so that a user interface can show and tune them.
    * :func:`assign_identities` names the blobs of a single-channel cardiac
      heatmap (RVI-1/RVI-2/LV centre, MV-1/MV-2).
    * :func:`smooth_over_time` averages the heatmaps of a cine's neighbouring
      frames before decoding (a landmark moves little between frames).
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from .errors import InputError

__all__ = [
    "SIGMA2_SINGLE",
    "SIGMA2_SEVERAL",
    "default_sigma2",
    "encode_heatmap",
    "encode_heatmaps_per_channel",
    "decode_contours",
    "decode_per_channel",
    "decode_tethered",
    "decide_pair",
    "smooth_over_time",
    "assign_identities",
    "otsu_threshold",
    "open_mask",
    "label_blobs",
    "cut_large_blobs",
    "blob_centroids",
    "decode_sutures",
]

#: sigma^2 in px^2 of a heatmap holding a single landmark (Kanakatte et al.).
SIGMA2_SINGLE = 7.0
#: sigma^2 in px^2 of a heatmap holding several landmarks (narrower, to keep them apart).
SIGMA2_SEVERAL = 5.0

_CENTRE_METHODS = ("gaussian", "centroid")
_SEPARATION_CHECKS = ("ignore", "warn", "raise")


# --------------------------------------------------------------------------- validation


def _as_points(points, what: str = "points") -> np.ndarray:
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


def _as_heatmap(heatmap, ndim: int = 2) -> np.ndarray:
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


def _order(points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Indices sorting by confidence descending; ties by row then column, for determinism."""
    return np.lexsort((points[:, 0], points[:, 1], -confidence))


def _empty() -> tuple[np.ndarray, np.ndarray]:
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
    pts = _as_points(points)
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
    pts = _as_points(points)
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
    heat = _as_heatmap(heatmap)
    if method not in _CENTRE_METHODS:
        raise InputError(None, f"method must be one of {_CENTRE_METHODS}, got {method!r}")
    level = float(level)
    if not (math.isfinite(level) and level > 0) or (relative and level > 1):
        raise InputError(None, f"level must be in (0, 1] when relative, > 0 otherwise; got {level}")
    if max_points is not None and int(max_points) < 0:
        raise InputError(None, f"max_points must be >= 0, got {max_points}")
    peak = heat.max()
    if not peak > 0:
        return _empty()
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
        return _empty()
    pts = np.asarray(points, dtype=np.float64)
    conf_arr = np.asarray(confidence, dtype=np.float64)
    order = _order(pts, conf_arr)
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
    maps = _as_heatmap(heatmaps, ndim=3)
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


def lv_centre_channel(names: Sequence[str]) -> int:
    """Index of the LV centre among SAX landmark names: ``"LVC"``, else the first that is not an RV insertion.

    >>> lv_centre_channel(["RVI-1", "RVI-2", "LVC"]), lv_centre_channel(["BCA", "RVI-1"])
    (2, 0)
    """
    names = list(names)
    if "LVC" in names:
        return names.index("LVC")
    others = [i for i, n in enumerate(names) if not n.upper().startswith("RVI")]
    return others[0] if others else len(names) - 1


def decode_tethered(
    heatmaps,
    *,
    anchor: int,
    tethered: Sequence[int],
    max_distance: float,
    min_confidence: float = 0.1,
    level: float = 0.5,
    candidates: int = 3,
    relative: bool = True,
    min_area: int = 3,
    method: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel decoding where some landmarks must lie near another one.

    The SAX use: both RV insertion points lie on the LV epicardium, so they are
    within an epicardial radius of the LV centre. For each of the ``candidates``
    most confident blobs of the ``anchor`` channel, every ``tethered`` channel
    takes its most confident blob within ``max_distance`` (or none). A candidate
    scores its own peak value, plus the tethered peaks only when *every*
    tethered channel has a blob in reach (both insertions: one stray blob near
    a vessel must not outvote the LV); the highest score wins. A bright blob far
    from the heart (a vessel mistaken for the LV) then loses to a slightly
    weaker one that both insertions confirm. Without RV insertions (apical
    slices) the anchor is that of :func:`decode_per_channel`. Other channels are
    decoded independently.

    Args:
        heatmaps: ``(C, H, W)`` float.
        anchor: channel index of the anchor landmark.
        tethered: channel indices that must lie within ``max_distance`` px of it.
        max_distance: px (same grid as ``heatmaps``), > 0.
        min_confidence, level, relative, min_area, method: as in :func:`decode_per_channel`.
        candidates: blobs per channel considered, >= 1.

    Returns:
        As :func:`decode_per_channel`: ``(C, 2)`` points (NaN = absent) and
        ``(C,)`` confidences (the best blob's peak also for absent rows).

    Channel 1 (the anchor) has its true blob at (36, 30) with peak 0.9 and a
    brighter distractor at (5, 60); channel 0's blob at (30, 30) confirms the first:

    >>> maps = encode_heatmaps_per_channel([[30.0, 30.0], [36.0, 30.0]], (64, 64))
    >>> maps[1] = np.maximum(0.9 * maps[1], encode_heatmaps_per_channel([[5.0, 60.0]], (64, 64))[0])
    >>> decode_per_channel(maps)[0].round(1).tolist()
    [[30.0, 30.0], [5.0, 60.0]]
    >>> pts, _ = decode_tethered(maps, anchor=1, tethered=[0], max_distance=20.0)
    >>> pts.round(1).tolist()
    [[30.0, 30.0], [36.0, 30.0]]
    """
    maps = _as_heatmap(heatmaps, ndim=3)
    n_channels = maps.shape[0]
    tethered = [int(t) for t in tethered]
    if not 0 <= int(anchor) < n_channels or any(not 0 <= t < n_channels or t == anchor for t in tethered):
        raise InputError(None, f"anchor {anchor} and tethered {tethered} must be distinct channels of {n_channels}")
    if not (math.isfinite(float(max_distance)) and max_distance > 0):
        raise InputError(None, f"max_distance must be > 0 px, got {max_distance}")
    if int(candidates) < 1:
        raise InputError(None, f"candidates must be >= 1, got {candidates}")
    points = np.full((n_channels, 2), np.nan, dtype=np.float32)
    confidence = np.zeros(n_channels, dtype=np.float32)
    others = [c for c in range(n_channels) if c != anchor and c not in tethered]
    if others:
        points[others], confidence[others] = decode_per_channel(
            maps[others], min_confidence=min_confidence, level=level, relative=relative, min_area=min_area,
            method=method)
    # Each involved channel is decoded once: its strongest blob is the per-channel answer (as in
    # decode_per_channel), its candidates above min_confidence feed the search.
    blobs = {}
    for c in [anchor, *tethered]:
        pts, conf = decode_contours(maps[c], level=level, relative=relative, min_area=min_area,
                                    max_points=int(candidates), method=method)
        if len(pts):
            confidence[c] = conf[0]
            if conf[0] >= min_confidence:
                points[c] = pts[0]
        keep = conf >= min_confidence
        blobs[c] = (pts[keep].astype(np.float64), conf[keep].astype(np.float64))
    if not len(blobs[anchor][0]):
        return points, confidence
    best_score, best_choice = -1.0, None
    for a_pt, a_conf in zip(*blobs[anchor]):
        support, choice = 0.0, {anchor: a_pt}
        for t in tethered:
            pts, conf = blobs[t]
            near = np.flatnonzero(np.hypot(*(pts - a_pt).T) <= max_distance) if len(pts) else []
            if len(near):
                k = near[np.argmax(conf[near])]
                support += float(conf[k])
                choice[t] = pts[k]
        score = float(a_conf) + (support if len(choice) == len(tethered) + 1 else 0.0)
        if score > best_score:
            best_score, best_choice = score, choice
    for c in [anchor, *tethered]:
        points[c] = best_choice[c] if c in best_choice else np.nan
    return points, confidence


def decide_pair(points, confidence, pair: Sequence[int], min_pair_confidence: float) -> np.ndarray:
    """Keep or drop two landmarks that exist together, such as the two RV insertions.

    On a short-axis slice the RV insertions are both there (the RV cavity meets
    the LV) or both absent (apical slices). Deciding them one by one, a weak
    peak on one side gives a half pair. Here the pair is present when its
    stronger detected member reaches ``min_pair_confidence``; then every member
    already detected (each above the decoder's own ``min_confidence``) is kept,
    otherwise both are dropped. Other rows are untouched.

    Args:
        points: ``(L, 2)`` decoded points, NaN rows = not detected.
        confidence: ``(L,)`` peak values in [0, 1].
        pair: the two row indices that exist together.
        min_pair_confidence: in [0, 1]; 0 keeps every detected member.

    Returns:
        ``(L, 2)`` float32 copy of ``points`` with the pair's rows set to NaN when the pair is absent.

    >>> pts = np.array([[10.0, 10.0], [np.nan, np.nan], [20.0, 20.0]])
    >>> decide_pair(pts, [0.25, 0.1, 0.9], (0, 1), 0.4)[:, 0].tolist()
    [nan, nan, 20.0]
    >>> decide_pair(pts, [0.45, 0.1, 0.9], (0, 1), 0.4)[:, 0].tolist()
    [10.0, nan, 20.0]
    """
    pts = np.array(points, dtype=np.float32, copy=True)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if pts.ndim != 2 or pts.shape[1] != 2 or conf.shape[0] != pts.shape[0]:
        raise InputError(None, f"points must be (L, 2) with L confidences, got {pts.shape} and {conf.shape}")
    members = [int(i) for i in pair]
    if len(members) != 2 or members[0] == members[1] or not all(0 <= i < len(pts) for i in members):
        raise InputError(None, f"pair must be two distinct row indices of {len(pts)}, got {list(pair)}")
    if not (math.isfinite(float(min_pair_confidence)) and 0.0 <= float(min_pair_confidence) <= 1.0):
        raise InputError(None, f"min_pair_confidence must be in [0, 1], got {min_pair_confidence}")
    detected = [i for i in members if np.isfinite(pts[i]).all()]
    strongest = max((conf[i] for i in detected), default=-1.0)
    if strongest < float(min_pair_confidence):
        pts[members] = np.nan
    return pts


# --------------------------------------------------------------------------- identities


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


def _unit(vector, what: str) -> np.ndarray:
    vec = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = np.hypot(*vec) if vec.shape == (2,) else 0.0
    if not (math.isfinite(norm) and norm > 0):
        raise InputError(None, f"{what} must be a non-zero (dx, dy) pixel vector, got {vector!r}")
    return vec / norm


def assign_identities(
    points,
    confidence,
    names: Sequence[str],
    *,
    rule: str = "auto",
    anterior_direction=(0.0, -1.0),
    lateral_direction=(1.0, 0.0),
    reference=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Name the blobs decoded from a single-channel cardiac heatmap.

    Only the ``len(names)`` most confident detections are used. Rules, all
    deterministic, in pixel space:

    * ``reference`` given (``(len(names), 2)`` array, or mapping name ->
      (x, y); NaN/missing = unknown): detections are matched one-to-one to
      the reference positions minimising the summed distance (Hungarian).
      Use it with positions from a neighbouring frame/slice, a per-channel
      model, or anatomy known to the caller. Works for any number of points.
    * ``rule="sax"``, names = (anterior RV insertion, inferior RV insertion,
      LV centre), e.g. ``("RVI-1", "RVI-2", "LVC")``: needs 3 detections.
      The two RV insertions are the pair farthest apart (seen from the LV
      centre they subtend well over 60 degrees, so the side between them is
      the longest of the triangle); the remaining point is the LV centre. Of
      the pair, the one further along ``anterior_direction`` (default
      ``(0, -1)``: up, smaller y, standard SAX display) is RVI-1. With fewer
      than 3 detections the identities are ambiguous and all are NaN.
    * ``rule="lax"``, names = (MV-1, MV-2): needs 2 detections. MV-1 is the
      one with the smaller projection on ``lateral_direction`` (default
      ``(1, 0)``: MV-1 is the image-left hinge). With 1 detection: NaN.
    * ``rule="auto"``: ``"sax"`` for 3 names, ``"lax"`` for 2.

    Args:
        points: ``(M, 2)`` float (x, y) pixels; confidence: ``(M,)``.
        names: expected landmark names, in the order described above.

    Returns:
        ``(len(names), 2)`` float32 points (NaN where not assigned) and
        ``(len(names),)`` float32 confidences (0 where not assigned).

    >>> pts = [[60.0, 80.0], [40.0, 60.0], [42.0, 100.0]]
    >>> p, c = assign_identities(pts, [0.9, 0.8, 0.7], ["RVI-1", "RVI-2", "LVC"])
    >>> p.tolist()
    [[40.0, 60.0], [42.0, 100.0], [60.0, 80.0]]
    >>> assign_identities([[30, 50], [10, 52]], [0.9, 0.9], ["MV-1", "MV-2"])[0].tolist()
    [[10.0, 52.0], [30.0, 50.0]]
    """
    pts = _as_points(points)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if conf.shape != (len(pts),):
        raise InputError(None, f"confidence must have shape ({len(pts)},), got {conf.shape}")
    names = list(names)
    k = len(names)
    if k == 0:
        raise InputError(None, "names must not be empty")
    if rule == "auto":
        rule = {3: "sax", 2: "lax"}.get(k, "")
        if not rule and reference is None:
            raise InputError(None, f"rule='auto' needs 3 (SAX) or 2 (LAX) names, got {k}; pass reference")
    elif rule not in ("sax", "lax"):
        raise InputError(None, f"rule must be 'auto', 'sax' or 'lax', got {rule!r}")
    if rule == "sax" and k != 3 and reference is None:
        raise InputError(None, f"rule 'sax' needs 3 names (RVI-1, RVI-2, LV centre), got {names}")
    if rule == "lax" and k != 2 and reference is None:
        raise InputError(None, f"rule 'lax' needs 2 names (MV-1, MV-2), got {names}")
    anterior = _unit(anterior_direction, "anterior_direction")
    lateral = _unit(lateral_direction, "lateral_direction")

    valid = ~np.isnan(pts[:, 0])
    pts, conf = pts[valid], conf[valid]
    top = _order(pts, conf)[:k]
    pts, conf = pts[top], conf[top]
    out_pts = np.full((k, 2), np.nan, dtype=np.float64)
    out_conf = np.zeros(k, dtype=np.float64)

    if reference is not None:
        if isinstance(reference, Mapping):
            unknown = set(reference) - set(names)
            if unknown:
                raise InputError(None, f"reference names {sorted(unknown)} are not in names {names}")
            ref = np.array([reference.get(n, (np.nan, np.nan)) for n in names], dtype=np.float64)
        else:
            ref = _as_points(reference, "reference")
        if ref.shape != (k, 2):
            raise InputError(None, f"reference must have shape ({k}, 2), got {ref.shape}")
        known = np.flatnonzero(~np.isnan(ref[:, 0]))
        if len(pts) and len(known):
            cost = np.hypot(*(pts[:, None, :] - ref[None, known, :]).transpose(2, 0, 1))
            det_idx, ref_idx = linear_sum_assignment(cost)
            out_pts[known[ref_idx]] = pts[det_idx]
            out_conf[known[ref_idx]] = conf[det_idx]
    elif rule == "sax" and len(pts) == 3:
        d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        i, j = np.unravel_index(np.argmax(d), d.shape)
        centre = 3 - i - j
        first, second = (i, j) if pts[i] @ anterior >= pts[j] @ anterior else (j, i)
        for slot, idx in enumerate((first, second, centre)):
            out_pts[slot], out_conf[slot] = pts[idx], conf[idx]
    elif rule == "lax" and len(pts) == 2:
        first, second = (0, 1) if pts[0] @ lateral <= pts[1] @ lateral else (1, 0)
        for slot, idx in enumerate((first, second)):
            out_pts[slot], out_conf[slot] = pts[idx], conf[idx]
    return out_pts.astype(np.float32), out_conf.astype(np.float32)


# --------------------------------------------------------------------------- suture decoding


def otsu_threshold(heatmap) -> float:
    """Exact Otsu threshold of a float heatmap, in heatmap units.

    Evaluates the between-class variance at every split between consecutive
    distinct values (no histogram binning) and returns the largest value of
    the background class at the best split (the first, if tied), so the
    foreground is ``heatmap > threshold`` -- the same convention as
    ``cv2.threshold(..., cv2.THRESH_OTSU)`` and the same value on uint8 data.
    A constant heatmap returns its value (empty foreground).

    >>> otsu_threshold([[0.0, 0.1, 0.2], [0.8, 0.9, 1.0]])
    0.2
    """
    values = np.asarray(heatmap, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise InputError(None, "heatmap for Otsu must be non-empty and finite")
    levels, counts = np.unique(values, return_counts=True)
    if len(levels) < 2:
        return float(levels[0])
    weight_low = np.cumsum(counts)[:-1].astype(np.float64)
    weight_high = values.size - weight_low
    sum_low = np.cumsum(levels * counts)[:-1]
    sum_high = (levels * counts).sum() - sum_low
    between = weight_low * weight_high * (sum_low / weight_low - sum_high / weight_high) ** 2
    return float(levels[int(np.argmax(between))])


def open_mask(mask, kernel_size: int = 3) -> np.ndarray:
    """Morphological opening with an elliptical ``kernel_size`` px kernel.

    Removes speckle smaller than the kernel. ``kernel_size`` 0 or 1 = off.
    (OpenCV's 3x3 ellipse is a cross.) Returns ``(H, W)`` bool.

    >>> m = np.zeros((7, 7), bool); m[1:5, 1:5] = True; m[6, 6] = True
    >>> int(open_mask(m).sum()), bool(open_mask(m)[6, 6])
    (12, False)
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(None, f"mask must be 2-D (H, W), got shape {arr.shape}")
    kernel_size = int(kernel_size)
    if kernel_size < 0:
        raise InputError(None, f"opening kernel size must be >= 0 px, got {kernel_size}")
    binary = (arr > 0).astype(np.uint8)
    if kernel_size <= 1:
        return binary.astype(bool)
    import cv2  # on first use (see decode_contours)

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))
    return cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel).astype(bool)


def _relabel(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Consecutive labels 1..M in order of first appearance (row-major); small blobs dropped."""
    flat = labels.ravel()
    values, first_pixel, areas = np.unique(flat, return_index=True, return_counts=True)
    keep = (values > 0) & (areas >= max(int(min_area), 1))
    values, first_pixel = values[keep], first_pixel[keep]
    lut = np.zeros(int(flat.max()) + 1 if flat.size else 1, dtype=np.int32)
    lut[values[np.argsort(first_pixel, kind="stable")]] = np.arange(1, len(values) + 1, dtype=np.int32)
    return lut[labels]


def label_blobs(mask, *, min_area: int = 1, connectivity: int = 8) -> np.ndarray:
    """Connected components of a mask: ``(H, W)`` int32, 0 background, 1..M blobs.

    Blobs with fewer than ``min_area`` pixels are dropped. ``connectivity`` 8
    (default) or 4.

    >>> m = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    >>> int(label_blobs(m).max()), int(label_blobs(m, connectivity=4).max())
    (1, 2)
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(None, f"mask must be 2-D (H, W), got shape {arr.shape}")
    if connectivity not in (4, 8):
        raise InputError(None, f"connectivity must be 4 or 8, got {connectivity}")
    import cv2  # on first use (see decode_contours)

    _, labels = cv2.connectedComponents((arr > 0).astype(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)
    return _relabel(labels, min_area)


def cut_large_blobs(labels, *, min_area: int = 1, cut_ratio: float = 1.0) -> np.ndarray:
    """Cut every blob larger than the mean blob area in two (suture seed).

    A blob whose pixel count exceeds ``cut_ratio`` times the mean area of
    all blobs (``cut_ratio=1``: the seed's rule) is cut by a
    straight line through its (unweighted) centroid, across the longer side
    of its bounding box: vertical line ``x = cx`` when the box is at least as
    wide as tall, horizontal ``y = cy`` otherwise. Pixels with ``x >= cx``
    (resp. ``y >= cy``) form the second part; no pixel is removed. One pass,
    not recursive; a lone blob (area = mean) is never cut. Parts smaller
    than ``min_area`` are dropped.

    With ``cut_ratio=1`` any blob even one pixel above the mean is cut, so
    blobs of unequal brightness or size (real network output) get split
    spuriously. A larger ``cut_ratio`` cuts only blobs that look like two
    merged ones, but keep it below ``2 (k + 1) / (k + 2)``: the ratio of a
    merged pair (twice a single blob) to the mean of it and ``k`` single
    blobs (1.33 for k = 1, 1.5 for k = 2); 1.25 is a reasonable choice.

    Args:
        labels: ``(H, W)`` int, 0 background, e.g. from :func:`label_blobs`.

    Returns:
        ``(H, W)`` int32 labels 1..M', consecutive.

    >>> lab = np.zeros((5, 12), int); lab[1:4, 0:2] = 1; lab[1:4, 4:12] = 2
    >>> cut = cut_large_blobs(lab)
    >>> int(cut.max()), cut[2].tolist()
    (3, [1, 1, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3])
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer) or (lab.size and lab.min() < 0):
        raise InputError(None, f"labels must be a 2-D non-negative integer array, got {lab.dtype} {lab.shape}")
    out = lab.astype(np.int64, copy=True)
    areas = np.bincount(out.ravel()) if out.size else np.zeros(1, np.int64)
    present = np.flatnonzero(areas[1:]) + 1
    if len(present) == 0:
        return np.zeros(lab.shape, dtype=np.int32)
    cut_ratio = float(cut_ratio)
    if not (math.isfinite(cut_ratio) and cut_ratio > 0):
        raise InputError(None, f"cut_ratio must be a positive number, got {cut_ratio}")
    mean_area = areas[present].mean() * cut_ratio
    next_label = int(out.max()) + 1
    for blob in present[areas[present] > mean_area]:
        rows, cols = np.nonzero(out == blob)
        width = cols.max() - cols.min() + 1
        height = rows.max() - rows.min() + 1
        second = cols >= cols.mean() if width >= height else rows >= rows.mean()
        out[rows[second], cols[second]] = next_label
        next_label += 1
    return _relabel(out, min_area)


def blob_centroids(
    labels, heatmap=None, *, weighted: bool = True, background: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and confidence of every labelled blob.

    Args:
        labels: ``(H, W)`` int, 0 background, blobs 1..M.
        heatmap: ``(H, W)`` float, same shape; needed for weighting and
            confidence (without it: plain centroids, confidence 1).
        weighted: centroid weighted by ``heatmap - background`` (clipped at
            0); plain pixel centroid when False or when a blob's weights are
            all 0. :func:`decode_sutures` passes its threshold as
            ``background`` so weights fall to 0 at the blob edge, which keeps
            the bias from the pixel grid small.

    Returns:
        ``(M, 2)`` float32 (x, y) pixels and ``(M,)`` float32 confidence (max
        heatmap value in the blob), in label order 1..M.

    >>> lab = np.array([[1, 1, 0], [0, 0, 0]]); h = np.array([[0.2, 0.6, 0.0], [0, 0, 0]])
    >>> p, c = blob_centroids(lab, h)
    >>> p.tolist(), c.tolist()
    ([[0.75, 0.0]], [0.6000000238418579])
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise InputError(None, f"labels must be a 2-D integer array, got {lab.dtype} {lab.shape}")
    count = int(lab.max()) if lab.size else 0
    if count <= 0:
        return _empty()
    index = np.arange(1, count + 1)
    rows, cols = np.indices(lab.shape, dtype=np.float64)
    area = ndimage.sum_labels(np.ones(lab.shape), lab, index)
    plain_x = ndimage.sum_labels(cols, lab, index) / np.maximum(area, 1)
    plain_y = ndimage.sum_labels(rows, lab, index) / np.maximum(area, 1)
    if heatmap is None:
        pts = np.stack([plain_x, plain_y], axis=1)
        return pts.astype(np.float32), np.ones(count, dtype=np.float32)
    heat = _as_heatmap(heatmap)
    if heat.shape != lab.shape:
        raise InputError(None, f"heatmap shape {heat.shape} differs from labels shape {lab.shape}")
    confidence = ndimage.maximum(heat, lab, index)
    x, y = plain_x, plain_y
    if weighted:
        w = np.clip(heat - float(background), 0.0, None)
        total = ndimage.sum_labels(w, lab, index)
        safe = np.where(total > 0, total, 1.0)
        x = np.where(total > 0, ndimage.sum_labels(w * cols, lab, index) / safe, plain_x)
        y = np.where(total > 0, ndimage.sum_labels(w * rows, lab, index) / safe, plain_y)
    pts = np.stack([x, y], axis=1)
    return pts.astype(np.float32), np.asarray(confidence, dtype=np.float32)


def decode_sutures(
    heatmap,
    *,
    threshold: float | None = None,
    opening_kernel: int = 3,
    cut: bool = True,
    cut_ratio: float = 1.0,
    min_area: int = 1,
    min_confidence: float = 0.0,
    weighted: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Suture seed decoding (Yao et al.): any number of points, zero included.

    ``heatmap > threshold`` (:func:`otsu_threshold` when ``threshold`` is
    None, else the value in heatmap units) -> :func:`open_mask` with an
    elliptical ``opening_kernel`` px kernel (0/1 = off) -> :func:`label_blobs`
    (8-connected, ``min_area``) -> :func:`cut_large_blobs` when ``cut``
    (blobs above ``cut_ratio`` x mean area; 1.0 = seed rule, see there) ->
    :func:`blob_centroids` (weighted by ``heatmap - threshold`` when
    ``weighted``, else plain pixel centroids). Blobs whose
    peak value is below ``min_confidence`` are dropped (default 0: keep all;
    Otsu always splits the histogram, so a heatmap holding only faint noise
    yields points unless a floor such as 0.3 is set).

    Returns:
        ``(M, 2)`` float32 (x, y) pixels and ``(M,)`` float32 confidence (max
        heatmap value in the blob), sorted by confidence descending.

    >>> h = encode_heatmap([[10, 8], [30, 20]], (32, 48), sigma2=5.0)
    >>> pts, conf = decode_sutures(h)
    >>> pts.round(2).tolist(), conf.tolist()
    ([[10.0, 8.0], [30.0, 20.0]], [1.0, 1.0])
    >>> decode_sutures(np.zeros((8, 8)))[0].shape
    (0, 2)
    """
    heat = _as_heatmap(heatmap)
    if threshold is None:
        threshold = otsu_threshold(heat)
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise InputError(None, f"threshold must be finite, got {threshold}")
    mask = open_mask(heat > threshold, opening_kernel)
    labels = label_blobs(mask, min_area=min_area)
    if cut:
        labels = cut_large_blobs(labels, min_area=min_area, cut_ratio=cut_ratio)
    pts, conf = blob_centroids(labels, heat, weighted=weighted, background=threshold)
    keep = conf >= min_confidence
    pts, conf = pts[keep], conf[keep]
    order = _order(pts.astype(np.float64), conf.astype(np.float64))
    return pts[order], conf[order]
