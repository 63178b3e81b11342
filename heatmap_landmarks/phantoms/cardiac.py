"""Synthetic bSSFP cine cardiac MR phantoms with exact landmark ground truth.

The phantoms are the training data of the demo cardiac landmark models, so they
randomise anatomy, pose, pixel grid and contrast widely (the SynthSeg idea: a
network that has seen enough variation transfers to real scans) while keeping
the look of balanced SSFP cine: bright blood, dark myocardium, bright fat, dark
lungs, medium liver, Rician noise, a smooth coil bias field.

Conventions
-----------
* Images are ``(H, W) float32`` in arbitrary MR units (>= 0). Points are
  ``(x, y) = (column, row)`` pixels, pixel centres at integers. ``spacing_xy``
  is ``(column spacing, row spacing)`` in mm.
* Short axis (SAX), before the random in-plane rotation: standard view from the
  apex, **anterior up** (small row index), **patient's right on the image left**
  (radiological convention), so the RV is on the image left of the LV. The
  scene is then rotated as a whole (``meta["rotation_deg"]``; positive turns the
  scene clockwise as displayed). Images are never mirrored, so the anatomical
  identity of each landmark is recoverable from the image at any rotation.
* SAX landmarks: ``"RVI-1"`` anterior and ``"RVI-2"`` inferior RV insertion
  point, i.e. the tips of the RV blood-pool crescent, which lie exactly on the
  LV epicardial contour where the RV free wall meets the septum; ``"LVC"`` the
  area centroid of the LV cavity (endocardial contour, papillary muscles
  included). The LV centre is called BCA on basal and ACA on apical slices
  (:func:`lv_centre_name`). Where the RV does not reach (near the apex) the RVI
  points are NaN.
* Long axis (LAX), before rotation: mitral annulus horizontal, LA above, LV
  below with the apex at the bottom. 4-chamber: RV/RA on the image left of
  LV/LA; **MV-1 is the septal hinge, MV-2 the lateral hinge**. 2-chamber:
  **MV-1 is the inferior hinge, MV-2 the anterior hinge**. The names follow the
  anatomy through any rotation. A hinge point is where the leaflet attaches:
  the junction of the LV endocardium, the annular plane and the LA wall.
* ``labels`` (same shape as ``image``, uint8), see :data:`LABELS`. Cardiac
  structures are rasterised exactly (a pixel belongs to a structure when its
  centre lies inside the analytic contour), so labels and landmarks agree to
  sub-pixel accuracy; the image is rendered from the same tissue map:
  0 background (everything non-cardiac), 1 LV cavity (papillary muscles
  included), 2 LV myocardium, 3 RV cavity (trabeculae included), 4 LA blood,
  5 RA blood, 6 RV free wall / atrial walls, 7 valve leaflets.
* Cine: ``phase`` in [0, 1) over the RR interval, 0 = end-diastole; end-systole
  at ``meta["es_phase"]`` (0.3-0.42). The LV endocardial radius shrinks by about
  30 % at end-systole with the myocardial area conserved (the wall thickens),
  the mitral annulus descends 8-16 mm toward the (fixed) apex, and SAX slices
  see the through-plane motion of the base.

Randomisation levels:

* ``"none"``: canonical pose, heart centred, 256 x 256 at 1.13 mm, nominal
  contrast, no noise/bias/blur (tests, figures).
* ``"train"``: matrix 160-400 px per side (non-square), field of view 220-360 mm,
  spacing 0.6-1.8 mm; SAX rotation ~N(0, 30 deg) (clipped at 100 deg), LAX any
  rotation; heart placed in the central 35-65 %; per-tissue intensities drawn
  around bSSFP values (blood > 1.6 x myocardium always); smooth texture, random
  fat/soft-tissue clutter, bias field (log-amplitude 0.05-0.35), blur
  (0-1 px), Rician noise (sigma 1-6 % of blood), occasional low-resolution
  acquisition (Gibbs-like ringing) and ghosting; global scale 60-4000.
* ``"wide"``: anatomy ranges 1.5 x wider, SAX rotation ~N(0, 90 deg) and 25 %
  uniform, slightly anisotropic pixels, wider contrast (incl. fat suppression),
  bias up to 0.6, blur up to 1.8 px, noise 0.5-11 %; for held-out evaluation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..geometry import Geometry
from ._common import (
    as_rng,
    check_choice,
    draw_polyline,
    ellipse_points,
    eval_fourier,
    fill_polygon,
    fill_polygon_exact,
    fourier_coeffs,
    log_uniform,
    polygon_centroid,
    rotation,
    smooth_field,
    white_noise,
)

__all__ = [
    "LABELS",
    "CardiacCine",
    "CardiacSample",
    "lv_centre_name",
    "make_cardiac_cine",
    "make_lax_slice",
    "make_sax_slice",
]

#: Label values of ``CardiacSample.labels``.
LABELS = {
    0: "background",
    1: "lv_cavity",
    2: "lv_myocardium",
    3: "rv_cavity",
    4: "la_blood",
    5: "ra_blood",
    6: "rv_or_atrial_wall",
    7: "valve_leaflet",
}

SAX_KEYS = ("RVI-1", "RVI-2", "LVC")
LAX_KEYS = ("MV-1", "MV-2")
RANDOMISATIONS = ("none", "train", "wide")

# Tissue classes: what the painter writes. Each has its own intensity; the
# label map is derived from them through _TISSUE_TO_LABEL.
(AIR, SUBCUT_FAT, MUSCLE, MEDIASTINUM, LUNG, LIVER, STOMACH, BONE, VESSEL, EPI_FAT, LV_MYO, LV_BLOOD,
 PAPILLARY, RV_BLOOD, RV_WALL, LA_BLOOD, RA_BLOOD, ATRIAL_WALL, LEAFLET, LUNG_VESSEL, RV_TRAB) = range(21)
_N_TISSUES = 21
_TISSUE_TO_LABEL = np.zeros(_N_TISSUES, np.uint8)
for _t, _l in ((LV_BLOOD, 1), (PAPILLARY, 1), (LV_MYO, 2), (RV_BLOOD, 3), (RV_TRAB, 3), (LA_BLOOD, 4),
               (RA_BLOOD, 5), (RV_WALL, 6), (ATRIAL_WALL, 6), (LEAFLET, 7)):
    _TISSUE_TO_LABEL[_t] = _l


def _lut256(values) -> np.ndarray:
    """Pad a per-tissue table to the 256 entries ``cv2.LUT`` wants."""
    out = np.zeros(256, dtype=np.asarray(values).dtype)
    out[:len(values)] = values
    return out


_TISSUE_TO_LABEL_256 = _lut256(_TISSUE_TO_LABEL)


def lv_centre_name(level: float) -> str:
    """Landmark name of the LV centre on a SAX slice at ``level`` (0 base .. 1 apex).

    >>> [lv_centre_name(v) for v in (0.0, 0.5, 0.9)]
    ['BCA', 'LVC', 'ACA']
    """
    return "BCA" if level < 1.0 / 3.0 else ("ACA" if level > 2.0 / 3.0 else "LVC")


# --------------------------------------------------------------------------
# Public containers
# --------------------------------------------------------------------------
@dataclass
class CardiacSample:
    """One synthetic cardiac MR slice with exact ground truth.

    Attributes:
        image: ``(H, W) float32``, arbitrary MR units, >= 0.
        labels: ``(H, W) uint8`` label map, see :data:`LABELS`.
        spacing_xy: ``(2,) float64`` mm per pixel along (column x, row y).
        landmarks: name -> ``(2,) float64`` (x, y) pixels, NaN where absent.
            SAX: "RVI-1", "RVI-2", "LVC"; LAX: "MV-1", "MV-2".
        view: "sax" or "lax".
        meta: level, phase, lax_view, rotation_deg, lvc_name, ...
    """

    image: np.ndarray
    labels: np.ndarray
    spacing_xy: np.ndarray
    landmarks: dict
    view: str
    meta: dict = field(default_factory=dict)

    def points(self, keys=None) -> np.ndarray:
        """``(C, 2) float32`` (x, y) pixels of ``keys`` (default: all, in order), NaN if absent."""
        keys = list(self.landmarks) if keys is None else list(keys)
        return np.array([self.landmarks[k] for k in keys], dtype=np.float32).reshape(-1, 2)


@dataclass
class CardiacCine:
    """A synthetic cine: one subject and pose, ``T`` phases x ``Z`` parallel slices.

    Attributes:
        frames: ``(T, Z, H, W) float32`` MR units.
        labels: ``(T, Z, H, W) uint8``.
        spacing: ``(3,) float64`` mm (column x, row y, slice z).
        landmarks: name -> ``(T, Z, 2) float64`` (x, y) pixels, NaN where absent.
            SAX: "RVI-1", "RVI-2", "LVC" on every slice with them, plus "BCA"
            (LV centre on the most basal slice only) and "ACA" (LV centre on the
            most apical slice, the last one that still has LV cavity). With a
            single slice it is named by :func:`lv_centre_name`. LAX: "MV-1", "MV-2".
        geometry: places the ``(Z, H, W)`` volume of one frame in RAS mm (k = slice);
            SAX slices are stacked base -> apex along an oblique LV long axis.
        view: "sax" or "lax".
        phases: ``(T,)`` cardiac phase in [0, 1), 0 = end-diastole.
        levels: ``(Z,)`` slice level (SAX: 0 base .. 1 apex; LAX: 0).
        meta: subject parameters.
    """

    frames: np.ndarray
    labels: np.ndarray
    spacing: np.ndarray
    landmarks: dict
    geometry: Geometry
    view: str
    phases: np.ndarray
    levels: np.ndarray
    meta: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# Randomisation profiles
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Profile:
    name: str
    rotation_sd_deg: float  # SAX: normal sd around "anterior up"; LAX: uniform in all directions
    sax_rotation_max_deg: float
    centre: tuple  # heart centre as a fraction of the image, uniform in [lo, hi]
    rows: tuple
    aspect: tuple
    fov_mm: tuple
    aniso: float  # max relative difference of row vs column spacing
    spread: float  # anatomy ranges are widened by this factor about their centre
    noise: tuple  # Rician sigma relative to blood
    bias: tuple  # log-amplitude of the multiplicative bias field
    blur: tuple  # acquisition blur sigma (px)
    texture: tuple
    contrast: float  # intensity ranges widened by this factor
    ghost_p: float
    lowres_p: float


_PROFILES = {
    "none": _Profile("none", 0.0, 0.0, (0.5, 0.5), (256, 256), (1.0, 1.0), (290.0, 290.0), 0.0, 0.0,
                     (0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.6, 0.6), 0.0, 0.0, 0.0),
    "train": _Profile("train", 30.0, 100.0, (0.35, 0.65), (160, 400), (0.72, 1.38), (220.0, 360.0), 0.0, 1.0,
                      (0.01, 0.06), (0.05, 0.35), (0.0, 1.0), (0.5, 1.5), 1.0, 0.15, 0.5),
    "wide": _Profile("wide", 90.0, 180.0, (0.28, 0.72), (160, 400), (0.6, 1.6), (190.0, 450.0), 0.15, 1.5,
                     (0.005, 0.11), (0.05, 0.6), (0.0, 1.8), (0.2, 2.5), 1.6, 0.3, 0.6),
}


def _u(rng, lo, hi, spread=1.0) -> float:
    """Uniform in [lo, hi] widened about its centre by ``spread``."""
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * spread
    return float(rng.uniform(mid - half, mid + half))


def _contraction(phase: float, es_phase: float) -> float:
    """0 at end-diastole, 1 at end-systole, back to 0 by ``2 * es_phase``; periodic."""
    u = float(phase) % 1.0
    return 0.5 * (1.0 - math.cos(math.pi * u / es_phase)) if u < 2.0 * es_phase else 0.0


# --------------------------------------------------------------------------
# Grid, pose and look (per subject)
# --------------------------------------------------------------------------
@dataclass
class _Pose:
    shape: tuple  # (H, W)
    spacing: np.ndarray  # (sx, sy) mm
    rotation: float  # rad, scene rotation
    centre_px: np.ndarray  # where the canonical anchor lands, (x, y) px
    anchor_mm: np.ndarray  # canonical point placed at centre_px

    def __post_init__(self):
        #: ``(2, 2)`` canonical mm -> px linear part (transposed, for row vectors).
        self._m_t = (np.diag(1.0 / self.spacing) @ rotation(self.rotation)).T
        self._offset = self.centre_px - self.anchor_mm @ self._m_t

    def to_px(self, pts_mm: np.ndarray) -> np.ndarray:
        return np.asarray(pts_mm, dtype=np.float64) @ self._m_t + self._offset


def _draw_pose(rng, prof: _Profile, view: str, anchor_mm, size, spacing_mm) -> _Pose:
    if size is None:
        rows = int(rng.integers(prof.rows[0], prof.rows[1] + 1))
        cols = int(np.clip(round(rows * _u(rng, *prof.aspect)), 160, 400)) if prof.name != "none" else 256
    else:
        rows, cols = (int(v) for v in size)
        if rows < 8 or cols < 8:
            raise ValueError(f"size must be at least (8, 8), got {size}")
    if spacing_mm is None:
        fov = _u(rng, *prof.fov_mm)
        s = float(np.clip(fov / max(rows, cols), 0.6, 1.8))
        ratio = 1.0 + rng.uniform(-prof.aniso, prof.aniso) if prof.aniso else 1.0
        spacing = np.array([s, float(np.clip(s * ratio, 0.6, 1.8))])
    else:
        spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (2,)).copy()
        if not np.all(spacing > 0):
            raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    if view == "sax":
        rot = float(np.clip(rng.normal(0.0, prof.rotation_sd_deg), -prof.sax_rotation_max_deg,
                            prof.sax_rotation_max_deg)) if prof.rotation_sd_deg else 0.0
        if prof.name == "wide" and rng.random() < 0.25:
            rot = float(rng.uniform(-180.0, 180.0))
    else:
        rot = float(rng.uniform(-180.0, 180.0)) if prof.name != "none" else 0.0
    centre = np.array([_u(rng, *prof.centre) * (cols - 1), _u(rng, *prof.centre) * (rows - 1)])
    return _Pose((rows, cols), spacing, math.radians(rot), centre, np.asarray(anchor_mm, dtype=np.float64))


_NOMINAL = {  # (lo, hi) relative to blood = 1 for the realistic bSSFP look
    AIR: (0.0, 0.0), SUBCUT_FAT: (0.75, 1.3), MUSCLE: (0.14, 0.32), MEDIASTINUM: (0.3, 0.65),
    LUNG: (0.02, 0.09), LIVER: (0.22, 0.5), STOMACH: (0.1, 0.9), BONE: (0.3, 0.7), VESSEL: (0.8, 1.1),
    EPI_FAT: (0.7, 1.3), LV_MYO: (0.13, 0.36), LV_BLOOD: (0.9, 1.1), RV_BLOOD: (0.85, 1.1),
    LA_BLOOD: (0.8, 1.1), RA_BLOOD: (0.8, 1.1), LUNG_VESSEL: (0.25, 0.8),
}
_TEXTURE = {  # relative texture amplitude per tissue
    AIR: 0.0, SUBCUT_FAT: 0.12, MUSCLE: 0.15, MEDIASTINUM: 0.2, LUNG: 0.5, LIVER: 0.12, STOMACH: 0.3,
    BONE: 0.2, VESSEL: 0.08, EPI_FAT: 0.15, LV_MYO: 0.12, LV_BLOOD: 0.07, PAPILLARY: 0.12, RV_BLOOD: 0.09,
    RV_WALL: 0.12, LA_BLOOD: 0.08, RA_BLOOD: 0.08, ATRIAL_WALL: 0.12, LEAFLET: 0.1, LUNG_VESSEL: 0.2,
    RV_TRAB: 0.12,
}


@dataclass
class _Look:
    lut: np.ndarray  # (N_TISSUES,) float32 intensity
    tex_lut: np.ndarray  # (N_TISSUES,) float32 texture amplitude (absolute)
    texture: np.ndarray  # (H, W) float32
    bias: np.ndarray  # (H, W) float32
    blur: float
    noise: float
    scale: float
    clutter_lut: np.ndarray  # (N_TISSUES,) float32 amplitude of the blobby fat/soft-tissue mix
    clutter: np.ndarray  # (H, W) float32 in [0, 1]
    ghost: tuple | None  # (shift px, axis, weight)
    lowres: float | None


def _draw_look(rng, prof: _Profile, shape) -> _Look:
    lut = np.zeros(_N_TISSUES, np.float32)
    for t, (lo, hi) in _NOMINAL.items():
        lut[t] = _u(rng, lo, hi, prof.contrast) if hi > 0 else 0.0
    lut = np.clip(lut, 0.0, None)
    lut[LV_BLOOD] = max(lut[LV_BLOOD], 0.6)
    # Keep the bSSFP contrast: myocardium clearly darker than blood at every level.
    lut[LV_MYO] = float(np.clip(lut[LV_MYO], 0.04, 0.6 * min(lut[LV_BLOOD], lut[RV_BLOOD])))
    for t in (RV_WALL, ATRIAL_WALL, RV_TRAB):
        lut[t] = lut[LV_MYO] * rng.uniform(0.85, 1.2)
    lut[PAPILLARY] = lut[LV_MYO] * rng.uniform(0.9, 1.3)
    lut[LEAFLET] = lut[LV_MYO] * rng.uniform(0.7, 1.5)
    if prof.name == "wide" and rng.random() < 0.15:  # fat suppression
        lut[[SUBCUT_FAT, EPI_FAT]] *= rng.uniform(0.1, 0.4)
    # Mediastinum, abdomen and chest wall are a random mix of fat and soft tissue.
    clutter_lut = np.zeros(_N_TISSUES, np.float32)
    soft = _u(rng, 0.15, 0.45, prof.contrast)
    clutter_lut[MEDIASTINUM] = lut[SUBCUT_FAT] * rng.uniform(0.6, 1.0) - soft
    lut[MEDIASTINUM] = soft
    clutter_lut[STOMACH] = rng.uniform(-0.5, 0.5) * lut[STOMACH]
    clutter_lut[LIVER] = rng.uniform(0.0, 0.25) * lut[LIVER]
    clutter = np.clip(rng.uniform(0.2, 0.6) + rng.uniform(0.8, 2.5) * smooth_field(rng, shape, rng.uniform(6, 18)),
                      0.0, 1.0).astype(np.float32)
    tex_scale = _u(rng, *prof.texture)
    tex_lut = np.array([_TEXTURE[t] for t in range(_N_TISSUES)], np.float32) * lut * tex_scale
    h, w = shape
    texture = (0.6 * smooth_field(rng, shape, rng.uniform(5, 12))
               + 0.55 * smooth_field(rng, shape, max(h, w) / rng.uniform(3.0, 7.0)))
    if prof.bias[1] > 0:
        log_bias = smooth_field(rng, shape, rng.uniform(1.5, 3.5)) * _u(rng, *prof.bias)
        bias = np.exp(log_bias).astype(np.float32)
    else:
        bias = np.ones(shape, np.float32)
    ghost = None
    if rng.random() < prof.ghost_p:
        axis = int(rng.integers(0, 2))
        ghost = (int(rng.integers(shape[axis] // 8, shape[axis] // 2)), axis, float(rng.uniform(0.03, 0.12)))
    lowres = float(rng.uniform(0.45, 0.9)) if rng.random() < prof.lowres_p else None
    noise = _u(rng, *prof.noise) if prof.noise[1] > 0 else 0.0
    blur = _u(rng, *prof.blur) if prof.blur[1] > 0 else 0.0
    scale = log_uniform(rng, 60.0, 4000.0) if prof.name != "none" else 1000.0
    return _Look(_lut256(lut), _lut256(tex_lut), texture.astype(np.float32), bias, blur, noise, scale,
                 _lut256(clutter_lut), clutter, ghost, lowres)


def _render(rng, items, pose: _Pose, look: _Look):
    """Rasterise canonical-mm ``items`` and apply the MR look. Returns (image, labels)."""
    tissue = np.zeros(pose.shape, np.uint8)
    for kind, t, pts, width_mm in items:
        px = pose.to_px(pts)
        if kind == "poly":  # cardiac structures: exact pixel-centre sampling
            fill_polygon_exact(tissue, px, t)
        elif kind == "bgpoly":  # surroundings: fast, half-pixel-generous cv2 fill
            fill_polygon(tissue, px, t)
        elif kind == "dot":  # small round vessel cross-sections
            radius = int(round(width_mm / float(pose.spacing.mean()) * 16))
            cv2.circle(tissue, (int(round(px[0, 0] * 16)), int(round(px[0, 1] * 16))), radius, t, -1,
                       cv2.LINE_8, 4)
        else:
            draw_polyline(tissue, px, t, width_mm / float(pose.spacing.mean()))
    labels = cv2.LUT(tissue, _TISSUE_TO_LABEL_256)
    img = cv2.LUT(tissue, look.lut)
    img += cv2.LUT(tissue, look.tex_lut) * look.texture
    img += cv2.LUT(tissue, look.clutter_lut) * look.clutter
    # Partial-volume edges plus acquisition blur in one pass.
    sigma = math.sqrt(0.55 ** 2 + look.blur ** 2)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    if look.lowres is not None:
        h, w = pose.shape
        small = cv2.resize(img, (max(4, int(w * look.lowres)), max(4, int(h * look.lowres))),
                           interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if look.ghost is not None:
        shift, axis, weight = look.ghost
        img = img + weight * np.roll(img, shift, axis=axis)
    img *= look.bias
    if look.noise > 0:
        # Rician: magnitude of signal + complex Gaussian noise. (numpy, not
        # cv2.magnitude, whose result is not bit-reproducible run to run.)
        re = img + np.float32(look.noise) * white_noise(rng, pose.shape)
        im = np.float32(look.noise) * white_noise(rng, pose.shape)
        img = np.sqrt(re * re + im * im)
    else:
        img = np.maximum(img, 0.0)
    img *= look.scale
    return img.astype(np.float32, copy=False), labels


# --------------------------------------------------------------------------
# Thorax (everything around the heart)
# --------------------------------------------------------------------------
def _clip_into_ellipse(pts, cx, cy, a, b, rot):
    """Pull points outside an ellipse radially back onto it (cheap star-shaped clip)."""
    r = rotation(-rot)
    q = (pts - (cx, cy)) @ r.T / (a, b)
    rad = np.linalg.norm(q, axis=1)
    q[rad > 1] /= rad[rad > 1, None]
    return (q * (a, b)) @ rotation(rot).T + (cx, cy)


def _thorax_items(rng, spec: dict) -> list:
    """Body wall, lungs, liver, stomach, aorta, spine around a heart; canonical mm."""
    items = []
    cx, cy, a, b, rot = spec["body"]
    fat, muscle = spec["fat"], spec["muscle"]
    items.append(("bgpoly", SUBCUT_FAT, ellipse_points(cx, cy, a, b, rot, 96, 0.03, rng), 0))
    items.append(("bgpoly", MUSCLE, ellipse_points(cx, cy, a - fat, b - fat, rot, 96, 0.07, rng), 0))
    ia, ib = a - fat - muscle, b - fat - muscle
    items.append(("bgpoly", MEDIASTINUM, ellipse_points(cx, cy, ia, ib, rot, 96, 0.05, rng), 0))
    for tissue, (ox, oy, oa, ob, orot) in spec["organs"]:
        pts = _clip_into_ellipse(ellipse_points(ox, oy, oa, ob, orot, 80, 0.12, rng), cx, cy, ia, ib, rot)
        items.append(("bgpoly", tissue, pts, 0))
        if tissue == LUNG:
            for _ in range(int(rng.integers(2, 10))):
                ang, rad = rng.uniform(0, 2 * np.pi), 0.75 * math.sqrt(rng.random())
                vx = ox + oa * rad * math.cos(ang) * math.cos(orot) - ob * rad * math.sin(ang) * math.sin(orot)
                vy = oy + oa * rad * math.cos(ang) * math.sin(orot) + ob * rad * math.sin(ang) * math.cos(orot)
                items.append(("dot", LUNG_VESSEL, np.array([[vx, vy]]), rng.uniform(1.2, 4.0)))
    sx, sy, sr = spec["spine"]
    items.append(("bgpoly", MUSCLE, ellipse_points(sx, sy, sr * 1.5, sr * 1.3, 0.0, 32, 0.1, rng), 0))
    items.append(("bgpoly", BONE, ellipse_points(sx, sy, sr, sr * 0.9, rng.uniform(-0.3, 0.3), 32, 0.05, rng), 0))
    ax, ay, ar = spec["aorta"]
    items.append(("bgpoly", MUSCLE, ellipse_points(ax, ay, ar + 1.5, ar + 1.5, 0.0, 32), 0))
    items.append(("bgpoly", VESSEL, ellipse_points(ax, ay, ar, ar * rng.uniform(0.9, 1.0), 0.0, 32), 0))
    return items


# --------------------------------------------------------------------------
# Short-axis anatomy
# --------------------------------------------------------------------------
@dataclass
class _SaxSubject:
    r_endo: float
    wall: float
    shape: tuple
    trab: tuple
    taper: float
    drift: np.ndarray
    th_ant: float
    th_inf: float
    rv_h: float
    rv_p: float
    rv_q: float
    rv_end: float
    rv_wall: float
    rv_wobble: tuple
    paps: list
    trabeculae: list
    fat_mean: float
    fat_coeffs: tuple
    groove_fat: tuple
    ef: float
    es_phase: float
    length: float
    descent: float
    thorax: dict


def _draw_sax_subject(rng, prof: _Profile) -> _SaxSubject:
    sp = prof.spread
    r_endo = _u(rng, 22.0, 30.0, sp)
    wall = _u(rng, 6.0, 10.5, sp)
    r_epi = r_endo + wall
    th_ant = math.radians(_u(rng, 245.0, 280.0, sp))
    th_inf = math.radians(_u(rng, 118.0, 148.0, sp))
    rv_h = _u(rng, 0.6, 1.2, sp) * r_epi
    paps = [(math.radians(_u(rng, 300.0, 330.0)), _u(rng, 3.0, 6.0)),
            (math.radians(_u(rng, 95.0, 125.0)), _u(rng, 3.0, 6.0))]
    trabeculae = [(rng.uniform(0.15, 0.85), rng.uniform(0.6, 0.95), rng.uniform(1.0, 2.8))
                  for _ in range(int(rng.integers(0, 4)))]
    length = _u(rng, 65.0, 90.0, sp)
    # Layout as in real basal/mid SAX slices: lungs above (anterior-superior)
    # and beside the heart, liver and stomach below it (the plane cuts the
    # upper abdomen), aorta and spine posterior.
    fat_body = _u(rng, 6.0, 25.0, sp)
    muscle = _u(rng, 6.0, 16.0)
    lung_gap = _u(rng, 20.0, 65.0, sp)  # heart top to the inner chest wall
    organs = [
        (LUNG, (r_epi * _u(rng, 0.2, 1.0), -r_epi - _u(rng, 5, 30), _u(rng, 50, 85), _u(rng, 30, 55),
                rng.uniform(-.5, .3))),
        (LUNG, (r_epi + _u(rng, 20, 45), _u(rng, -15, 25), _u(rng, 25, 45), _u(rng, 40, 70), rng.uniform(-.4, .4))),
        (LUNG, (-r_epi - _u(rng, 20, 50), -r_epi - _u(rng, 0, 30), _u(rng, 40, 65), _u(rng, 28, 50),
                rng.uniform(-.3, .5))),
        (LIVER, (-_u(rng, 10, 50), r_epi + _u(rng, 25, 50), _u(rng, 70, 110), _u(rng, 40, 70), rng.uniform(-.4, .4))),
    ]
    if rng.random() < 0.7:
        organs.append((STOMACH, (r_epi * _u(rng, 0.5, 1.5), r_epi + _u(rng, 25, 50), _u(rng, 28, 50),
                                 _u(rng, 22, 40), rng.uniform(-.5, .5))))
    ax, ay = _u(rng, 0.0, 30.0), r_epi + _u(rng, 30.0, 55.0)
    spine = (ax - _u(rng, 12.0, 28.0), ay + _u(rng, 22.0, 32.0), _u(rng, 13.0, 18.0))
    body_cx = -_u(rng, 0.0, 30.0)
    body_top = -(r_epi + 0.3 * rv_h + lung_gap + fat_body + muscle)
    body_bottom = max(spine[1] + spine[2] + _u(rng, 25.0, 60.0) + fat_body + muscle, -body_top + 40.0)
    body_cy, body_b = 0.5 * (body_top + body_bottom), 0.5 * (body_bottom - body_top)
    body_a = max(_u(rng, 150.0, 210.0, sp), abs(body_cx) + r_epi + rv_h + fat_body + muscle + 30.0)
    thorax = {
        "body": (body_cx, body_cy, body_a, body_b, rng.uniform(-0.2, 0.2)),
        "fat": fat_body, "muscle": muscle, "organs": organs,
        "aorta": (ax, ay, _u(rng, 9.0, 13.5)), "spine": spine,
    }
    return _SaxSubject(
        r_endo=r_endo, wall=wall,
        shape=fourier_coeffs(rng, 0.06 * sp, 2, 4), trab=fourier_coeffs(rng, 0.04, 7, 14),
        taper=_u(rng, 0.88, 0.95), drift=rng.normal(0.0, 5.0, 2) * sp,
        th_ant=th_ant, th_inf=th_inf, rv_h=rv_h, rv_p=_u(rng, 0.75, 1.1), rv_q=_u(rng, -0.6, 0.6),
        rv_end=_u(rng, 0.72, 0.95), rv_wall=_u(rng, 2.0, 4.0), rv_wobble=fourier_coeffs(rng, 0.08, 2, 5),
        paps=paps, trabeculae=trabeculae,
        fat_mean=_u(rng, -2.5, 2.5), fat_coeffs=fourier_coeffs(rng, 4.0, 2, 7),
        groove_fat=(_u(rng, 2.0, 9.0), _u(rng, 2.0, 9.0)),
        ef=_u(rng, 0.22, 0.38), es_phase=_u(rng, 0.3, 0.42), length=length, descent=_u(rng, 8.0, 16.0),
        thorax=thorax,
    )


def _sax_effective_level(subj: _SaxSubject, level: float, c: float) -> float:
    """Tissue level seen by a fixed slice plane when the base has descended (apex fixed)."""
    d = subj.descent * c
    z = level * subj.length
    return max(0.0, (z - d) / (1.0 - d / subj.length)) / subj.length


_T_HEART = np.linspace(0.0, 2 * np.pi, 112, endpoint=False)


def _sax_heart(subj: _SaxSubject, level: float, c: float):
    """Heart items (canonical mm) and landmarks at tissue ``level`` and contraction ``c``."""
    items = []
    cavity = math.sqrt(max(1.0 - (subj.taper * min(level, 1.0)) ** 2, 0.02))
    r_endo_ed = subj.r_endo * cavity
    wall_ed = subj.wall * (1.0 - 0.3 * level)
    r_endo = r_endo_ed * (1.0 - subj.ef * c)
    r_epi = math.sqrt(r_endo ** 2 + (r_endo_ed + wall_ed) ** 2 - r_endo_ed ** 2)  # myocardial area kept
    centre = subj.drift * level

    # RV insertion angles converge slightly toward the apex.
    th_ant = subj.th_ant - 0.25 * level * (subj.th_ant - math.pi)
    th_inf = subj.th_inf + 0.25 * level * (math.pi - subj.th_inf)
    rv_h = subj.rv_h * math.sqrt(max(0.0, 1.0 - (level / subj.rv_end) ** 3)) * (1.0 - 0.3 * c)
    rv_h *= (r_epi / (subj.r_endo + subj.wall)) ** 0.5
    has_rv = rv_h >= 8.0  # thinner slivers would not show a cavity near the insertion points

    def epi(t):
        return r_epi * (1.0 + eval_fourier(subj.shape, t))

    def endo(t):
        return r_endo * (1.0 + eval_fourier(subj.shape, t) + eval_fourier(subj.trab, t) * (1.0 + c))

    def polar(t, r):
        return np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], axis=1)

    t_all = _T_HEART
    s = np.linspace(0.0, 1.0, 64)
    landmarks = {"RVI-1": np.full(2, np.nan), "RVI-2": np.full(2, np.nan)}
    outer_r = epi(t_all)  # outer heart boundary (for the pericardial fat)
    if has_rv:
        t_rv = th_inf + s * (th_ant - th_inf)
        # Crescent profile: zero at both insertion points with a finite opening
        # angle (so the tips are well defined), peak skewed by rv_q.
        g = np.sin(np.pi * s) ** subj.rv_p * (1.0 + subj.rv_q * (s - 0.5))
        rv_out = epi(t_rv) + rv_h * g * (1.0 + eval_fourier(subj.rv_wobble, s * np.pi))
        dw = 1.6 * subj.rv_wall / r_epi
        t_wall = np.concatenate([th_inf - dw * (1 - np.linspace(0, 1, 8, endpoint=False)), t_rv,
                                 th_ant + dw * np.linspace(0, 1, 9)[1:]])
        taper = np.concatenate([np.sin(0.5 * np.pi * np.linspace(0, 1, 8, endpoint=False)), np.ones(s.size),
                                np.cos(0.5 * np.pi * np.linspace(0, 1, 9)[1:])])
        wall_out = np.concatenate([epi(t_wall[:8]), rv_out, epi(t_wall[-8:])]) + subj.rv_wall * taper
        # Pericardial/epicardial fat: patchy, thicker in the two interventricular grooves.
        mask = (t_all > t_wall[0]) & (t_all < t_wall[-1])
        outer_r = np.where(mask, np.interp(t_all, t_wall, wall_out), outer_r)
    fat = subj.fat_mean + eval_fourier(subj.fat_coeffs, t_all)
    for th, amp in ((th_ant, subj.groove_fat[0]), (th_inf, subj.groove_fat[1])):
        d = np.angle(np.exp(1j * (t_all - th)))
        fat = fat + amp * np.exp(-0.5 * (d / 0.25) ** 2)
    items.append(("poly", EPI_FAT, polar(t_all, outer_r + np.maximum(fat, 0.0) + 0.5), 0))
    if has_rv:
        items.append(("poly", RV_WALL, np.concatenate([polar(t_wall, wall_out), polar(t_wall[::-1], epi(t_wall[::-1]))]), 0))
        items.append(("poly", RV_BLOOD, np.concatenate([polar(t_rv, rv_out), polar(t_rv[::-1], epi(t_rv[::-1]))]), 0))
        for s0, frac, size in subj.trabeculae:
            tt = th_inf + s0 * (th_ant - th_inf)
            rr = float(epi(np.array([tt]))[0]
                       + frac * rv_h * math.sin(math.pi * s0) ** subj.rv_p * (1.0 + subj.rv_q * (s0 - 0.5)))
            p = polar(np.array([tt]), np.array([rr]))[0]
            items.append(("poly", RV_TRAB, ellipse_points(p[0], p[1], size, size * 0.7, tt, 16), 0))
        tip = polar(np.array([th_ant, th_inf]), epi(np.array([th_ant, th_inf])))
        landmarks["RVI-1"], landmarks["RVI-2"] = tip[0], tip[1]
    # LV epicardium must contain the exact tip angles so the tips lie on its boundary.
    t_epi = np.sort(np.concatenate([t_all, [th_ant % (2 * np.pi), th_inf % (2 * np.pi)]]))
    items.append(("poly", LV_MYO, polar(t_epi, epi(t_epi)), 0))
    endo_pts = polar(t_all, endo(t_all))
    items.append(("poly", LV_BLOOD, endo_pts, 0))
    pap_scale = math.exp(-0.5 * ((level - 0.5) / 0.22) ** 2) if level > 0.12 else 0.0
    for th, size in subj.paps:
        rp = size * pap_scale * (1.0 + 0.3 * c)
        if rp >= 1.2:
            rr = float(endo(np.array([th]))[0]) - 1.05 * rp  # attached to, not through, the wall
            p = polar(np.array([th]), np.array([rr]))[0]
            items.append(("poly", PAPILLARY, ellipse_points(p[0], p[1], rp, rp * 0.8, th, 20), 0))
    landmarks["LVC"] = polygon_centroid(endo_pts)
    return items, landmarks, {"r_endo_mm": r_endo, "r_epi_mm": r_epi, "rv_present": has_rv}


def _sax_render(rng, subj, pose, look, level, phase):
    c = _contraction(phase, subj.es_phase)
    eff = _sax_effective_level(subj, level, c)
    heart, lm_mm, info = _sax_heart(subj, eff, c)
    image, labels = _render(rng, _thorax_items(np.random.default_rng(subj.thorax["seed"]), subj.thorax) + heart,
                            pose, look)
    lm = {k: (pose.to_px(v[None])[0] if np.all(np.isfinite(v)) else np.full(2, np.nan)) for k, v in lm_mm.items()}
    return image, labels, {k: lm[k] for k in SAX_KEYS}, dict(info, effective_level=eff, contraction=c)


def make_sax_slice(seed_or_rng, *, level=None, phase=0.0, randomisation="train", size=None,
                   spacing_mm=None) -> CardiacSample:
    """One synthetic bSSFP short-axis slice with RVI-1, RVI-2 and LV centre (BCA, ACA or LVC) ground truth.

    Args:
        seed_or_rng: int seed or ``np.random.Generator``; same seed -> same sample.
        level: slice position along the LV, 0 = base .. 1 = most apical slice that
            still has LV cavity; None draws it uniformly.
        phase: cardiac phase in [0, 1), 0 = end-diastole.
        randomisation: "none", "train" or "wide" (see the module docstring).
        size: ``(rows, cols)`` to force the matrix; None draws 160-400 per side.
        spacing_mm: force the pixel spacing (scalar or (sx, sy)); None draws it
            from the field of view (0.6-1.8 mm).

    Returns:
        :class:`CardiacSample` with view "sax", landmarks "RVI-1", "RVI-2", "LVC"
        (``(2,)`` float64 (x, y) px; RVI NaN where the slice has no RV) and
        ``meta["lvc_name"]`` in {"BCA", "LVC", "ACA"}.

    >>> s = make_sax_slice(0, level=0.2, size=(48, 64), spacing_mm=4.0)
    >>> s.image.shape, s.image.dtype, s.labels.shape, s.meta["lvc_name"]
    ((48, 64), dtype('float32'), (48, 64), 'BCA')
    >>> sorted(s.landmarks)
    ['LVC', 'RVI-1', 'RVI-2']
    """
    check_choice("randomisation", randomisation, RANDOMISATIONS)
    rng = as_rng(seed_or_rng)
    prof = _PROFILES[randomisation]
    level = float(rng.uniform(0.0, 1.0)) if level is None else float(level)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must be in [0, 1], got {level}")
    subj = _draw_sax_subject(rng, prof)
    subj.thorax["seed"] = int(rng.integers(2 ** 31))
    pose = _draw_pose(rng, prof, "sax", subj.drift * level, size, spacing_mm)
    look = _draw_look(rng, prof, pose.shape)
    image, labels, lm, info = _sax_render(rng, subj, pose, look, level, float(phase))
    meta = dict(info, level=level, phase=float(phase) % 1.0, es_phase=subj.es_phase,
                lvc_name=lv_centre_name(level), rotation_deg=math.degrees(pose.rotation),
                randomisation=randomisation)
    return CardiacSample(image, labels, pose.spacing.copy(), lm, "sax", meta)


# --------------------------------------------------------------------------
# Long-axis anatomy
# --------------------------------------------------------------------------
@dataclass
class _LaxSubject:
    view: str
    length: float
    w_left: float
    w_right: float
    u_wide: float
    x_mv: float
    wall: float
    wall_apex: float
    bend: float
    trab: tuple
    la_a: float
    la_b: float
    la_shear: float
    leaflets: tuple
    ef: float
    es_phase: float
    descent: float
    rv: dict | None
    pap: tuple
    fat: tuple
    thorax: dict


def _draw_lax_subject(rng, prof: _Profile, view: str) -> _LaxSubject:
    sp = prof.spread
    length = _u(rng, 76.0, 100.0, sp)
    w = _u(rng, 23.0, 30.0, sp)
    x_mv = _u(rng, 12.5, 17.0, sp)
    wall = _u(rng, 7.0, 11.0, sp)
    la_a = _u(rng, 1.15, 1.6)  # LA half-width relative to the annulus half-width
    la_b = _u(rng, 16.0, 27.0, sp)
    rv = None
    if view == "4ch":
        rv = {"tv_offset": _u(rng, 4.0, 10.0), "len": _u(rng, 0.65, 0.88), "width": _u(rng, 18.0, 32.0, sp),
              "gamma": _u(rng, 1.5, 3.0), "wall": _u(rng, 2.0, 4.0), "ra_a": _u(rng, 1.1, 1.5),
              "ra_b": _u(rng, 15.0, 26.0, sp), "band": _u(rng, 0.45, 0.7), "tapse": _u(rng, 14.0, 24.0)}
    rv_w = rv["width"] if rv else 0.0
    fat_body, muscle = _u(rng, 8.0, 25.0, sp), _u(rng, 6.0, 16.0)
    bx, by = _u(rng, -25.0, 25.0), _u(rng, 15.0, 50.0)
    extent_x = w + wall + rv_w + 30.0
    body_a = max(_u(rng, 140.0, 190.0, sp), abs(bx) + extent_x + fat_body + muscle + 20.0)
    body_b = max(_u(rng, 110.0, 150.0, sp), abs(by) + length + 25.0 + fat_body + muscle,
                 abs(by) + 2 * la_b + 45.0 + fat_body + muscle)
    organs = [
        (LUNG, (w + wall + _u(rng, 25, 55), _u(rng, -10, 0.6 * length), _u(rng, 30, 50), _u(rng, 55, 95),
                rng.uniform(-.5, .5))),
        (LUNG, (-w - wall - rv_w - _u(rng, 25, 55), _u(rng, -20, 0.4 * length), _u(rng, 30, 50),
                _u(rng, 50, 90), rng.uniform(-.5, .5))),
        (LIVER, (-_u(rng, 0, 45), length + _u(rng, 35, 65), _u(rng, 60, 95), _u(rng, 30, 55), rng.uniform(-.5, .5))),
    ]
    ax, ay = _u(rng, -10.0, 25.0), -2 * la_b - _u(rng, 8.0, 20.0)
    thorax = {
        "body": (bx, by, body_a, body_b, rng.uniform(-0.3, 0.3)), "fat": fat_body, "muscle": muscle,
        "organs": organs, "aorta": (ax, ay, _u(rng, 9.0, 13.0)),
        "spine": (ax + _u(rng, -10.0, 10.0), ay - _u(rng, 22.0, 30.0), _u(rng, 13.0, 17.0)),
    }
    return _LaxSubject(
        view=view, length=length, w_left=w * _u(rng, 0.88, 1.12), w_right=w * _u(rng, 0.88, 1.12),
        u_wide=_u(rng, 0.18, 0.38), x_mv=x_mv, wall=wall, wall_apex=_u(rng, 3.5, 7.0, sp),
        bend=_u(rng, -8.0, 8.0, sp), trab=fourier_coeffs(rng, 0.45, 4, 10),
        la_a=la_a, la_b=la_b, la_shear=_u(rng, -0.35, 0.35, sp),
        leaflets=(_u(rng, 18.0, 26.0), _u(rng, 11.0, 16.0)),
        ef=_u(rng, 0.18, 0.32), es_phase=_u(rng, 0.3, 0.42), descent=_u(rng, 8.0, 16.0, sp),
        rv=rv, pap=(_u(rng, 0.45, 0.65), _u(rng, 3.0, 6.0)), fat=(_u(rng, 2.0, 9.0), _u(rng, 2.0, 9.0)),
        thorax=thorax,
    )


def _dome(p1, p2, a_rel, b, shear, n=48, grow=0.0):
    """Closed-by-chord elliptic dome standing on the chord p1 -> p2, bulging to its left-hand normal.

    The arc passes exactly through ``p1`` and ``p2`` (extended by ``grow`` mm).
    Returns ``(n, 2)`` points from p2 over the dome to p1.
    """
    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    mid, e1 = 0.5 * (p1 + p2), (p2 - p1) / np.linalg.norm(p2 - p1)
    e2 = np.array([e1[1], -e1[0]])  # away from the ventricle for a left->right chord with y down
    d = 0.5 * np.linalg.norm(p2 - p1) + grow
    a, b = max(a_rel * d, 1.02 * d), b + grow
    k = b * math.sqrt(1.0 - (d / a) ** 2)
    phi0 = math.atan2(-k / b, d / a)
    phi = np.linspace(phi0, math.pi - phi0, n)
    lx, ly = a * np.cos(phi), k + b * np.sin(phi)
    lx = lx + shear * ly
    return mid + lx[:, None] * e1 + ly[:, None] * e2


def _lax_heart(subj: _LaxSubject, c: float, open_frac: float):
    items = []
    y0 = subj.descent * c
    lc = subj.length - y0
    shrink = 1.0 - subj.ef * c
    x_mv = subj.x_mv * (1.0 - 0.1 * c)
    wall = subj.wall * (1.0 + 1.1 * subj.ef * c)
    wall_apex = subj.wall_apex * (1.0 + 0.8 * subj.ef * c)
    v = np.linspace(0.0, 1.0, 56)
    u = np.sin(0.5 * np.pi * v)  # dense near the apex

    def half_width(u, w):
        w = w * shrink
        up = x_mv + (w - x_mv) * np.sin(0.5 * np.pi * np.minimum(u / subj.u_wide, 1.0))
        down = w * np.sqrt(np.clip(1.0 - ((u - subj.u_wide) / (1.0 - subj.u_wide)) ** 2, 0.0, 1.0))
        return np.where(u <= subj.u_wide, up, down)

    xc = subj.bend * u ** 2
    # Trabeculation: independent small ripples on the two endocardial walls.
    ripple = np.sin(np.pi * u) * (1.0 + c)
    hl0, hr0 = half_width(u, subj.w_left), half_width(u, subj.w_right)
    hl = hl0 + eval_fourier(subj.trab, u * 6.0) * ripple
    hr = hr0 + eval_fourier(subj.trab, u * 6.0 + 2.7) * ripple
    y_endo = y0 + u * lc
    thick = wall + (wall_apex - wall) * u ** 2
    y_epi = y0 + u * (lc + wall_apex)
    endo_left = np.stack([xc - hl, y_endo], 1)
    endo_right = np.stack([xc + hr, y_endo], 1)
    epi_left = np.stack([xc - hl0 - thick * (1 - u ** 8), y_epi], 1)
    epi_right = np.stack([xc + hr0 + thick * (1 - u ** 8), y_epi], 1)
    mv1, mv2 = endo_left[0].copy(), endo_right[0].copy()

    # Fat in the atrioventricular grooves, outside the hinges.
    for p, side, amp in ((mv1, -1.0, subj.fat[0]), (mv2, 1.0, subj.fat[1])):
        items.append(("poly", EPI_FAT, ellipse_points(p[0] + side * (wall + 0.5 * amp), p[1] - 2.0, amp + 2.0,
                                                      amp + 4.0, 0.0, 24), 0))
    if subj.view == "2ch":  # coronary sinus in the inferior AV groove
        items.append(("poly", VESSEL, ellipse_points(mv1[0] - wall - 2.0, mv1[1] - 3.0, 3.5, 3.0, 0.0, 16), 0))
    if subj.rv is not None:
        rv = subj.rv
        y_tv = y0 + rv["tv_offset"] + (rv["tapse"] - subj.descent) * c
        u_rv = rv["len"]
        sel = (y_epi >= y_tv) & (u <= u_rv)
        sept = epi_left[sel]
        if len(sept) >= 3:
            uu = (u[sel] - u[sel][0]) / max(u_rv - u[sel][0], 1e-6)
            wr = rv["width"] * (1.0 - 0.2 * c) * np.sqrt(np.clip(1.0 - uu ** rv["gamma"], 0.0, 1.0))
            free = sept - np.stack([wr, np.zeros_like(wr)], 1)
            free_wall = free - np.stack([np.full_like(wr, rv["wall"]), -rv["wall"] * uu ** 4], 1)
            tv_lat, tv_sep = free[0], sept[0]
            items.append(("poly", ATRIAL_WALL, _dome(tv_lat, tv_sep, rv["ra_a"], rv["ra_b"], 0.1, grow=2.5), 0))
            items.append(("poly", RA_BLOOD, _dome(tv_lat, tv_sep, rv["ra_a"], rv["ra_b"], 0.1), 0))
            items.append(("poly", RV_WALL, np.concatenate([free_wall, sept[::-1]]), 0))
            items.append(("poly", RV_BLOOD, np.concatenate([free, sept[::-1]]), 0))
            k = int(np.argmin(np.abs(uu - rv["band"])))
            items.append(("line", RV_TRAB, np.stack([free[k] + (0.5, 0.0), sept[min(k + 3, len(sept) - 1)]]), 2.5))
            items.append(("line", LEAFLET, np.stack([tv_lat, tv_lat + (4.0, 10.0 * open_frac + 3.0)]), 1.5))
    items.append(("poly", ATRIAL_WALL, _dome(mv1, mv2, subj.la_a, subj.la_b * (1.0 + 0.15 * c),
                                            subj.la_shear, grow=2.5), 0))
    items.append(("poly", LA_BLOOD, _dome(mv1, mv2, subj.la_a, subj.la_b * (1.0 + 0.15 * c), subj.la_shear), 0))
    items.append(("poly", LV_MYO, np.concatenate([epi_left, epi_right[::-1]]), 0))
    items.append(("poly", LV_BLOOD, np.concatenate([endo_left, endo_right[::-1]]), 0))
    pu, psize = subj.pap
    k = int(np.argmin(np.abs(u - pu)))
    ps = psize * (1.0 + 0.3 * c)
    items.append(("poly", PAPILLARY, ellipse_points(endo_right[k, 0] - 0.6 * ps, endo_right[k, 1], ps,
                                                    1.6 * ps, 0.3, 20), 0))
    # Leaflets: open toward the apex in diastole, meeting just below the annular plane when closed.
    coapt = 0.5 * (mv1 + mv2) + (0.0, 4.0)
    for hinge, length, side in ((mv1, subj.leaflets[0], 1.0), (mv2, subj.leaflets[1], -1.0)):
        open_tip = hinge + length * np.array([side * 0.25, 1.0]) / math.hypot(0.25, 1.0)
        closed_dir = coapt - hinge
        closed_tip = hinge + closed_dir * min(1.0, length / np.linalg.norm(closed_dir))
        tip = open_frac * open_tip + (1.0 - open_frac) * closed_tip
        mid = 0.5 * (hinge + tip) + (0.0, 1.5 * open_frac)
        items.append(("line", LEAFLET, np.stack([hinge, mid, tip]), 1.6))
    return items, {"MV-1": mv1, "MV-2": mv2}


def _valve_open(phase: float, es_phase: float) -> float:
    """Mitral opening 0 (closed, systole) .. 1 (open, diastole)."""
    u = float(phase) % 1.0
    if u < es_phase + 0.05:
        return 0.0
    return float(min(1.0, (u - es_phase - 0.05) / 0.08))


def _lax_render(rng, subj, pose, look, phase):
    c = _contraction(phase, subj.es_phase)
    heart, lm_mm = _lax_heart(subj, c, _valve_open(phase, subj.es_phase))
    image, labels = _render(rng, _thorax_items(np.random.default_rng(subj.thorax["seed"]), subj.thorax) + heart,
                            pose, look)
    lm = {k: pose.to_px(v[None])[0] for k, v in lm_mm.items()}
    return image, labels, lm, {"contraction": c}


def make_lax_slice(seed_or_rng, *, view=None, phase=0.0, randomisation="train", size=None,
                   spacing_mm=None) -> CardiacSample:
    """One synthetic bSSFP long-axis slice (4- or 2-chamber) with MV-1/MV-2 ground truth.

    Args:
        seed_or_rng: int seed or ``np.random.Generator``.
        view: "4ch", "2ch" or None (random).
        phase: cardiac phase in [0, 1), 0 = end-diastole.
        randomisation, size, spacing_mm: as :func:`make_sax_slice`.

    Returns:
        :class:`CardiacSample` with view "lax", ``meta["lax_view"]`` and landmarks
        "MV-1" (4ch septal / 2ch inferior hinge) and "MV-2" (4ch lateral / 2ch
        anterior hinge), ``(2,)`` float64 (x, y) px.

    >>> s = make_lax_slice(1, view="2ch", size=(40, 48), spacing_mm=5.0)
    >>> s.image.shape, s.meta["lax_view"], s.meta["mv_names"]["MV-1"]
    ((40, 48), '2ch', 'inferior')
    """
    check_choice("randomisation", randomisation, RANDOMISATIONS)
    rng = as_rng(seed_or_rng)
    prof = _PROFILES[randomisation]
    if view is None:
        view = "4ch" if rng.random() < 0.5 else "2ch"
    check_choice("view", view, ("4ch", "2ch"))
    subj = _draw_lax_subject(rng, prof, view)
    subj.thorax["seed"] = int(rng.integers(2 ** 31))
    pose = _draw_pose(rng, prof, "lax", (0.0, 0.3 * subj.length), size, spacing_mm)
    look = _draw_look(rng, prof, pose.shape)
    image, labels, lm, info = _lax_render(rng, subj, pose, look, float(phase))
    meta = dict(info, lax_view=view, phase=float(phase) % 1.0, es_phase=subj.es_phase,
                mv_names=_MV_NAMES[view], rotation_deg=math.degrees(pose.rotation), randomisation=randomisation)
    return CardiacSample(image, labels, pose.spacing.copy(), lm, "lax", meta)


_MV_NAMES = {"4ch": {"MV-1": "septal", "MV-2": "lateral"}, "2ch": {"MV-1": "inferior", "MV-2": "anterior"}}


# --------------------------------------------------------------------------
# Cine
# --------------------------------------------------------------------------
def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _oblique_frame(rng, view: str, lax_view: str | None):
    """RAS unit vectors (canonical x, canonical y, slice normal) of an oblique cardiac plane."""
    # LV long axis base -> apex points left, anterior and inferior in RAS.
    apex = _unit(np.array([-0.55, 0.55, -0.6]) + rng.normal(0.0, 0.12, 3))
    left = np.array([-1.0, 0.0, 0.0])
    lateral = _unit(left - apex * (left @ apex))  # toward the LV free wall, in the SAX plane
    posterior = np.cross(apex, lateral)  # completes the SAX plane; check its sign below
    if posterior[1] > 0:  # must point toward -A (posterior)
        posterior = -posterior
    if view == "sax":
        return lateral, posterior, apex
    if lax_view == "4ch":  # septal -> lateral across, base -> apex down
        return lateral, apex, np.cross(lateral, apex)
    anterior = -posterior  # 2ch: inferior -> anterior across
    return anterior, apex, np.cross(anterior, apex)


def make_cardiac_cine(seed, *, view="sax", n_frames=30, n_slices=1, size=None, lax_view=None,
                      randomisation="train") -> CardiacCine:
    """A cine of one synthetic subject: ``n_frames`` phases x ``n_slices`` parallel slices.

    SAX slices evenly span the LV from the base (level 0) to the most apical
    slice with LV cavity (level 1); with one slice the level is random.
    Slice spacing follows from the LV length (about 65-90 mm). LAX needs
    ``n_slices == 1``. Anatomy, pose, pixel grid, contrast and bias field are
    shared by all frames; the noise is drawn per image.

    Args:
        seed: int seed or ``np.random.Generator``.
        view: "sax" or "lax"; lax_view: "4ch", "2ch" or None (random).
        n_frames: phases evenly spaced over one RR interval, starting at end-diastole.
        size: ``(rows, cols)``; None draws it.
        randomisation: "none", "train" or "wide".

    >>> cine = make_cardiac_cine(0, n_frames=2, n_slices=3, size=(32, 40))
    >>> cine.frames.shape, cine.landmarks["RVI-1"].shape, cine.spacing.shape
    ((2, 3, 32, 40), (2, 3, 2), (3,))
    >>> bool(np.isnan(cine.landmarks["BCA"][:, 1:]).all() and np.isfinite(cine.landmarks["BCA"][:, 0]).all())
    True
    """
    check_choice("view", view, ("sax", "lax"))
    check_choice("randomisation", randomisation, RANDOMISATIONS)
    if int(n_frames) < 1 or int(n_slices) < 1:
        raise ValueError(f"n_frames and n_slices must be >= 1, got {n_frames}, {n_slices}")
    if view == "lax" and int(n_slices) != 1:
        raise ValueError(f"a long-axis cine has one slice, got n_slices={n_slices}")
    rng = as_rng(seed)
    prof = _PROFILES[randomisation]
    t_count, z_count = int(n_frames), int(n_slices)
    phases = np.arange(t_count) / t_count
    if view == "sax":
        subj = _draw_sax_subject(rng, prof)
        levels = np.linspace(0.0, 1.0, z_count) if z_count > 1 else np.array([rng.uniform(0.0, 1.0)])
        anchor = subj.drift * 0.5 if z_count > 1 else subj.drift * levels[0]
        keys = SAX_KEYS
    else:
        lax_view = lax_view or ("4ch" if rng.random() < 0.5 else "2ch")
        check_choice("lax_view", lax_view, ("4ch", "2ch"))
        subj = _draw_lax_subject(rng, prof, lax_view)
        levels = np.zeros(1)
        anchor = np.array([0.0, 0.3 * subj.length])
        keys = LAX_KEYS
    subj.thorax["seed"] = int(rng.integers(2 ** 31))
    pose = _draw_pose(rng, prof, "sax" if view == "sax" else "lax", anchor, size, None)
    look = _draw_look(rng, prof, pose.shape)
    h, w = pose.shape
    frames = np.empty((t_count, z_count, h, w), np.float32)
    labels = np.empty((t_count, z_count, h, w), np.uint8)
    lms = {k: np.full((t_count, z_count, 2), np.nan) for k in keys}
    for ti, ph in enumerate(phases):
        for zi, lev in enumerate(levels):
            if view == "sax":
                img, lab, lm, _ = _sax_render(rng, subj, pose, look, float(lev), float(ph))
            else:
                img, lab, lm, _ = _lax_render(rng, subj, pose, look, float(ph))
            frames[ti, zi], labels[ti, zi] = img, lab
            for k in keys:
                lms[k][ti, zi] = lm[k]
    sz = subj.length / (z_count - 1) if (view == "sax" and z_count > 1) else 8.0
    meta = {"es_phase": subj.es_phase, "randomisation": randomisation, "rotation_deg": math.degrees(pose.rotation)}
    if view == "sax":
        if z_count > 1:
            names = {"BCA": 0, "ACA": z_count - 1}
        else:
            name = lv_centre_name(float(levels[0]))
            names = {name: 0} if name != "LVC" else {}
        for name in ("BCA", "ACA"):
            arr = np.full((t_count, z_count, 2), np.nan)
            if name in names:
                arr[:, names[name]] = lms["LVC"][:, names[name]]
            lms[name] = arr
    else:
        meta.update(lax_view=lax_view, mv_names=_MV_NAMES[lax_view])
    # Geometry: canonical mm (x, y) maps to RAS through the oblique frame; the
    # in-plane scene rotation is folded into the direction matrix so that RAS
    # positions of the anatomy are exact.
    ex, ey, ez = _oblique_frame(rng, view, lax_view)
    m = np.stack([ex, ey], axis=1)  # (3, 2): canonical x, y -> RAS
    r_inv = rotation(pose.rotation).T
    dir_xy = m @ r_inv  # pixel axes (unit) -> RAS
    direction = np.column_stack([dir_xy, ez])
    spacing = np.array([pose.spacing[0], pose.spacing[1], sz])
    heart_ras = np.array([0.0, 0.0, 0.0]) + rng.normal(0.0, 20.0, 3)
    # pixel (0,0) -> canonical anchor - R^T S^-1 centre
    canon0 = pose.anchor_mm - r_inv @ (pose.centre_px * pose.spacing)
    origin = heart_ras + m @ canon0
    geometry = Geometry(spacing=spacing, origin=origin, direction=direction)
    meta["heart_ras"] = heart_ras
    return CardiacCine(frames, labels, spacing, lms, geometry, view, phases, levels, meta)
