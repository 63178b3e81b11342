"""From image pixels to network input and back, with exact inverses.

Pixel convention (as everywhere in the package): a 2D point is ``(x, y) =
(column, row)`` and integer coordinates are pixel *centres*; the first pixel
covers ``[-0.5, 0.5]``. OpenCV's ``warpAffine`` samples with the same
convention, so the affine maps below are used with it unchanged.

Every preparation returns a :class:`PreprocessTransform`, an axis-aligned
affine map ``x' = scale_x * x + offset_x`` (same for y) from original pixels to
network pixels. Points go both ways exactly; heatmaps go back to the original
grid by one bilinear warp with the inverse map.

* Cardiac (:func:`prepare_cardiac`): resample to a fixed in-plane spacing and
  zero-pad or crop to 256x256 around the image centre, as *one* warp per frame,
  then normalise intensities to [0, 1] with robust percentiles.
* Sutures (:func:`pad_to_multiple`, :func:`prepare_suture_frame`): pad at the
  bottom and right to a multiple of 32, never resize; network coordinates are
  original coordinates.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np
from scipy import ndimage

from .errors import InputError

__all__ = [
    "PreprocessTransform",
    "normalise_intensity",
    "prepare_cardiac",
    "pad_to_multiple",
    "prepare_suture_frame",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIN_IMAGE_SIDE",
]

#: Per-channel RGB mean and std of ImageNet, the usual normalisation of an
#: ImageNet-pretrained encoder (ResNeXt), for RGB in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Smallest accepted image side in pixels. One row or column has no in-plane
#: extent to resample or find landmarks in.
MIN_IMAGE_SIDE = 2

# Downsampling by more than this factor gets a Gaussian pre-blur (anti-aliasing).
_ANTIALIAS_FROM = 1.5


@dataclass(frozen=True)
class PreprocessTransform:
    """Axis-aligned affine map between original pixels and network pixels.

    ``x_net = scale[0] * x + offset[0]``, ``y_net = scale[1] * y + offset[1]``
    with ``(x, y)`` = (column, row) pixel centres.

    Attributes:
        original_shape: ``(H, W)`` of the original frame.
        network_shape: ``(h, w)`` of the network grid.
        scale: ``(sx, sy)`` network pixels per original pixel.
        offset: ``(tx, ty)`` network pixels.
        original_spacing_mm: ``(x, y)`` pixel size of the original, if known.
        network_spacing_mm: ``(x, y)`` pixel size on the network grid, if known.
        antialias_sigma: ``(x, y)`` Gaussian pre-blur in original pixels (0 = none).
        notes: what happened, for people (e.g. resampled and cropped).

    >>> t = PreprocessTransform((4, 6), (8, 12), scale=(2.0, 2.0), offset=(0.5, 0.5))
    >>> t.to_network([[1.0, 2.0]]).tolist()
    [[2.5, 4.5]]
    >>> t.to_original(t.to_network([[1.0, 2.0]])).tolist()
    [[1.0, 2.0]]
    """

    original_shape: tuple
    network_shape: tuple
    scale: tuple = (1.0, 1.0)
    offset: tuple = (0.0, 0.0)
    original_spacing_mm: tuple | None = None
    network_spacing_mm: tuple | None = None
    antialias_sigma: tuple = (0.0, 0.0)
    notes: str = ""

    def __post_init__(self) -> None:
        def pair(name, value, cast, positive):
            try:
                out = tuple(cast(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"PreprocessTransform.{name} must be a pair, got {value!r}") from None
            if len(out) != 2 or not all(math.isfinite(v) for v in out):
                raise ValueError(f"PreprocessTransform.{name} must be two finite numbers, got {value!r}")
            if positive and not all(v > 0 for v in out):
                raise ValueError(f"PreprocessTransform.{name} must be positive, got {value!r}")
            object.__setattr__(self, name, out)

        pair("original_shape", self.original_shape, int, True)
        pair("network_shape", self.network_shape, int, True)
        pair("scale", self.scale, float, True)
        pair("offset", self.offset, float, False)
        pair("antialias_sigma", self.antialias_sigma, float, False)
        for name in ("original_spacing_mm", "network_spacing_mm"):
            if getattr(self, name) is not None:
                pair(name, getattr(self, name), float, True)
        object.__setattr__(self, "notes", str(self.notes))

    # -- matrices ------------------------------------------------------------
    @property
    def matrix(self) -> np.ndarray:
        """``(2, 3)`` float64 affine original -> network (OpenCV layout)."""
        (sx, sy), (tx, ty) = self.scale, self.offset
        return np.array([[sx, 0.0, tx], [0.0, sy, ty]])

    @property
    def inverse_matrix(self) -> np.ndarray:
        """``(2, 3)`` float64 affine network -> original."""
        (sx, sy), (tx, ty) = self.scale, self.offset
        return np.array([[1.0 / sx, 0.0, -tx / sx], [0.0, 1.0 / sy, -ty / sy]])

    # -- points ----------------------------------------------------------------
    @staticmethod
    def _points(points) -> np.ndarray:
        p = np.asarray(points)
        if p.dtype.kind != "f":
            p = p.astype(np.float64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"points must be (N, 2) (x, y); got shape {p.shape}")
        return p

    def to_network(self, points) -> np.ndarray:
        """``(N, 2)`` original ``(x, y)`` pixels -> network pixels (NaN stays NaN; float dtype kept)."""
        p = self._points(points)
        out = p.astype(np.float64) * np.array(self.scale) + np.array(self.offset)
        return out.astype(p.dtype)

    def to_original(self, points) -> np.ndarray:
        """``(N, 2)`` network ``(x, y)`` pixels -> original pixels (NaN stays NaN; float dtype kept)."""
        p = self._points(points)
        out = (p.astype(np.float64) - np.array(self.offset)) / np.array(self.scale)
        return out.astype(p.dtype)

    # -- images --------------------------------------------------------------
    def heatmap_to_original(self, heatmap) -> np.ndarray:
        """Resample network-grid heatmaps onto the original pixel grid.

        Args:
            heatmap: ``(h, w)`` or ``(C, h, w)`` on the network grid.

        Returns:
            ``(H, W)`` or ``(C, H, W)`` float32: bilinear samples at the exact
            inverse map of every original pixel; 0 where that falls outside
            the network grid.

        >>> t = PreprocessTransform((2, 2), (4, 4), scale=(1.0, 1.0), offset=(1.0, 1.0))
        >>> h = np.zeros((4, 4), np.float32); h[1, 2] = 1.0
        >>> t.heatmap_to_original(h).tolist()
        [[0.0, 1.0], [0.0, 0.0]]
        """
        hm = np.asarray(heatmap, dtype=np.float32)
        single = hm.ndim == 2
        if single:
            hm = hm[None]
        if hm.ndim != 3 or hm.shape[1:] != self.network_shape:
            raise ValueError(f"heatmap must be (h, w) or (C, h, w) with (h, w) = {self.network_shape}; got {np.shape(heatmap)}")
        big_h, big_w = self.original_shape
        out = np.empty((hm.shape[0], big_h, big_w), np.float32)
        for c in range(hm.shape[0]):
            out[c] = cv2.warpAffine(hm[c], self.matrix, (big_w, big_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        return out[0] if single else out

    def valid_mask(self) -> np.ndarray:
        """``(h, w)`` bool: network pixels whose centre lies on the original image."""
        h, w = self.network_shape
        big_h, big_w = self.original_shape
        inv = self.inverse_matrix
        x = np.arange(w) * inv[0, 0] + inv[0, 2]
        y = np.arange(h) * inv[1, 1] + inv[1, 2]
        return ((y >= -0.5) & (y <= big_h - 0.5))[:, None] & ((x >= -0.5) & (x <= big_w - 0.5))[None, :]

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-friendly dict; :meth:`from_dict` inverts it exactly."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessTransform":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown PreprocessTransform keys: {sorted(unknown)}")
        return cls(**d)


# ---------------------------------------------------------------------------
# intensities
# ---------------------------------------------------------------------------
def normalise_intensity(frames, percentiles=(1.0, 99.0), mask=None, *, per_frame: bool = False) -> np.ndarray:
    """Map intensities to [0, 1] between two robust percentiles, clipped.

    Args:
        frames: ``(F, H, W)`` (or any shape) real array.
        percentiles: ``(low, high)`` in 0..100; low maps to 0, high to 1.
        mask: optional bool array of ``frames``' shape; only these pixels set
            the percentiles (e.g. excluding padding).
        per_frame: compute percentiles separately for each frame (axis 0)
            instead of over the whole stack.

    Returns:
        float32 array of ``frames``' shape in [0, 1]. When the percentiles
        coincide the min and max are used instead; a constant image gives
        zeros.

    >>> x = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 1e6]])
    >>> normalise_intensity(x, (0, 80)).round(3).tolist()
    [[0.0, 0.25, 0.5, 0.75, 1.0, 1.0]]
    >>> normalise_intensity(np.full((2, 2), 7.0)).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    x = np.asarray(frames)
    if x.dtype.kind not in "uif":
        raise ValueError(f"frames must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != x.shape:
            raise ValueError(f"mask shape {mask.shape} differs from frames shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError(None, "image contains NaN or infinite values; cannot normalise intensities")
    if per_frame and x.ndim >= 2:
        return np.stack([normalise_intensity(x[i], percentiles, None if mask is None else mask[i]) for i in range(len(x))])
    values = x[mask] if mask is not None else x.ravel()
    out = np.zeros(x.shape, np.float32)
    if values.size == 0:
        return out
    lo, hi = np.percentile(values, [lo_p, hi_p])
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        return out
    np.subtract(x, np.float32(lo), out=out)
    out *= np.float32(1.0 / (hi - lo))
    return np.clip(out, 0.0, 1.0, out=out)


# ---------------------------------------------------------------------------
# cardiac
# ---------------------------------------------------------------------------
def _check_frames(frames, source) -> np.ndarray:
    x = np.asarray(frames)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(source, f"expected (frames, rows, columns) greyscale frames, got shape {np.shape(frames)}")
    if x.dtype.kind not in "uif":
        raise InputError(source, f"pixels must be real numbers, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise InputError(source, "no frames")
    h, w = x.shape[1:]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise InputError(source, f"image is {w}x{h} pixels (W x H); need at least {MIN_IMAGE_SIDE} pixels in each "
                                 f"direction to find landmarks")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise InputError(source, "image contains NaN or infinite values")
    return x


def _fit_note(length: float, size: int) -> str:
    if abs(length - size) < 0.5:
        return "kept"
    return "cropped" if length > size else "zero-padded"


def prepare_cardiac(frames, spacing_xy, *, target_spacing_mm: float | None = 1.4, size=(256, 256),
                    percentiles=(1.0, 99.0), per_frame: bool = False, source=None):
    """Resample, centre-pad/crop and normalise cardiac frames for the network.

    One affine warp per frame (bilinear, ``cv2.warpAffine``) does resampling
    and padding/cropping together, so the inverse is exactly the inverse
    affine. The original image centre ``((W-1)/2, (H-1)/2)`` lands on the
    network centre ``((w-1)/2, (h-1)/2)``. When a pixel shrinks by more than
    1.5x, each frame is first blurred with a Gaussian of sigma
    ``(factor - 1) / 2`` original pixels per axis (anti-aliasing; symmetric,
    so it moves no landmark). All frames share one transform. Intensities are
    then normalised with :func:`normalise_intensity` over the real image
    content only (padding excluded), and the padding is set to 0.

    Args:
        frames: ``(F, H, W)`` (or ``(H, W)``) greyscale, any real dtype.
        spacing_xy: ``(column spacing, row spacing)`` in mm (anisotropic OK).
        target_spacing_mm: network pixel size in mm; None keeps the original
            spacing (pad/crop only).
        size: ``(h, w)`` network grid.
        percentiles: intensity percentiles mapped to 0 and 1.
        per_frame: normalise each frame separately.
        source: file name for error messages.

    Returns:
        ``(net, transform)``: ``(F, h, w)`` float32 in [0, 1] and the
        :class:`PreprocessTransform` original -> network.

    Raises:
        InputError: bad shape (e.g. a 1x1 image), non-finite pixels, bad spacing.

    >>> net, t = prepare_cardiac(np.random.rand(2, 400, 200), (1.12, 1.12))
    >>> net.shape, round(t.scale[0], 6), float(net.min()), float(net.max())
    ((2, 256, 256), 0.8, 0.0, 1.0)
    >>> t.notes
    'resampled 1.12x1.12 mm -> 1.40x1.40 mm pixels (200x400 -> 160x320 px, W x H); zero-padded width and cropped height to 256x256'
    """
    x = _check_frames(frames, source)
    n_f, big_h, big_w = x.shape
    try:
        sx_mm, sy_mm = (float(v) for v in spacing_xy)
    except (TypeError, ValueError):
        raise InputError(source, f"pixel spacing must be two numbers (x, y) in mm, got {spacing_xy!r}") from None
    if not (math.isfinite(sx_mm) and math.isfinite(sy_mm) and sx_mm > 0 and sy_mm > 0):
        raise InputError(source, f"pixel spacing must be positive, got {spacing_xy!r} mm")
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive (h, w), got {size!r}")
    if target_spacing_mm is None:
        tx_mm, ty_mm = sx_mm, sy_mm
    else:
        tx_mm = ty_mm = float(target_spacing_mm)
        if not (math.isfinite(tx_mm) and tx_mm > 0):
            raise ValueError(f"target_spacing_mm must be positive, got {target_spacing_mm!r}")

    scale = (sx_mm / tx_mm, sy_mm / ty_mm)
    offset = ((w - 1) / 2.0 - scale[0] * (big_w - 1) / 2.0, (h - 1) / 2.0 - scale[1] * (big_h - 1) / 2.0)
    sigma = tuple((1.0 / s - 1.0) / 2.0 if 1.0 / s > _ANTIALIAS_FROM else 0.0 for s in scale)
    res_w, res_h = big_w * scale[0], big_h * scale[1]
    fit_w, fit_h = _fit_note(res_w, w), _fit_note(res_h, h)
    fit = f"{fit_w} to {w}x{h}" if fit_w == fit_h else f"{fit_w} width and {fit_h} height to {w}x{h}"
    notes = (f"resampled {sx_mm:.2f}x{sy_mm:.2f} mm -> {tx_mm:.2f}x{ty_mm:.2f} mm pixels "
             f"({big_w}x{big_h} -> {round(res_w)}x{round(res_h)} px, W x H)")
    if any(sigma):
        notes += f" with anti-aliasing blur sigma {sigma[0]:.2f}x{sigma[1]:.2f} px"
    notes += f"; {fit}"
    transform = PreprocessTransform(
        original_shape=(big_h, big_w), network_shape=(h, w), scale=scale, offset=offset,
        original_spacing_mm=(sx_mm, sy_mm), network_spacing_mm=(tx_mm, ty_mm), antialias_sigma=sigma, notes=notes,
    )

    warped = np.empty((n_f, h, w), np.float32)
    inverse = transform.inverse_matrix
    for f in range(n_f):
        frame = x[f]
        if any(sigma):
            frame = ndimage.gaussian_filter(frame, sigma=(sigma[1], sigma[0]), mode="nearest", truncate=3.0)
        # Replicated edges keep the bilinear border ring free of fake dark pixels; padding is zeroed below.
        warped[f] = cv2.warpAffine(frame, inverse, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)
    valid = np.broadcast_to(transform.valid_mask(), warped.shape)
    net = normalise_intensity(warped, percentiles, mask=valid, per_frame=per_frame)
    net[~valid] = 0.0
    return net, transform


# ---------------------------------------------------------------------------
# sutures
# ---------------------------------------------------------------------------
def pad_to_multiple(image, multiple: int = 32, *, value: float = 0.0):
    """Pad at the bottom and right so height and width are multiples of ``multiple``.

    Never resizes: the content keeps its pixel positions, so network
    coordinates equal original coordinates and the inverse is a crop.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array.
        multiple: positive int.
        value: fill value of the padding.

    Returns:
        ``(padded, transform)``: ``(H', W'[, C])`` same dtype, and the identity
        :class:`PreprocessTransform` with ``network_shape = (H', W')``.

    >>> padded, t = pad_to_multiple(np.ones((500, 281, 3), np.float32))
    >>> padded.shape, t.notes
    ((512, 288, 3), 'padded 281x500 -> 288x512 px (W x H) at bottom/right with 0; no resizing')
    """
    a = np.asarray(image)
    if a.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {a.shape}")
    if int(multiple) != multiple or multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    multiple = int(multiple)
    big_h, big_w = a.shape[:2]
    if min(big_h, big_w) < 1:
        raise ValueError(f"image is empty, shape {a.shape}")
    new_h = -(-big_h // multiple) * multiple
    new_w = -(-big_w // multiple) * multiple
    pad = [(0, new_h - big_h), (0, new_w - big_w)] + [(0, 0)] * (a.ndim - 2)
    padded = np.pad(a, pad, mode="constant", constant_values=value) if (new_h, new_w) != (big_h, big_w) else a.copy()
    if (new_h, new_w) == (big_h, big_w):
        notes = f"{big_w}x{big_h} px (W x H) already a multiple of {multiple}; unchanged"
    else:
        notes = f"padded {big_w}x{big_h} -> {new_w}x{new_h} px (W x H) at bottom/right with {value:g}; no resizing"
    transform = PreprocessTransform(original_shape=(big_h, big_w), network_shape=(new_h, new_w), notes=notes)
    return padded, transform


def prepare_suture_frame(rgb, *, mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple: int = 32, source=None):
    """Normalise an RGB frame per channel and pad it for the suture network.

    ``(rgb - mean) / std`` per channel, then zero padding at the bottom/right
    (zero = the mean colour after normalising) to a multiple of ``multiple``.

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1], R, G, B order
            (:func:`heatmap_landmarks.io.read_rgb_frame` gives this).
        mean, std: per-channel constants for RGB in [0, 1]; default ImageNet.
        multiple: pad height and width to a multiple of this.
        source: file name for error messages.

    Returns:
        ``(net, transform)``: ``(3, H', W')`` float32 and the
        :class:`PreprocessTransform` (identity scale, bottom/right padding).

    >>> net, t = prepare_suture_frame(np.full((288, 500, 3), 0.5, np.float32))
    >>> net.shape, t.network_shape
    ((3, 288, 512), (288, 512))
    """
    x = np.asarray(rgb)
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(source, f"expected an (H, W, 3) RGB frame, got shape {x.shape}")
    if x.dtype.kind not in "uif":
        raise InputError(source, f"pixels must be real numbers, got dtype {x.dtype}")
    if min(x.shape[:2]) < MIN_IMAGE_SIDE:
        raise InputError(source, f"frame is {x.shape[1]}x{x.shape[0]} pixels (W x H); too small")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise InputError(source, "frame contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise InputError(source, f"RGB values span {lo:g}..{hi:g}; expected floats in [0, 1] (divide 8-bit images by 255)")
    mean = np.asarray(mean, np.float32).reshape(1, 1, 3)
    std = np.asarray(std, np.float32).reshape(1, 1, 3)
    if not np.all(std > 0):
        raise ValueError(f"std must be positive, got {std.ravel().tolist()}")
    normalised = (x - mean) / std
    padded, transform = pad_to_multiple(normalised, multiple, value=0.0)
    return np.ascontiguousarray(padded.transpose(2, 0, 1)), transform
