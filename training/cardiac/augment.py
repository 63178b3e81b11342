"""On-the-fly augmentation of cardiac training samples; points move exactly with the image.

Applied on the network grid (after :func:`heatmap_landmarks.preprocess.prepare_cardiac`),
to a ``(H, W)`` float32 image in [0, 1] whose zero border is padding, and its
``(C, 2)`` float (x, y) landmark pixels (NaN rows = absent).

Geometry, as one backward map per sample (a single bilinear resampling)::

    output pixel p  ->  input pixel  q = A^-1 (p + d(p))

* ``A``: affine about the image centre: flips, rotation, isotropic scale, translation.
* ``d``: smooth elastic displacement field on the output grid (random coarse
  noise, Gaussian-smoothed, bicubically upsampled, scaled so that its largest
  component is ``elastic_alpha_px``).

A landmark at input ``q`` lands at the output ``p`` solving ``p + d(p) = A q``;
it is found by fixed-point iteration ``p <- A q - d(p)`` (a contraction because
the field is smooth: ``|grad d| ~ alpha / sigma << 1``), to 1e-6 px. So the
points are the exact images of the ground truth under the same map that
resamples the image (tested in ``Testing/test_training_cardiac.py``).

Flips and landmark identities
    Our SAX convention (as the phantom and :func:`heatmap_landmarks.heatmaps.assign_identities`):
    anterior up, RV on the image left (radiological), RVI-1 the anterior and
    RVI-2 the inferior RV insertion. In-plane rotations keep the anatomy's
    handedness; a mirror reverses it.

    * Up-down flip: anterior goes down, the RV stays left. The insertion that
      is now on top is the anatomically inferior one. We **swap RVI-1 and RVI-2**,
      so that the labels keep their meaning relative to the image's handedness
      (RVI-1 is the insertion reached first going clockwise from the RV around
      the LV, as in unflipped images) rather than relative to the anatomy.
    * Left-right flip: the RV moves to the image right, anterior stays up. This
      never occurs in a correctly oriented SAX view, but it equals an up-down
      flip followed by a 180 degree rotation, and rotations are label
      preserving, so it must also **swap RVI-1 and RVI-2**; otherwise the data
      would contain a rotated and a mirrored image that look alike with
      opposite labels.
    * Both flips = a 180 degree rotation: no swap.
    * LAX (MV-1 septal/inferior hinge, MV-2 lateral/anterior hinge): any single
      mirror exchanges the image sides of the hinges: **swap MV-1 and MV-2**.

    Rule: an odd number of mirrors swaps the pairs in :data:`MIRROR_SWAPS`.
    Mirrored training images therefore teach the handedness convention, not
    the anatomy; a real scan displayed mirrored (e.g. a reversed slice normal)
    would get the two insertion names exchanged. The shipped configs use no
    flips (probability 0; rotations cover the pose range), and the flip
    switches exist for data sets that need them.

Luminance (only on real image pixels; the zero padding stays zero): gamma
``x**g`` (g log-uniform), contrast about the mean, brightness shift, Gaussian
noise, then clipping to [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from .config import CardiacAugmentConfig

__all__ = ["AugmentResult", "MIRROR_SWAPS", "augment_sample", "mirror_permutation"]

#: Landmark pairs whose names are exchanged by a mirror (an odd number of flips), per view.
MIRROR_SWAPS = {"sax": (("RVI-1", "RVI-2"),), "lax": (("MV-1", "MV-2"),)}


def mirror_permutation(names, view: str) -> list[int]:
    """Index permutation of ``names`` applied after a mirror: ``new[i] = old[perm[i]]``.

    >>> mirror_permutation(["RVI-1", "RVI-2", "LVC"], "sax")
    [1, 0, 2]
    >>> mirror_permutation(["MV-1", "MV-2"], "lax")
    [1, 0]
    """
    names = list(names)
    perm = list(range(len(names)))
    for a, b in MIRROR_SWAPS.get(view, ()):
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            perm[i], perm[j] = j, i
    return perm


@dataclass
class AugmentResult:
    """Augmented sample.

    Attributes:
        image: ``(H, W)`` float32 in [0, 1].
        points: ``(C, 2)`` float32 (x, y) output pixels, rows permuted when mirrored.
        mirrored: an odd number of flips was applied (identities swapped).
        affine: ``(2, 3)`` float64 forward affine input -> output (before elasticity).
        field: ``(2, H, W)`` float32 elastic displacement (dx, dy) on the output grid, or None.
    """

    image: np.ndarray
    points: np.ndarray
    mirrored: bool
    affine: np.ndarray
    field: np.ndarray | None

    def to_input(self, points) -> np.ndarray:
        """Map output-grid ``(N, 2)`` points back to the input grid: ``q = A^-1 (p + d(p))``."""
        p = np.asarray(points, dtype=np.float64)
        r = p + (_sample_field(self.field, p) if self.field is not None else 0.0)
        inv = cv2.invertAffineTransform(self.affine)
        return r @ inv[:, :2].T + inv[:, 2]


def _sample_field(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear ``(N, 2)`` displacement at ``(N, 2)`` (x, y) points (edge values beyond the grid)."""
    coords = np.stack([pts[:, 1], pts[:, 0]])
    return np.stack([ndimage.map_coordinates(field[c], coords, order=1, mode="nearest") for c in (0, 1)], axis=1)


def _elastic_field(rng: np.random.Generator, shape, alpha: float, sigma: float) -> np.ndarray:
    h, w = shape
    coarse = 8
    ch, cw = max(h // coarse, 2), max(w // coarse, 2)
    noise = rng.standard_normal((2, ch, cw)).astype(np.float32)
    s = max(sigma / coarse, 0.5)
    smooth = np.stack([ndimage.gaussian_filter(n, s, mode="reflect") for n in noise])
    field = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in smooth])
    peak = float(np.abs(field).max())
    if peak > 0:
        field *= alpha / peak
    return field.astype(np.float32)


def _forward_affine(cfg: CardiacAugmentConfig, rng: np.random.Generator, shape) -> tuple[np.ndarray, bool]:
    h, w = shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    flip_x = rng.random() < cfg.flip_lr_p
    flip_y = rng.random() < cfg.flip_ud_p
    angle = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)) if rng.random() < cfg.rotation_p else 0.0
    scale = math.exp(rng.uniform(math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    shift = rng.uniform(-cfg.translate_px, cfg.translate_px, 2)
    flips = np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0])
    cos, sin = math.cos(angle), math.sin(angle)
    rot = np.array([[cos, -sin], [sin, cos]])
    lin = scale * rot @ flips
    t = c + shift - lin @ c
    return np.hstack([lin, t[:, None]]), flip_x != flip_y


def _luminance(image: np.ndarray, valid: np.ndarray, cfg: CardiacAugmentConfig, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32, copy=True)
    g = math.exp(rng.uniform(math.log(cfg.gamma[0]), math.log(cfg.gamma[1])))
    x = np.power(np.clip(x, 0.0, 1.0), g, dtype=np.float32)
    vals = x[valid]
    mean = float(vals.mean()) if vals.size else 0.0
    x = (x - mean) * rng.uniform(*cfg.contrast) + mean + rng.uniform(*cfg.brightness)
    sd = rng.uniform(*cfg.noise_sd)
    if sd > 0:
        x = x + rng.standard_normal(x.shape).astype(np.float32) * np.float32(sd)
    x = np.clip(x, 0.0, 1.0)
    x[~valid] = 0.0
    return x.astype(np.float32)


def augment_sample(image: np.ndarray, points: np.ndarray, rng: np.random.Generator, cfg: CardiacAugmentConfig, *,
                   names=None, view: str = "sax", valid: np.ndarray | None = None) -> AugmentResult:
    """Randomly transform one sample; see the module docstring.

    Args:
        image: ``(H, W)`` float32 in [0, 1] (network grid).
        points: ``(C, 2)`` float (x, y) pixels, NaN rows absent.
        rng: the sample's generator (derive it from the sample index for determinism).
        cfg: :class:`CardiacAugmentConfig`; ``cfg.enabled=False`` returns the input unchanged.
        names, view: landmark names and view, for the mirror identity swap.
        valid: ``(H, W)`` bool of real image pixels (default: ``image > 0``).

    Returns:
        :class:`AugmentResult`.

    >>> from training.cardiac.config import CardiacAugmentConfig
    >>> img = np.zeros((32, 32), np.float32); img[10, 20] = 1.0
    >>> cfg = CardiacAugmentConfig(rotation_deg=0, translate_px=0, scale=[1, 1], elastic_p=0, luminance_p=0, flip_lr_p=1)
    >>> r = augment_sample(img, np.array([[20.0, 10.0], [5.0, 5.0]]), np.random.default_rng(0), cfg,
    ...                    names=["MV-1", "MV-2"], view="lax")
    >>> r.points.tolist(), r.mirrored, float(r.image[10, 11])
    ([[26.0, 5.0], [11.0, 10.0]], True, 1.0)
    """
    img = np.asarray(image, dtype=np.float32)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h, w = img.shape
    if not cfg.enabled:
        return AugmentResult(img.copy(), pts.astype(np.float32), False, np.array([[1.0, 0, 0], [0, 1.0, 0]]), None)
    if valid is None:
        valid = img > 0
    affine, mirrored = _forward_affine(cfg, rng, (h, w))
    field = None
    if rng.random() < cfg.elastic_p and cfg.elastic_alpha_px > 0:
        field = _elastic_field(rng, (h, w), cfg.elastic_alpha_px, cfg.elastic_sigma_px)
    inv = cv2.invertAffineTransform(affine)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    if field is not None:
        xs, ys = xs + field[0], ys + field[1]
    map_x = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]).astype(np.float32)
    map_y = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]).astype(np.float32)
    out = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    out_valid = cv2.remap(valid.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    out[~out_valid] = 0.0

    new_pts = np.full_like(pts, np.nan)
    present = ~np.isnan(pts[:, 0])
    if present.any():
        target = pts[present] @ affine[:, :2].T + affine[:, 2]
        p = target.copy()
        if field is not None:
            for _ in range(50):
                nxt = target - _sample_field(field, p)
                done = np.abs(nxt - p).max() < 1e-7
                p = nxt
                if done:
                    break
        new_pts[present] = p
    if mirrored and names is not None:
        new_pts = new_pts[mirror_permutation(names, view)]
    if rng.random() < cfg.luminance_p:
        out = _luminance(out, out_valid, cfg, rng)
    return AugmentResult(np.clip(out, 0.0, 1.0).astype(np.float32), new_pts.astype(np.float32), mirrored,
                         affine, field)
