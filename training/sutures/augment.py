"""Point-exact augmentation of RGB endoscopic frames (Yao et al., AdaptOR 2021).

Geometric transforms move the image with ``cv2.warpAffine`` and the points
with the *same* affine matrix, in the package's pixel convention (integer
coordinates are pixel centres, which is also OpenCV's), so a feature drawn at
a point lands on the transformed point. The pipeline of the seed:

* horizontal flip, p = 0.5; vertical flip, p = 0.5
* rotation by a uniform angle in [-40, 40] degrees about the frame centre
  (p configurable; the frame keeps its size, corners that leave are lost and
  uncovered corners are filled with black, never mirrored: a mirrored border
  would show suture threads without labels)
* colour jitter (brightness, contrast, saturation, hue), p = 0.5
* random brightness/contrast (additive brightness, contrast about mid-grey), p = 0.5
* optional random crop (a training-speed device: the network is fully
  convolutional, so training on crops of the native-scale frame changes no
  geometry; nothing is ever resized)
* optional, for scarce real frames (all off by default; when off they draw no
  random numbers, so older configs give the very same samples): zoom about
  the frame centre (``scale_p``, factor in ``scale_range``; points move with
  the same affine), Gaussian blur, softening (downscale then upscale back,
  like the upscaled web frames), sensor noise and JPEG re-compression

Points are carried through every transform. Points that end up outside the
frame are not silently lost: :func:`augment` returns all transformed points
(the heatmap target draws the visible tail of a Gaussian whose centre just
left the frame) with an ``inside`` mask, and counts the dropped ones by cause
in an :class:`AugmentStats`.

Images are ``(H, W, 3)`` float32 RGB in [0, 1]; points ``(N, 2)`` float32
``(x, y)`` pixels.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from heatmap_landmarks.errors import InputError

from .config import SutureAugmentConfig

__all__ = [
    "AugmentResult",
    "AugmentStats",
    "augment",
    "brightness_contrast",
    "colour_jitter",
    "crop",
    "degrade",
    "hflip",
    "inside_frame",
    "rotate",
    "vflip",
]


@dataclass
class AugmentStats:
    """Counts of points seen and dropped by each transform (nothing dropped silently).

    >>> s = AugmentStats(); s.seen += 3; s.dropped["rotation"] += 1; s.summary()
    '3 points augmented; dropped 1 (rotation: 1)'
    """

    seen: int = 0
    dropped: Counter = field(default_factory=Counter)

    def merge(self, other: "AugmentStats") -> None:
        self.seen += other.seen
        self.dropped.update(other.dropped)

    def summary(self) -> str:
        total = sum(self.dropped.values())
        text = f"{self.seen} points augmented; dropped {total}"
        if total:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped.items())) + ")"
        return text

    def to_dict(self) -> dict:
        return {"seen": self.seen, "dropped": dict(self.dropped)}


@dataclass
class AugmentResult:
    """Output of :func:`augment`.

    Attributes:
        image: ``(h, w, 3)`` float32 in [0, 1].
        points: ``(N, 2)`` float32, every input point transformed (some may lie outside).
        inside: ``(N,)`` bool, the point lies in the output frame.
        stats: counts of this call.
    """

    image: np.ndarray
    points: np.ndarray
    inside: np.ndarray
    stats: AugmentStats

    @property
    def visible_points(self) -> np.ndarray:
        """``(M, 2)`` float32, the points inside the frame (the labels of the augmented frame)."""
        return self.points[self.inside]


# --------------------------------------------------------------------------- geometry
def _pts(points) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p


def inside_frame(points, shape) -> np.ndarray:
    """``(N,)`` bool: the point's pixel lies in an ``(H, W)`` frame (``-0.5 <= x < W - 0.5``, same for y).

    >>> inside_frame([[0, 0], [-0.6, 3], [9.4, 0]], (4, 10)).tolist()
    [True, False, True]
    """
    p = _pts(points)
    h, w = int(shape[0]), int(shape[1])
    return (p[:, 0] >= -0.5) & (p[:, 0] < w - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] < h - 0.5)


def hflip(image: np.ndarray, points) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right: ``x' = W - 1 - x``.

    >>> img = np.zeros((2, 4, 3), np.float32); img[0, 0] = 1
    >>> out, p = hflip(img, [[0.0, 0.0]]); float(out[0, 3, 0]), p.tolist()
    (1.0, [[3.0, 0.0]])
    """
    w = image.shape[1]
    p = _pts(points).copy()
    p[:, 0] = (w - 1) - p[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), p.astype(np.float32)


def vflip(image: np.ndarray, points) -> tuple[np.ndarray, np.ndarray]:
    """Mirror top-bottom: ``y' = H - 1 - y``."""
    h = image.shape[0]
    p = _pts(points).copy()
    p[:, 1] = (h - 1) - p[:, 1]
    return np.ascontiguousarray(image[::-1]), p.astype(np.float32)


def rotation_matrix(angle_deg: float, shape) -> np.ndarray:
    """``(2, 3)`` affine rotating by ``angle_deg`` (counter-clockwise as seen on screen) about the frame centre."""
    h, w = int(shape[0]), int(shape[1])
    return cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle_deg), 1.0)


def rotate(image: np.ndarray, points, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate frame and points about the frame centre; same output size, black fill.

    Returns ``(image, points)``; points may now lie outside (see :func:`inside_frame`).

    >>> img = np.zeros((9, 9, 3), np.float32)
    >>> _, p = rotate(img, [[8.0, 4.0]], 90.0); np.round(p, 4).tolist()  # right edge -> top edge
    [[4.0, 0.0]]
    """
    h, w = image.shape[:2]
    m = rotation_matrix(angle_deg, (h, w))
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    p = _pts(points)
    moved = p @ m[:, :2].T + m[:, 2]
    return out.reshape(image.shape), moved.astype(np.float32)


def zoom(image: np.ndarray, points, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale frame and points by ``factor`` about the frame centre; same output size, black fill.

    >>> img = np.zeros((9, 9, 3), np.float32)
    >>> _, p = zoom(img, [[6.0, 4.0]], 2.0); p.tolist()  # 2 px right of the centre -> 4 px
    [[8.0, 4.0]]
    """
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), 0.0, float(factor))
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    moved = _pts(points) @ m[:, :2].T + m[:, 2]
    return out.reshape(image.shape), moved.astype(np.float32)


def crop(image: np.ndarray, points, top: int, left: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``image[top:top+height, left:left+width]``; points shift by ``(-left, -top)``."""
    h, w = image.shape[:2]
    if not (0 <= top and 0 <= left and top + height <= h and left + width <= w):
        raise InputError(None, f"crop {height}x{width} at ({top}, {left}) does not fit a {h}x{w} frame")
    p = _pts(points) - np.array([left, top], dtype=np.float64)
    return np.ascontiguousarray(image[top:top + height, left:left + width]), p.astype(np.float32)


# --------------------------------------------------------------------------- colour
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def colour_jitter(image: np.ndarray, brightness: float, contrast: float, saturation: float,
                  hue: float) -> np.ndarray:
    """torchvision-style jitter with the given factors (not ranges); hue is a fraction of a turn.

    >>> img = np.full((2, 2, 3), 0.5, np.float32)
    >>> round(float(colour_jitter(img, 1.2, 1.0, 1.0, 0.0)[0, 0, 0]), 4)
    0.6
    """
    x = np.clip(image * np.float32(brightness), 0.0, 1.0)
    mean = float((x @ _LUMA).mean())
    x = np.clip((x - mean) * np.float32(contrast) + mean, 0.0, 1.0)
    grey = (x @ _LUMA)[..., None]
    x = np.clip((x - grey) * np.float32(saturation) + grey, 0.0, 1.0)
    if hue:
        hsv = cv2.cvtColor(x.astype(np.float32), cv2.COLOR_RGB2HSV)  # H in degrees [0, 360)
        hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * float(hue), 360.0)
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def brightness_contrast(image: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """``(x - 0.5) * contrast + 0.5 + brightness``, clipped to [0, 1].

    >>> round(float(brightness_contrast(np.full((1, 1, 3), 0.5, np.float32), 0.1, 2.0)[0, 0, 0]), 4)
    0.6
    """
    return np.clip((image - 0.5) * np.float32(contrast) + 0.5 + np.float32(brightness), 0.0, 1.0).astype(np.float32)


def degrade(image: np.ndarray, rng: np.random.Generator, config: SutureAugmentConfig) -> np.ndarray:
    """Blur, softening, noise and JPEG as configured (no geometry change: points stay valid).

    Draws random numbers only for the steps whose probability is above 0.

    >>> img = np.full((16, 16, 3), 0.5, np.float32)
    >>> out = degrade(img, np.random.default_rng(0), SutureAugmentConfig(noise_p=1.0, noise_std=0.1))
    >>> out.shape, bool(np.abs(out - 0.5).max() > 0)
    ((16, 16, 3), True)
    """
    img = image
    h, w = img.shape[:2]
    if config.blur_p > 0 and rng.random() < config.blur_p:
        sigma = float(rng.uniform(0.3, max(config.max_blur_sigma, 0.3)))
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if config.soften_p > 0 and rng.random() < config.soften_p:
        f = float(rng.uniform(*config.soften_range))
        small = cv2.resize(img, (max(1, int(round(w * f))), max(1, int(round(h * f)))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if config.noise_p > 0 and rng.random() < config.noise_p:
        std = float(rng.uniform(0.0, config.noise_std))
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(std)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    if config.jpeg_p > 0 and rng.random() < config.jpeg_p:
        q = int(rng.integers(int(config.jpeg_quality[0]), int(config.jpeg_quality[1]) + 1))
        ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32).reshape(img.shape) * np.float32(1 / 255.0)
    return np.ascontiguousarray(img, dtype=np.float32)


# --------------------------------------------------------------------------- pipeline
def augment(image: np.ndarray, points, rng: np.random.Generator, config: SutureAugmentConfig) -> AugmentResult:
    """Apply the random pipeline of ``config`` to one frame and its points.

    Order: flips, rotation, zoom, crop (geometry on the full frame, so rotation
    never brings black corners into a crop from outside the frame), then
    colour, then :func:`degrade` (blur, softening, noise, JPEG).

    Args:
        image: ``(H, W, 3)`` float32 in [0, 1].
        points: ``(N, 2)`` (x, y) pixels, all inside the frame.
        rng: numpy Generator (the only source of randomness: reproducible).

    >>> r = augment(np.zeros((64, 96, 3), np.float32), [[10, 10]], np.random.default_rng(0),
    ...             SutureAugmentConfig(crop=[32, 32]))
    >>> r.image.shape, r.points.shape, r.stats.seen
    ((32, 32, 3), (1, 2), 1)
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(None, f"augment expects an (H, W, 3) RGB frame, got shape {img.shape}")
    p = _pts(points).astype(np.float32)
    stats = AugmentStats(seen=len(p))
    inside = inside_frame(p, img.shape)
    if rng.random() < config.hflip_p:
        img, p = hflip(img, p)
    if rng.random() < config.vflip_p:
        img, p = vflip(img, p)
    if rng.random() < config.rotate_p and config.max_rotation_deg > 0:
        angle = float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
        img, p = rotate(img, p, angle)
        now = inside_frame(p, img.shape)
        stats.dropped["rotation"] += int((inside & ~now).sum())
        inside &= now
    if config.scale_p > 0 and rng.random() < config.scale_p:
        img, p = zoom(img, p, float(rng.uniform(*config.scale_range)))
        now = inside_frame(p, img.shape)
        stats.dropped["zoom"] += int((inside & ~now).sum())
        inside &= now
    if config.crop is not None:
        ch, cw = config.crop
        h, w = img.shape[:2]
        if ch > h or cw > w:
            raise InputError(None, f"crop {ch}x{cw} is larger than the {h}x{w} frame")
        top = int(rng.integers(0, h - ch + 1))
        left = int(rng.integers(0, w - cw + 1))
        img, p = crop(img, p, top, left, ch, cw)
        now = inside_frame(p, img.shape)
        stats.dropped["crop"] += int((inside & ~now).sum())
        inside &= now
    if rng.random() < config.colour_jitter_p:
        img = colour_jitter(
            img,
            rng.uniform(1 - config.brightness, 1 + config.brightness),
            rng.uniform(1 - config.contrast, 1 + config.contrast),
            rng.uniform(1 - config.saturation, 1 + config.saturation),
            rng.uniform(-config.hue, config.hue),
        )
    if rng.random() < config.brightness_contrast_p:
        img = brightness_contrast(img, rng.uniform(-config.brightness_limit, config.brightness_limit),
                                  rng.uniform(1 - config.contrast_limit, 1 + config.contrast_limit))
    img = degrade(img, rng, config)
    return AugmentResult(np.ascontiguousarray(img, dtype=np.float32), p.astype(np.float32), inside, stats)


def rotation_angle_range(config: SutureAugmentConfig) -> tuple[float, float]:
    """The closed range of rotation angles in degrees (for reports)."""
    return -float(config.max_rotation_deg), float(config.max_rotation_deg)
