"""Images synthesised from real label maps, SynthSeg-style (after Billot et al., 2023).

A real ACDC slice gives a *class map* on the network grid: the three heart labels
(RV cavity, LV myocardium, LV cavity) and, because ACDC labels nothing else,
``n_background`` intensity classes of the real image's background (lungs, liver,
chest wall fall into different classes). :func:`synthesise` then paints each
class with a random intensity and texture and adds a bias field, blur, a
resolution change, gamma and noise. The network sees the true anatomy and the
true landmarks under contrasts no scanner in the training set produced, so it
must learn shape rather than one vendor's bSSFP look.

Shapes: class maps ``(H, W)`` uint8 (:data:`OUTSIDE` = zero padding outside the
scan), images ``(H, W)`` float32 in [0, 1], the padding 0 as in
:func:`heatmap_landmarks.preprocess.prepare_cardiac`.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from heatmap_landmarks.cardiac.segmentation import LabelValues

#: Class of pixels outside the scan (network-grid padding).
OUTSIDE = 255
#: Heart classes 1..3 (RV, myocardium, LV cavity); background classes follow from 4.
HEART_CLASSES = 3


def class_map(label: np.ndarray, image: np.ndarray, labels: LabelValues, n_background: int = 6) -> np.ndarray:
    """``(H, W)`` uint8 classes: 1 RV, 2 myocardium, 3 LV cavity, 4.. background intensity bins.

    ``label``, ``image``: the same slice in original pixels (any numeric dtype). The
    background is smoothed (sigma 1 px) and cut at its own intensity quantiles into
    ``n_background`` classes of equal size.

    >>> lab = np.zeros((8, 8), int); lab[2:4, 2:4] = 3
    >>> cm = class_map(lab, np.arange(64.0).reshape(8, 8), LabelValues(1, 2, 3), n_background=2)
    >>> int(cm[2, 2]), sorted(np.unique(cm).tolist())
    (3, [3, 4, 5])
    """
    label = np.asarray(label)
    out = np.zeros(label.shape, dtype=np.uint8)
    for cls, value in enumerate((labels.rv, labels.myo, labels.lv), start=1):
        out[label == value] = cls
    bg = out == 0
    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float32), 1.0)
    if bg.any():
        edges = np.quantile(smooth[bg], np.linspace(0, 1, n_background + 1)[1:-1])
        out[bg] = (HEART_CLASSES + 1 + np.searchsorted(edges, smooth[bg])).astype(np.uint8)
    return out


def _bias_field(shape, rng: np.random.Generator, strength: float) -> np.ndarray:
    coarse = rng.normal(0.0, strength, (4, 4))
    zoom = (shape[0] / 4.0, shape[1] / 4.0)
    return np.exp(ndimage.zoom(coarse, zoom, order=3, mode="nearest")[: shape[0], : shape[1]]).astype(np.float32)


def synthesise(classes: np.ndarray, rng: np.random.Generator, *, min_heart_contrast: float = 0.12) -> np.ndarray:
    """A random-contrast image ``(H, W)`` float32 in [0, 1] of a class map.

    Each class gets a mean in [0, 1] and a texture (Gaussian noise smoothed at a
    random scale); myocardium differs from both cavities by at least
    ``min_heart_contrast``, so the landmarks stay visible. Then a smooth
    multiplicative bias field, a blur, a lower resolution along one random axis,
    gamma, Rician-like noise, and normalisation to the 1st/99th percentiles inside
    the scan; :data:`OUTSIDE` pixels are 0.
    """
    classes = np.asarray(classes)
    h, w = classes.shape
    inside = classes != OUTSIDE
    n_classes = int(classes[inside].max()) + 1 if inside.any() else 1
    means = rng.uniform(0.0, 1.0, n_classes).astype(np.float32)
    for _ in range(20):
        myo, rv, lv = means[2], means[1], means[3] if n_classes > 3 else means[1]
        if abs(myo - rv) >= min_heart_contrast and abs(myo - lv) >= min_heart_contrast:
            break
        means[1:4] = rng.uniform(0.0, 1.0, 3)
    stds = rng.uniform(0.0, 0.08, n_classes).astype(np.float32)
    lut = np.zeros(256, np.float32)
    lut[:n_classes] = means
    img = lut[np.where(inside, classes, 0)]
    texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), rng.uniform(0.5, 2.0))
    texture /= max(float(texture.std()), 1e-6)
    std_lut = np.zeros(256, np.float32)
    std_lut[:n_classes] = stds
    img = img + texture * std_lut[np.where(inside, classes, 0)]
    img = img * _bias_field((h, w), rng, rng.uniform(0.0, 0.35))
    img = ndimage.gaussian_filter(img, rng.uniform(0.0, 1.2))
    factor = rng.uniform(1.0, 2.5)
    if factor > 1.2:  # thicker pixels along one axis, then back to the grid
        axis = int(rng.integers(0, 2))
        zoom = [1.0, 1.0]
        zoom[axis] = 1.0 / factor
        small = ndimage.zoom(img, zoom, order=1)
        img = ndimage.zoom(small, (h / small.shape[0], w / small.shape[1]), order=1)[:h, :w]
    img = np.clip(img, 0.0, None) ** np.exp(rng.normal(0.0, 0.25))
    sigma = rng.uniform(0.0, 0.05)
    img = np.hypot(img + rng.normal(0.0, sigma, (h, w)), rng.normal(0.0, sigma, (h, w))).astype(np.float32)
    vals = img[inside]
    if vals.size:
        lo, hi = np.percentile(vals, (1.0, 99.0))
        img = np.clip((img - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    img[~inside] = 0.0
    return img.astype(np.float32)
