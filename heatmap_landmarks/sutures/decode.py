"""Suture heatmap -> any number of points (Otsu threshold, opening, cutting, centroids): the suture decoder.

The steps are public (:func:`otsu_threshold`, :func:`open_mask`,
:func:`label_blobs`, :func:`cut_large_blobs`, :func:`blob_centroids`) so that
a user interface can show and tune them; :func:`decode_sutures` chains them
and :class:`SutureDecoder` holds a model card's settings for it.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..heatmaps import check_heatmap, no_points, strongest_first
from ..heatmaps import encode_heatmap  # noqa: F401 (the doctests draw with it)

__all__ = ["SutureDecoder", "blob_centroids", "cut_large_blobs", "decode_sutures", "label_blobs", "open_mask",
           "otsu_threshold", "user_settings"]


#: Largest opening kernel, px (a model card allows the same): far above any suture blob; a huge kernel only burns time.
MAX_OPENING_PX = 255


@dataclasses.dataclass(frozen=True)
class SutureDecoder:
    """A suture model's decoding settings (see :func:`decode_sutures` for each).

    Built from a card with :meth:`from_card`; unknown setting names are refused.
    """

    threshold: float | None = None
    opening_kernel: int = 3
    cut: bool = True
    cut_ratio: float = 1.0
    min_area: int = 1
    min_confidence: float = 0.0
    weighted: bool = True

    @classmethod
    def settings_names(cls) -> tuple:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_card(cls, card, **overrides) -> "SutureDecoder":
        """The card's ``decoder`` settings, with ``overrides`` on top."""
        return cls().with_settings(**dict(card.decoder or {})).with_settings(**overrides)

    def with_settings(self, **settings) -> "SutureDecoder":
        """A copy with the given settings changed (``threshold=None`` is Otsu)."""
        unknown = sorted(set(settings) - set(self.settings_names()))
        if unknown:
            raise InputError(None, f"unknown suture decoder setting(s) {', '.join(map(repr, unknown))}; "
                                   f"valid: {', '.join(self.settings_names())}")
        return dataclasses.replace(self, **settings)

    def settings(self) -> dict:
        """All settings as a model card's ``decoder`` dict."""
        return dataclasses.asdict(self)

    def decode(self, heatmap) -> tuple[np.ndarray, np.ndarray]:
        """``(H, W)`` heatmap -> ``(M, 2)`` float32 (x, y) px and ``(M,)`` confidence, strongest first."""
        return decode_sutures(heatmap, **self.settings())


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
        return no_points()
    index = np.arange(1, count + 1)
    rows, cols = np.indices(lab.shape, dtype=np.float64)
    area = ndimage.sum_labels(np.ones(lab.shape), lab, index)
    plain_x = ndimage.sum_labels(cols, lab, index) / np.maximum(area, 1)
    plain_y = ndimage.sum_labels(rows, lab, index) / np.maximum(area, 1)
    if heatmap is None:
        pts = np.stack([plain_x, plain_y], axis=1)
        return pts.astype(np.float32), np.ones(count, dtype=np.float32)
    heat = check_heatmap(heatmap)
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
    heat = check_heatmap(heatmap)
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
    order = strongest_first(pts.astype(np.float64), conf.astype(np.float64))
    return pts[order], conf[order]


def user_settings(threshold=None, opening_kernel=None, cut=None, *, threshold_name: str = "heatmap threshold",
                  opening_name: str = "opening kernel") -> dict:
    """The decoder settings a user may change (CLI options, the Slicer panel), checked: a dict of those given.

    Args:
        threshold: heatmap threshold in [0, 1); None = Otsu per frame (the card's setting is kept).
        opening_kernel: morphological opening in px (whole number >= 0; 0 = off); None = the card's.
        cut: split blobs larger than the mean blob; None = the card's.
        threshold_name, opening_name: what messages call the two settings (the command line says
            ``--threshold`` and ``--opening``).

    >>> user_settings(0.5, 3, False)
    {'threshold': 0.5, 'opening_kernel': 3, 'cut': False}
    >>> user_settings(opening_kernel=-1, opening_name="--opening")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: --opening must be a whole number of pixels from 0 to 255, got -1
    """
    out = {}
    if threshold is not None:
        t = float(threshold) if isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool) \
            else math.nan
        if not (math.isfinite(t) and 0.0 <= t < 1.0):
            raise InputError(None, f"{threshold_name} must be in [0, 1), got {threshold!r}")
        out["threshold"] = t
    if opening_kernel is not None:
        if (isinstance(opening_kernel, bool) or not isinstance(opening_kernel, (int, np.integer))
                or not 0 <= opening_kernel <= MAX_OPENING_PX):
            raise InputError(None, f"{opening_name} must be a whole number of pixels from 0 to {MAX_OPENING_PX}, "
                                   f"got {opening_kernel!r}")
        out["opening_kernel"] = int(opening_kernel)
    if cut is not None:
        out["cut"] = bool(cut)
    return out
