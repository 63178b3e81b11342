"""Endoscopic suture phantom, version 2: frames drawn to look like the real AdaptOR frames.

Version 1 (:mod:`heatmap_landmarks.phantoms.endoscopic`) is unchanged: the
shipped suture model and its records were made with it. A model trained on
version 1 alone scores F1 0 on real AdaptOR frames and fires on the
endoscope's overlay icons and on logo letters, so version 2 draws what the
real frames show (looked at on the 15 labelled AdaptOR frames and the
challenge's logo frame):

* **Tissue** (``"intraop"``): yellow-white valve and annulus tissue, often
  over-exposed by the scope light, pink-red atrial wall with fibre streaks,
  thin dark-red blood streaks and pools, wet white glints. (``"sim"``): the
  simulator's translucent blue-white silicone bowl with concentric print
  ridges and a dark orifice slit, in a dark grey housing with a metal block
  and screws, sometimes a bronze mesh ring.
* **Threads**: thin, glossy (dark edge, bright stripe), braided, slightly
  curved; green, blue, dark grey, pink or white (intra-op), white, light blue
  and teal, thicker (simulator, often kinked where they bend over the rim).
  They run in bundles from the annulus to a few pull points beyond the
  frame edge; stray threads of sutures outside the view cross the frame.
* **Instruments**: brushed-metal retractor blades and sizers with engraved or
  printed text, cylindrical needle-holder shafts, curved needles. Each is
  drawn under or over the threads.
* **Distractors**: the endoscope overlay at the bottom right (small icons and
  "S 3D"-like text; a few frames put it elsewhere), logos (big outlined
  words) and small text lines, light montage borders, vignetting, blur,
  downscale-upscale softness (most real frames are upscaled from ~340x195),
  motion blur, sensor noise and JPEG.

**Labelling rules** (the challenge's guide): a point is where a suture thread
enters or exits the annulus tissue. The generator places exactly
``n_sutures`` such points, each at the start of its own thread, on annulus
tissue that no instrument, other thread, overlay or text covers. It also
draws thread ends that are *not* labelled, as the rules say: a needle only
half through (its tissue contact), and thread ends hidden under an
instrument. They are listed in ``meta["skipped"]``.

``distractors`` is a per-frame ``(H, W) uint8`` mask of the overlay, printed
text and logo/text strokes (values :data:`OVERLAY`, :data:`PRINTED_TEXT`,
:data:`LOGO_TEXT`), so an evaluation can count detections on them.

Conventions: frames are ``(H, W, 3) float32`` RGB in [0, 1] (default 288 x
512; sizes scale the scene by ``W / 512``); points ``(N, 2) float32`` (x, y)
pixels, pixel centres at integers. Everything is deterministic given the seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ._common import as_rng, check_choice, smooth_field, white_noise
from .endoscopic import MAX_SUTURES, SutureSample
from .endoscopic import check_arguments  # the same arguments as v1, checked the same way

__all__ = [
    "DISTRACTOR_NAMES",
    "ENDOSCOPE_OVERLAY_BOX",
    "SutureSampleV2",
    "make_suture_frame_v2",
]


#: ``labels`` values (0-3 as in version 1).
BACKGROUND, ANNULUS, TISSUE, THREAD, INSTRUMENT, NEEDLE = 0, 1, 2, 3, 4, 5
#: ``distractors`` values.
NO_DISTRACTOR, OVERLAY, PRINTED_TEXT, LOGO_TEXT = 0, 1, 2, 3
DISTRACTOR_NAMES = {OVERLAY: "overlay", PRINTED_TEXT: "printed_text", LOGO_TEXT: "logo_text"}

#: The endoscope overlay (icons and "S 3D" text) on the real 512x288 AdaptOR
#: frames, measured on all 15 labelled frames: ``(x0, y0, x1, y1)`` pixels,
#: x1/y1 exclusive. It covers the icons of both the 2021 and the 2022 frames.
ENDOSCOPE_OVERLAY_BOX = (408, 258, 496, 288)

_REF_W = 512.0
_MIN_POINT_DIST_PX = 7.0  # labelled points are at least this far apart (matching radius is 6 px)
_EDGE_MARGIN_PX = 8.0


@dataclass
class SutureSampleV2(SutureSample):
    """One version-2 frame.

    Attributes:
        image: ``(H, W, 3) float32`` RGB in [0, 1].
        points: ``(N, 2) float32`` (x, y) pixels of the labelled suture entry/exit points.
        labels: ``(H, W) uint8``: 0 background, 1 annulus, 2 other tissue,
            3 thread, 4 instrument, 5 needle.
        meta: domain, randomisation, version (2), threads (``(M, 2) float32``
            polylines, each starting at its tissue end; labelled points first),
            thread_width_px (width at the tissue end), point_thread (thread of
            each point), skipped (unlabelled thread ends: ``{"xy", "reason"}``
            with reason ``"needle_half_through"`` or ``"hidden"``),
            overlay_box (``(x0, y0, x1, y1)`` or None), scale.
        distractors: ``(H, W) uint8``: 0 none, 1 endoscope overlay,
            2 printed text on instruments, 3 logo / other text.
    """

    distractors: np.ndarray | None = None


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _colour(rng, base, jitter):
    return np.clip(np.asarray(base, np.float64) * (1.0 + rng.uniform(-jitter, jitter, 3)), 0.0, 1.0)


def _fixed(pts):
    """Float (x, y) px -> cv2 fixed-point (shift 4) int32 polyline."""
    return np.round(np.asarray(pts, dtype=np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)


def _th(width) -> int:
    return max(1, int(round(float(width))))


def _seg_dist(pts, poly) -> np.ndarray:
    """``(K, M-1)`` distances of points ``(K, 2)`` to each segment of polyline ``(M, 2)``."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    poly = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(poly) == 1:
        return np.linalg.norm(pts - poly[0], axis=1)[:, None]
    a, ab = poly[:-1], np.diff(poly, axis=0)
    rel = pts[:, None, :] - a[None]
    t = np.clip((rel * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.sqrt(((rel - t[..., None] * ab) ** 2).sum(-1))


def _gauss_blob(xs, ys, x0, y0, sigma):
    return np.exp(-((xs - x0) ** 2) / (2 * sigma ** 2)).astype(np.float32) * \
        np.exp(-((ys - y0) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _random_walk(rng, start, steps, turn, step_len):
    ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, turn, steps))
    return np.asarray(start, np.float64) + np.cumsum(np.stack([np.cos(ang), np.sin(ang)], 1) * step_len, 0)


def _streaks(rng, shape, angle_deg, width_px=1.5) -> np.ndarray:
    """``(H, W)`` float32 zero-mean, unit-std brushed-metal streaks running along ``angle_deg``.

    A random 1-D profile across the streak direction, looked up per pixel (no
    2-D filtering: a few whole-image operations).
    """
    h, w = shape
    a = math.radians(float(angle_deg))
    xs, ys = _grids((h, w))
    q = ys * np.float32(math.cos(a)) - xs * np.float32(math.sin(a))
    q = (q - q.min()) * np.float32(1.0 / max(width_px, 0.5))
    profile = cv2.GaussianBlur(rng.standard_normal((1, int(q.max()) + 2)).astype(np.float32), (0, 0), 0.7)[0]
    profile /= max(float(profile.std()), 1e-6)
    return profile[q.astype(np.int32)]


_SYLLABLES = ("ka", "ro", "me", "di", "va", "no", "ta", "li", "su", "pe", "cor", "tex", "med", "on", "ex", "ar")
_WORDS = ("MEDICAL", "STERILE", "SIZE", "REF", "LOT", "CE 0123", "USA", "MADE IN", "TITANIUM", "RING")


def _random_word(rng, *, upper=None) -> str:
    word = "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), int(rng.integers(2, 4))))
    upper = rng.random() < 0.6 if upper is None else upper
    return word.upper() if upper else word.capitalize()


def _instrument_text(rng) -> str:
    r = rng.random()
    if r < 0.35:
        return f"{_random_word(rng, upper=False)} {int(rng.integers(24, 41))}"
    if r < 0.6:
        return _WORDS[int(rng.integers(len(_WORDS)))]
    if r < 0.8:
        return f"{_random_word(rng, upper=True)}-{int(rng.integers(10, 99))}"
    return _random_word(rng, upper=True)


_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN)


def _text_patch(text, font, scale, thickness, pad=4) -> np.ndarray:
    """``(h, w) float32`` anti-aliased text mask in [0, 1] (cv2 Hershey font)."""
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    patch = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(patch, text, (pad, pad + th), font, scale, 255, thickness, cv2.LINE_AA)
    return patch.astype(np.float32) * np.float32(1.0 / 255.0)


def _stamp(patch, centre, angle_deg, shape) -> np.ndarray:
    """Rotate ``patch`` by ``angle_deg`` about its centre and put that centre at ``centre`` (x, y) px
    in an ``(H, W)`` frame."""
    ph, pw = patch.shape
    m = cv2.getRotationMatrix2D(((pw - 1) / 2.0, (ph - 1) / 2.0), float(angle_deg), 1.0)
    m[:, 2] += np.asarray(centre, np.float64) - ((pw - 1) / 2.0, (ph - 1) / 2.0)
    return cv2.warpAffine(patch, m, (int(shape[1]), int(shape[0])), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _dilate(mask, px) -> np.ndarray:
    r = max(1, int(round(px)))
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))


def _views(rgb):
    """The three channel planes of a contiguous ``(H, W, 3)`` image as writable views."""
    return [rgb[..., c] for c in range(3)]


def _mix(planes, alpha, colour):
    """Alpha-blend a constant ``colour`` into RGB ``planes`` (3 ``(H, W)`` views or arrays) in place
    (only inside the bounding box of ``alpha > 0``: the same result, faster for small shapes)."""
    x, y, bw, bh = cv2.boundingRect((alpha > 0).astype(np.uint8))
    if bw == 0 or bh == 0:
        return
    a = alpha[y:y + bh, x:x + bw]
    for k in range(3):
        sub = planes[k][y:y + bh, x:x + bw]
        sub += a * (np.float32(colour[k]) - sub)


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------
@dataclass
class _Ellipse:
    cx: float
    cy: float
    a: float
    b: float
    phi: float

    def rho(self, xs, ys) -> np.ndarray:
        """``(H, W)`` normalised radius (1 on the ellipse) for ``xs (1, W)``, ``ys (H, 1)``."""
        c, s = math.cos(self.phi), math.sin(self.phi)
        dx, dy = xs - np.float32(self.cx), ys - np.float32(self.cy)
        u = (np.float32(c / self.a) * dx + np.float32(s / self.a) * dy)
        v = (np.float32(-s / self.b) * dx + np.float32(c / self.b) * dy)
        return cv2.magnitude(np.ascontiguousarray(np.broadcast_to(u, (ys.shape[0], xs.shape[1]))),
                             np.ascontiguousarray(np.broadcast_to(v, (ys.shape[0], xs.shape[1]))))

    def point(self, theta, rho) -> np.ndarray:
        """``(K, 2)`` pixels at angles ``theta`` and normalised radii ``rho``."""
        theta, rho = np.broadcast_arrays(np.asarray(theta, np.float64), np.asarray(rho, np.float64))
        c, s = math.cos(self.phi), math.sin(self.phi)
        u, v = self.a * rho * np.cos(theta), self.b * rho * np.sin(theta)
        return np.stack([self.cx + c * u - s * v, self.cy + s * u + c * v], -1).reshape(-1, 2)

    def scaled(self, f) -> "_Ellipse":
        return _Ellipse(self.cx, self.cy, self.a * f, self.b * f, self.phi)


@dataclass
class _Layout:
    domain: str
    size: tuple
    scale: float
    spread: float
    annulus: _Ellipse
    band_in: float  # annulus band, in units of rho below / above 1
    band_out: float
    pulls: list  # bundle pull points beyond the frame, (2,) px each
    light_dir: np.ndarray


def _draw_layout(rng, domain, size, spread) -> _Layout:
    h, w = size
    k = w / _REF_W
    scale = float(rng.uniform(0.75, 1.35)) * k
    intra = domain == "intraop"
    a = float(rng.uniform(110.0, 330.0) if intra else rng.uniform(95.0, 190.0)) * scale
    b = a * float(rng.uniform(0.55, 0.95))
    phi = float(rng.uniform(0, np.pi))
    # The annulus passes through a random point of the central part of the frame.
    tx, ty = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    theta0 = rng.uniform(0, 2 * np.pi)
    c, s = math.cos(phi), math.sin(phi)
    u, v = a * math.cos(theta0), b * math.sin(theta0)
    ell = _Ellipse(tx - (c * u - s * v), ty - (s * u + c * v), a, b, phi)
    r = math.sqrt(a * b)
    band_in = float(rng.uniform(5.0, 13.0)) * scale / r
    band_out = float(rng.uniform(6.0, 15.0)) * scale / r
    # Bundles: 1-3 pull points beyond the frame; intra-op threads mostly go right/up, sim threads right.
    pulls = []
    for _ in range(int(rng.integers(1, 4))):
        side = rng.choice(4, p=[0.5, 0.25, 0.15, 0.1] if intra else [0.7, 0.15, 0.1, 0.05])  # right, top, bottom, left
        beyond = float(rng.uniform(60.0, 900.0)) * k
        along = rng.uniform(-0.2, 1.2)
        pulls.append(np.array([(w - 1 + beyond, along * h), (along * w, -beyond), (along * w, h - 1 + beyond),
                               (-beyond, along * h)][int(side)]))
    a_l = rng.uniform(0, 2 * np.pi)
    return _Layout(domain, (h, w), scale, spread, ell, band_in, band_out, pulls,
                   np.array([math.cos(a_l), math.sin(a_l)]))


# --------------------------------------------------------------------------
# Instruments (geometry first: points must avoid them)
# --------------------------------------------------------------------------
@dataclass
class _Instrument:
    kind: str  # "plate", "shaft", "sizer"
    above: bool  # drawn over the threads
    alpha: np.ndarray  # (H, W) float32 coverage in [0, 1]
    params: dict


def _plate_polygon(rng, size, k):
    """A retractor blade entering from one edge: a long quadrilateral band."""
    h, w = size
    side = int(rng.choice(4, p=[0.55, 0.2, 0.15, 0.1]))  # top, left, right, bottom
    depth = float(rng.uniform(0.18, 0.45)) * (h if side in (0, 3) else w * 0.6)
    slope = float(rng.uniform(-0.35, 0.35))
    if side in (0, 3):
        x = np.array([-40.0 * k, w + 40.0 * k])
        inner = depth + slope * (x - w / 2)
        edge = -20.0 * k if side == 0 else h + 20.0 * k
        inner = inner if side == 0 else h - 1 - inner
        poly = np.array([[x[0], edge], [x[1], edge], [x[1], inner[1]], [x[0], inner[0]]])
    else:
        y = np.array([-40.0 * k, h + 40.0 * k])
        inner = depth + slope * (y - h / 2)
        edge = -20.0 * k if side == 1 else w + 20.0 * k
        inner = inner if side == 1 else w - 1 - inner
        poly = np.array([[edge, y[0]], [edge, y[1]], [inner[1], y[1]], [inner[0], y[0]]])
    # The inner edge carries a rounded bend (the blade's lip): shift its middle a little.
    return poly, side


def _plan_instruments(rng, lay: _Layout) -> list:
    h, w = lay.size
    k = w / _REF_W
    intra = lay.domain == "intraop"
    out = []
    if rng.random() < (0.55 if intra else 0.12):
        poly, side = _plate_polygon(rng, (h, w), k)
        alpha = np.zeros((h, w), np.float32)
        cv2.fillPoly(alpha, [_fixed(poly)], 1.0, cv2.LINE_AA, 4)
        out.append(_Instrument("plate", rng.random() < 0.45, alpha, {"poly": poly, "side": side}))
    n_shafts = int(rng.choice(3, p=[0.4, 0.45, 0.15]) if intra else rng.choice(3, p=[0.45, 0.4, 0.15]))
    for _ in range(n_shafts):
        # From beyond an edge to a tip inside the frame.
        edge_pt = np.array([rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h])
        side = int(rng.integers(4))  # left, right, top, bottom
        if side < 2:
            edge_pt[0] = -30.0 * k if side == 0 else w + 30.0 * k
        else:
            edge_pt[1] = -30.0 * k if side == 2 else h + 30.0 * k
        tip = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
        radius = float(rng.uniform(5.0, 17.0)) * lay.scale
        alpha = _shaft_alpha((h, w), edge_pt, tip, radius)
        out.append(_Instrument("shaft", True, alpha,
                               {"p0": edge_pt, "p1": tip, "r": radius, "steel": float(rng.uniform(0.5, 0.8))}))
    if rng.random() < 0.15:
        centre = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
        ax = float(rng.uniform(35.0, 70.0)) * lay.scale
        ang = float(rng.uniform(0, 180))
        alpha = np.zeros((h, w), np.float32)
        cv2.ellipse(alpha, (int(centre[0] * 16), int(centre[1] * 16)),
                    (int(ax * 16), int(ax * rng.uniform(0.6, 0.85) * 16)), ang, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
        out.append(_Instrument("sizer", True, alpha, {"centre": centre, "angle": ang, "ax": ax}))
    return out


def _shaft_frame(size, p0, p1):
    h, w = size
    d = np.asarray(p1, np.float64) - np.asarray(p0, np.float64)
    length = max(float(np.linalg.norm(d)), 1e-6)
    u = d / length
    xs = np.arange(w, dtype=np.float32)[None, :] - np.float32(p0[0])
    ys = np.arange(h, dtype=np.float32)[:, None] - np.float32(p0[1])
    along = xs * np.float32(u[0]) + ys * np.float32(u[1])
    across = -xs * np.float32(u[1]) + ys * np.float32(u[0])
    return along, across, length


def _shaft_alpha(size, p0, p1, radius):
    along, across, length = _shaft_frame(size, p0, p1)
    t = along / np.float32(length)
    # The jaw (last 15 %) tapers to half the radius, ending in a round tip.
    r = np.where(t < 0.85, np.float32(radius), np.float32(radius) * (1.0 - 0.5 * np.clip((t - 0.85) / 0.15, 0, 1)))
    alpha = np.clip(r - np.abs(across) + 0.5, 0.0, 1.0) * np.clip(np.float32(length) - along + 0.5, 0.0, 1.0)
    return alpha.astype(np.float32)


# --------------------------------------------------------------------------
# Distractors (planned first: points must avoid them, drawn last)
# --------------------------------------------------------------------------
@dataclass
class _Layer:
    kind: int  # OVERLAY, PRINTED_TEXT, LOGO_TEXT
    alpha: np.ndarray  # (H, W) float32
    colour: object  # (3,) or list of (alpha, colour) sub-layers
    box: tuple | None = None


def _overlay_patch(rng):
    """The endoscope overlay at the 512-px reference scale: ``alpha (30, 88)`` and ``colour (3, 30, 88)`` float32."""
    ph, pw = 30, 88
    a = np.zeros((ph, pw), np.float32)
    cols = np.zeros((3, ph, pw), np.float32)

    def canvas():
        return np.zeros((ph, pw), np.uint8)

    def put(mask, colour, blur=0.0, strength=1.0):
        m = mask.astype(np.float32) * np.float32(strength / 255.0)
        if blur:
            m = cv2.GaussianBlur(m, (0, 0), blur)
        np.maximum(a, m, out=a)
        for c in range(3):
            cols[c] = np.where(m > 0.05, np.float32(colour[c]), cols[c])

    white = _colour(rng, (0.95, 0.95, 0.95), 0.05)
    blue = _colour(rng, (0.15, 0.35, 0.85), 0.25)
    y0 = int(rng.integers(8, 16))
    if rng.random() < 0.5:  # 2022 look: a blue "R" icon, a boxed letter, "3D", a blue camera icon
        x = int(rng.integers(4, 10))
        if rng.random() < 0.7:
            m = canvas()
            cv2.rectangle(m, (x, y0), (x + 6, y0 + 10), 255, 2)
            put(m, blue)
            m = canvas()
            cv2.line(m, (x + 2, y0 + 3), (x + 4, y0 + 3), 255, 1)
            put(m, white)
        x += 12
        m = canvas()
        cv2.rectangle(m, (x, y0), (x + 8, y0 + 9), 255, 1)
        cv2.putText(m, str(rng.choice(["S", "R", "L"])), (x + 2, y0 + 8), cv2.FONT_HERSHEY_PLAIN, 0.6, 255, 1,
                    cv2.LINE_AA)
        cv2.putText(m, str(rng.choice(["3D", "2D", "3D", "HD"])), (x + 11, y0 + 8), cv2.FONT_HERSHEY_PLAIN, 0.75,
                    255, 1, cv2.LINE_AA)
        put(m, white)
        x = int(rng.integers(58, 66))
        m = canvas()
        cv2.rectangle(m, (x, y0), (x + 3, y0 + 10), 255, -1)
        cv2.rectangle(m, (x + 11, y0), (x + 14, y0 + 10), 255, -1)
        cv2.fillPoly(m, [np.array([[x + 5, y0 + 2], [x + 9, y0 + 5], [x + 5, y0 + 8]], np.int32)], 255)
        put(m, blue)
    else:  # 2021 look: two soft white glyphs and a teal camera icon with a green lens
        x = int(rng.integers(14, 22))
        m = canvas()
        cv2.rectangle(m, (x, y0 + 1), (x + 6, y0 + 8), 255, -1)
        cv2.rectangle(m, (x + 9, y0 + 1), (x + 15, y0 + 8), 255, -1)
        put(m, white, blur=0.9, strength=float(rng.uniform(0.6, 0.95)))
        x = int(rng.integers(50, 58))
        m = canvas()
        cv2.rectangle(m, (x, y0 - 2), (x + 13, y0 + 11), 255, -1)
        put(m, _colour(rng, (0.10, 0.45, 0.65), 0.25))
        m = canvas()
        cv2.circle(m, (x + 6, y0 + 4), 3, 255, -1, cv2.LINE_AA)
        put(m, _colour(rng, (0.25, 0.90, 0.45), 0.15))
        m = canvas()
        cv2.rectangle(m, (x + 15, y0 - 1), (x + 18, y0 + 10), 255, -1)
        put(m, blue)
    return a, cols


def _plan_distractors(rng, lay: _Layout, prof) -> list:
    h, w = lay.size
    k = w / _REF_W
    layers = []
    if rng.random() < prof["overlay_p"]:
        a, cols = _overlay_patch(rng)
        f = k * float(rng.uniform(0.85, 1.15))
        x0, y0, x1, y1 = ENDOSCOPE_OVERLAY_BOX
        if rng.random() < 0.8:  # where the real scope puts it (scaled to the frame), jittered
            ox = x0 * k + rng.uniform(-8, 6) * k
            oy = y0 * k + rng.uniform(-6, 2) * k
        else:  # elsewhere, so that the look, not the place, is learned
            ox = rng.uniform(0, max(w - 88 * f, 1))
            oy = rng.uniform(0, max(h - 30 * f, 1))
        m = np.array([[f, 0, ox], [0, f, oy]], np.float64)
        alpha = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR)
        colour = np.stack([cv2.warpAffine(c, m, (w, h), flags=cv2.INTER_LINEAR) for c in cols])
        box = (float(ox), float(oy), float(ox + 88 * f), float(oy + 30 * f))
        layers.append(_Layer(OVERLAY, alpha, colour, box))
    if rng.random() < prof["logo_p"]:  # a big outlined word, like a challenge or vendor logo
        text = _random_word(rng) if rng.random() < 0.7 else _random_word(rng) + _random_word(rng, upper=True)[:2]
        font = _FONTS[int(rng.integers(len(_FONTS) - 1))]
        scale = float(rng.uniform(1.2, 3.2)) * k
        thick = max(1, int(round(rng.uniform(1.5, 4.0) * k)))
        fill = _text_patch(text, font, scale, thick, pad=8)
        outline = _text_patch(text, font, scale, thick + max(2, int(round(3 * k))), pad=8)
        centre = (rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h)
        angle = float(rng.normal(0, 4))
        fill_a, out_a = _stamp(fill, centre, angle, (h, w)), _stamp(outline, centre, angle, (h, w))
        fill_col = _colour(rng, (0.97, 0.97, 0.97), 0.04) if rng.random() < 0.75 else rng.uniform(0.2, 1.0, 3)
        out_col = _colour(rng, (0.35, 0.55, 0.85), 0.4)
        if rng.random() < 0.5:  # an arrow or bar across the word, in the outline colour
            arrow = np.zeros((h, w), np.float32)
            y = int(centre[1] + rng.uniform(-10, 10) * k)
            xa, xb = int(centre[0] - rng.uniform(20, 60) * k), int(centre[0] + rng.uniform(20, 60) * k)
            t = max(1, int(round(3 * k)))
            cv2.arrowedLine(arrow, (xa, y), (xb, y), 1.0, t, cv2.LINE_AA, 0, 0.2)
            cv2.arrowedLine(arrow, (xb, y), (xa, y), 1.0, t, cv2.LINE_AA, 0, 0.2)
            out_a = np.maximum(out_a, arrow)
        layers.append(_Layer(LOGO_TEXT, np.maximum(fill_a, out_a), [(out_a, out_col), (fill_a, fill_col)]))
    for _ in range(int(rng.integers(0, 3)) if rng.random() < prof["text_p"] else 0):  # small text lines
        r = rng.random()
        if r < 0.4:
            text = f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}:{int(rng.integers(0, 60)):02d}"
        elif r < 0.7:
            text = _random_word(rng) + " " + str(int(rng.integers(1, 999)))
        else:
            text = str(rng.choice(["REC", "AUTO", "AWB", "ZOOM x2", "FREEZE", "CAM 1", "LIGHT 80%"]))
        font = _FONTS[int(rng.integers(len(_FONTS)))]
        patch = _text_patch(text, font, float(rng.uniform(0.35, 0.8)) * k, max(1, int(round(rng.uniform(1, 2) * k))))
        centre = (rng.uniform(0.1, 0.9) * w, rng.choice([rng.uniform(0.03, 0.15), rng.uniform(0.85, 0.97),
                                                          rng.uniform(0.1, 0.9)]) * h)
        a = _stamp(patch, centre, 0.0, (h, w))
        col = _colour(rng, (0.95, 0.95, 0.95), 0.05) if rng.random() < 0.6 else \
            np.array([(0.95, 0.9, 0.2), (0.3, 0.9, 0.4), (0.3, 0.6, 1.0)][int(rng.integers(3))])
        layers.append(_Layer(LOGO_TEXT, a, col))
    return layers


# --------------------------------------------------------------------------
# Tissue
# --------------------------------------------------------------------------
def _grids(size):
    h, w = size
    return np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]


def _tissue_labels(lay: _Layout, rho, rho_bowl):
    labels = np.full(lay.size, TISSUE, np.uint8)
    labels[(rho >= 1.0 - lay.band_in) & (rho <= 1.0 + lay.band_out)] = ANNULUS
    if rho_bowl is not None:
        labels[rho_bowl > 1.0] = BACKGROUND
    return labels


def _soft_step(x, width):
    """0 -> 1 across ``x = 0`` over ``width`` (same units as x)."""
    return np.clip(x * np.float32(1.0 / max(width, 1e-6)) + 0.5, 0.0, 1.0)


def _half(size):
    return (int(size[0]) + 1) // 2, (int(size[1]) + 1) // 2


def _up(plane, size):
    return cv2.resize(plane, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)


def _paint_intraop(rng, lay: _Layout, rho, labels):
    """Surgery look: ``(H, W, 3)`` float32 RGB. Smooth colour at half resolution, details at full."""
    h, w = lay.size
    s, sp = lay.scale, lay.spread
    hs = _half((h, w))
    rho2 = cv2.resize(rho, (hs[1], hs[0]), interpolation=cv2.INTER_AREA)
    r_px = math.sqrt(lay.annulus.a * lay.annulus.b)
    soft = 5.0 * s / r_px
    m_in = _soft_step((1.0 - lay.band_in) - rho2, soft)  # valve (inside the annulus)
    m_out = _soft_step((1.0 + lay.band_out) - rho2, soft)  # valve + annulus
    m_band = m_out - m_in
    wall_mix = np.clip(np.float32(rng.uniform(0.45, 0.8)) + 0.3 * smooth_field(rng, hs, rng.uniform(2.0, 5.0)),
                       0.0, 1.0)
    valve_mix = np.clip(0.5 + 0.3 * smooth_field(rng, hs, rng.uniform(3.0, 7.0)), 0.0, 1.0)
    j = 0.1 * max(sp, 0.3)
    wall_red, wall_pale = _colour(rng, (0.85, 0.45, 0.42), j), _colour(rng, (0.96, 0.84, 0.80), j * 0.5)
    valve_y, valve_w = _colour(rng, (0.97, 0.90, 0.64), j), _colour(rng, (0.97, 0.93, 0.86), j * 0.5)
    ann = _colour(rng, (0.94, 0.78, 0.68), j)
    xs2, ys2 = _grids(hs)
    glow = np.zeros(hs, np.float32)  # the scope light over-exposes part of the pale valve
    for _ in range(int(rng.integers(0, 3))):
        p = lay.annulus.point(rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.9))[0] / 2.0
        glow += np.float32(rng.uniform(0.3, 1.0)) * _gauss_blob(xs2, ys2, p[0], p[1], rng.uniform(12, 40) * s)
    shade = 1.0 + 0.07 * sp * smooth_field(rng, hs, rng.uniform(12, 24)) + glow
    half = []
    for c in range(3):
        wall = np.float32(wall_red[c]) + wall_mix * np.float32(wall_pale[c] - wall_red[c])
        valve = np.float32(valve_y[c]) + valve_mix * np.float32(valve_w[c] - valve_y[c])
        half.append(((1.0 - m_out) * wall + m_in * valve + m_band * np.float32(ann[c])) * shade + 0.25 * glow)
    rgb = cv2.resize(cv2.merge(half), (w, h), interpolation=cv2.INTER_LINEAR)
    # Details at full resolution, as one darkening per channel.
    fib = np.zeros((h, w), np.float32)  # fibre streaks on the wall: long, nearly parallel thin curves
    ang = rng.uniform(0, np.pi)
    for _ in range(int(rng.integers(8, 36))):
        n = int(rng.integers(10, 40))
        a_walk = ang + np.cumsum(rng.normal(0, 0.05, n))
        pts = np.array([rng.uniform(0, w), rng.uniform(0, h)]) + \
            np.cumsum(np.stack([np.cos(a_walk), np.sin(a_walk)], 1) * 8.0 * s, 0)
        cv2.polylines(fib, [_fixed(pts)], False, float(rng.uniform(0.2, 0.6)), 1, cv2.LINE_AA, 4)
    fib *= 1.0 - 0.7 * _up(m_in, (h, w))
    blood = np.zeros((h, w), np.float32)  # thin branching blood streaks, mostly on the valve and annulus
    for _ in range(int(rng.integers(4, 26))):
        start = lay.annulus.point(rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.2))[0]
        pts = _random_walk(rng, start, int(rng.integers(6, 30)), 0.45, rng.uniform(2.0, 5.0) * s)
        cv2.polylines(blood, [_fixed(pts)], False, float(rng.uniform(0.4, 1.0)), _th(rng.uniform(0.8, 2.2) * s),
                      cv2.LINE_AA, 4)
        for _ in range(int(rng.integers(0, 3))):
            br = _random_walk(rng, pts[int(rng.integers(len(pts)))], int(rng.integers(3, 10)), 0.6,
                              rng.uniform(1.5, 3.5) * s)
            cv2.polylines(blood, [_fixed(br)], False, float(rng.uniform(0.3, 0.8)), 1, cv2.LINE_AA, 4)
    if rng.random() < 0.3:  # small irregular pools
        pools = np.clip(2.0 * (smooth_field(rng, hs, rng.uniform(10, 22)) - rng.uniform(1.6, 2.6)), 0.0, 1.0)
        blood = np.maximum(blood, _up(pools, (h, w)))
    folds = np.zeros((h, w), np.float32)  # a dark groove beside a light crest
    for _ in range(int(rng.integers(2, 10))):
        pts = _random_walk(rng, (rng.uniform(0, w), rng.uniform(0, h)), int(rng.integers(8, 25)), 0.2, 6.0 * s)
        cv2.polylines(folds, [_fixed(pts)], False, 1.0, _th(1.5 * s), cv2.LINE_AA, 4)
    detail = cv2.GaussianBlur(cv2.merge([fib, blood, folds]), (0, 0), 0.7)
    fib, blood, folds = cv2.split(detail)
    ridge = 1.0 - 0.3 * (folds - np.roll(folds, _th(2 * s), axis=0))
    grain = 1.0 + np.float32(0.04 * max(sp, 0.5)) * smooth_field(rng, (h, w), w / rng.uniform(2.5, 4.0))
    g_r = ridge * grain * (1.0 - 0.2 * fib) * (1.0 - 0.45 * blood)
    g_g = ridge * grain * (1.0 - 0.55 * fib) * (1.0 - 0.9 * blood)
    g_b = ridge * grain * (1.0 - 0.5 * fib) * (1.0 - 0.88 * blood)
    rgb = cv2.multiply(rgb, cv2.merge([g_r, g_g, g_b]))
    planes = _views(rgb)
    if rng.random() < 0.4:  # dark orifice gap across the valve
        t = np.linspace(rng.uniform(0, 2 * np.pi), 0, 24) + np.linspace(0, rng.uniform(0.8, 2.0), 24)
        pts = lay.annulus.point(t, rng.uniform(0.3, 0.7))
        m = np.zeros((h, w), np.uint8)
        cv2.polylines(m, [_fixed(pts)], False, 1, _th(rng.uniform(2, 7) * s), cv2.LINE_AA, 4)
        labels[m > 0] = BACKGROUND
        _mix(planes, cv2.GaussianBlur(m.astype(np.float32), (0, 0), 1.0), _colour(rng, (0.35, 0.06, 0.05), 0.3))
    return rgb


def _paint_sim(rng, lay: _Layout, rho, rho_bowl, labels, bowl_f):
    """Simulator look: ``(H, W, 3)`` float32 RGB (translucent silicone bowl in a grey housing)."""
    h, w = lay.size
    s, sp = lay.scale, lay.spread
    hs = _half((h, w))
    rho2 = cv2.resize(rho, (hs[1], hs[0]), interpolation=cv2.INTER_AREA)
    rb2 = rho2 * np.float32(1.0 / bowl_f)
    xs2, ys2 = _grids(hs)
    r_px = math.sqrt(lay.annulus.a * lay.annulus.b)
    j = 0.08 * max(sp, 0.3)
    # Neutral greys with a slight blue cast: brightness varies, hue hardly at all.
    housing = float(rng.uniform(0.2, 0.42)) * _colour(rng, (0.95, 0.97, 1.05), 0.03)
    silicone = float(rng.uniform(0.68, 0.85)) * _colour(rng, (0.93, 0.96, 1.04), 0.03 * max(sp, 0.5))
    leaflet = np.minimum(silicone * float(rng.uniform(1.05, 1.2)), 0.97)
    ann = silicone * float(rng.uniform(0.97, 1.08))
    soft_b = 3.0 * s / (r_px * bowl_f)
    m_bowl = _soft_step(1.0 - rb2, soft_b)
    soft = 5.0 * s / r_px
    m_in = _soft_step((1.0 - lay.band_in) - rho2, soft)
    m_band = _soft_step((1.0 + lay.band_out) - rho2, soft) - m_in
    g_house = 1.0 + 0.15 * sp * smooth_field(rng, hs, rng.uniform(2, 4)) + np.float32(rng.uniform(-0.3, 0.3)) * (
        ys2 / np.float32(hs[0]) - 0.5)
    light = 1.0 + 0.12 * smooth_field(rng, hs, rng.uniform(2, 4)) + 0.15 * (
        np.float32(lay.light_dir[0]) * (xs2 / np.float32(hs[1]) - 0.5)
        + np.float32(lay.light_dir[1]) * (ys2 / np.float32(hs[0]) - 0.5))
    lumps = 1.0 + np.clip(smooth_field(rng, hs, rng.uniform(10, 25)), -1.5, 1.5) * np.float32(0.06) * m_in
    depth = np.clip(rb2, 0, 1) ** 2  # translucent bowl: darker toward its rim
    rim = np.exp(-((rb2 - 1.0) * np.float32(r_px * bowl_f / (3.0 * s))) ** 2).astype(np.float32)
    k_rim = np.float32(rng.uniform(0.1, 0.3))
    half = []
    for c in range(3):
        sil = (np.float32(silicone[c]) * (1.0 - 0.18 * depth) + np.float32(leaflet[c] - silicone[c]) * m_in
               + np.float32(ann[c] - silicone[c]) * m_band) * light * lumps
        half.append(m_bowl * sil + (1.0 - m_bowl) * np.float32(housing[c]) * g_house + k_rim * rim)
    if rng.random() < 0.35:  # bronze mesh ring around the bowl (3D-printed annulus holder)
        ring = _soft_step(rb2 - 1.0, soft_b) * _soft_step(1.0 + float(rng.uniform(0.08, 0.16)) - rb2, soft_b)
        bronze = float(rng.uniform(0.7, 1.1)) * _colour(rng, (0.42, 0.36, 0.26), 0.08)
        for c in range(3):
            half[c] += ring * (np.float32(bronze[c]) - half[c])
        ring_full = _up(ring, (h, w))
    else:
        ring_full = None
    rgb = cv2.resize(cv2.merge(half), (w, h), interpolation=cv2.INTER_LINEAR)
    planes = _views(rgb)
    # Full-resolution texture: concentric print ridges and frosted speckle on the silicone, mesh hatching.
    period = float(rng.uniform(2.5, 5.0)) * s
    ridges = np.sin(rho * np.float32(2 * np.pi * r_px / period)) * np.float32(rng.uniform(0.01, 0.05))
    frost = np.float32(rng.uniform(0.01, 0.04)) * cv2.GaussianBlur(white_noise(rng, (h, w)), (0, 0), 0.8)
    tex = 1.0 + (ridges + frost) * (rho_bowl < 1.0).astype(np.float32)
    if ring_full is not None:
        xs, ys = _grids((h, w))
        cell = np.float32(2 * np.pi / max(3.0 * s, 2.0))
        hatch = np.sin((xs + ys) * cell) * np.sin((xs - ys) * cell)
        tex = tex * (1.0 + 0.35 * ring_full * hatch)
    for c in range(3):
        planes[c] *= tex
    # Valve orifice: a dark slit inside the leaflets.
    t0 = rng.uniform(0, 2 * np.pi)
    pts = lay.annulus.point(np.linspace(t0, t0 + rng.uniform(0.8, 2.2), 24), rng.uniform(0.25, 0.6))
    m = np.zeros((h, w), np.uint8)
    cv2.polylines(m, [_fixed(pts)], False, 1, _th(rng.uniform(2, 9) * s), cv2.LINE_AA, 4)
    labels[m > 0] = BACKGROUND
    _mix(planes, cv2.GaussianBlur(m.astype(np.float32), (0, 0), 0.8), _colour(rng, (0.08, 0.08, 0.1), 0.5))
    if rng.random() < 0.55:  # the simulator's metal block with two screws, on the housing
        _metal_block(rng, planes, labels, lay, rho_bowl)
    return rgb


def _metal_block(rng, planes, labels, lay, rho_bowl):
    h, w = lay.size
    s = lay.scale
    bw, bh = rng.uniform(60, 110) * s, rng.uniform(50, 90) * s
    for _ in range(20):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if rho_bowl[int(min(max(cy, 0), h - 1)), int(min(max(cx, 0), w - 1))] > 1.15:
            break
    else:
        return
    x0, y0 = max(0, int(cx - bw / 2)), max(0, int(cy - bh / 2))
    x1, y1 = min(w, int(cx + bw / 2)), min(h, int(cy + bh / 2))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return
    block = (rho_bowl[y0:y1, x0:x1] > 1.02).astype(np.float32)
    metal = _colour(rng, (0.68, 0.70, 0.74), 0.06)
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    grad = 1.0 + np.float32(0.15) * (xs - np.float32(cx)) / np.float32(bw)
    pl = [p[y0:y1, x0:x1] for p in planes]
    for c in range(3):
        pl[c] += block * (np.float32(metal[c]) * grad - pl[c])
    labels[y0:y1, x0:x1][block > 0.5] = INSTRUMENT
    for dx in (-0.25, 0.25):
        sx, sy = int(cx + dx * bw) - x0, int(cy) - y0
        screw = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.circle(screw, (sx, sy), max(2, int(9 * s)), 1.0, -1, cv2.LINE_AA)
        _mix(pl, screw * block, (0.12, 0.12, 0.13))
        hole = np.zeros_like(screw)
        cv2.circle(hole, (sx, sy), max(1, int(5 * s)), 1.0, -1, cv2.LINE_AA)
        _mix(pl, hole * block, (0.45, 0.45, 0.47))


# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------
@dataclass
class _ThreadPath:
    poly: np.ndarray  # (M, 2) px, starting at the tissue end
    widths: np.ndarray  # (M,) px
    colour: np.ndarray
    gloss: float


_INTRAOP_THREADS = ((0.13, 0.45, 0.28), (0.18, 0.28, 0.62), (0.25, 0.27, 0.33), (0.85, 0.60, 0.66),
                    (0.92, 0.86, 0.86), (0.93, 0.93, 0.90), (0.14, 0.14, 0.17))
_SIM_THREADS = ((0.93, 0.95, 0.97), (0.58, 0.82, 0.93), (0.45, 0.82, 0.90), (0.26, 0.50, 0.60), (0.72, 0.74, 0.77),
                (0.35, 0.60, 0.85))
_STEP_PX = 4.0  # vertex spacing of thread polylines


def _bezier(p0, c, p1, n):
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p1


def _clip_to_frame(poly, size, margin):
    """Cut a polyline after its first vertex beyond the frame (plus ``margin``), keeping that vertex."""
    h, w = size
    out = ((poly[:, 0] < -margin) | (poly[:, 0] > w - 1 + margin)
           | (poly[:, 1] < -margin) | (poly[:, 1] > h - 1 + margin))
    out[0] = False  # stray threads start just outside
    if out.any():
        return poly[:max(int(np.argmax(out)) + 1, 2)]
    return poly


def _thread_path(rng, lay: _Layout, start, pull, *, kink: bool) -> np.ndarray:
    """``(M, 2)`` polyline from ``start`` (tissue end) toward the off-frame ``pull`` point: a sagging curve,
    sometimes kinked (first along the tissue, then bent toward the pull point, as over the simulator's rim)."""
    start, pull = np.asarray(start, np.float64), np.asarray(pull, np.float64)
    d = pull - start
    length = max(float(np.linalg.norm(d)), 1.0)
    perp = np.array([-d[1], d[0]]) / length
    if kink:
        ang = math.atan2(d[1], d[0]) + rng.uniform(-0.6, 0.6)
        knee = start + np.array([math.cos(ang), math.sin(ang)]) * rng.uniform(0.1, 0.35) * length
        a = _bezier(start, 0.5 * (start + knee) + perp * rng.normal(0, 0.03) * length, knee,
                    max(3, int(np.linalg.norm(knee - start) / _STEP_PX)))
        b = _bezier(knee, knee + (knee - start) * rng.uniform(0.05, 0.2) + 0.3 * (pull - knee), pull,
                    max(3, int(np.linalg.norm(pull - knee) / _STEP_PX)))
        poly = np.concatenate([a, b[1:]])
    else:
        ctrl = start + d * rng.uniform(0.3, 0.6) + perp * rng.normal(0, 0.06) * length
        poly = _bezier(start, ctrl, pull, max(6, int(length / _STEP_PX)))
    return _clip_to_frame(poly, lay.size, 4.0 * lay.size[1] / _REF_W)


def _widths(poly, w0, taper):
    """``(M,)`` widths growing from ``w0`` at the tissue to ``taper * w0`` where the thread leaves the frame
    (it rises toward the scope)."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(poly, axis=0), axis=1))])
    return w0 * (1.0 + (taper - 1.0) * arc / max(float(arc[-1]), 1e-6))


def _thread_style(rng, lay: _Layout, colour_id):
    intra = lay.domain == "intraop"
    table = _INTRAOP_THREADS if intra else _SIM_THREADS
    colour = _colour(rng, table[colour_id % len(table)], 0.1 * max(lay.spread, 0.3))
    k = lay.size[1] / _REF_W
    if intra:
        w0, taper = float(rng.uniform(1.3, 2.6)) * lay.scale, float(rng.uniform(1.1, 2.2))
    else:
        w0, taper = float(rng.uniform(1.6, 3.4)) * lay.scale, float(rng.uniform(1.2, 2.8))
    return colour, min(max(1.0, w0), 6.0 * max(k, 0.25)), taper, float(rng.uniform(0.3, 0.8))


# --------------------------------------------------------------------------
# Placement: labelled points, unlabelled thread ends, stray threads
# --------------------------------------------------------------------------
@dataclass
class _Stitches:
    points: list = field(default_factory=list)  # labelled (2,) px
    threads: list = field(default_factory=list)  # _ThreadPath of each labelled point (same order)
    skipped: list = field(default_factory=list)  # {"xy", "reason"}
    needles: list = field(default_factory=list)  # (arc (K, 2), width)
    extra: list = field(default_factory=list)  # threads of skipped ends and stray threads
    above: list = field(default_factory=list)  # per thread of threads + extra: drawn over the "above" plates


def _candidates(rng, lay: _Layout, labels, allowed, m):
    """Candidate tissue ends on the annulus: ``theta (K,)``, ``rho (K,)``, ``xy (K, 2)`` px, in the frame, on
    ANNULUS pixels where ``allowed``."""
    h, w = lay.size
    theta = rng.uniform(0, 2 * np.pi, m)
    rho = 1.0 + rng.uniform(-0.7 * lay.band_in, 0.7 * lay.band_out, m)
    pts = lay.annulus.point(theta, rho)
    lo = _EDGE_MARGIN_PX
    ok = (pts[:, 0] >= lo) & (pts[:, 0] <= w - 1 - lo) & (pts[:, 1] >= lo) & (pts[:, 1] <= h - 1 - lo)
    ix = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    ok &= (labels[iy, ix] == ANNULUS) & allowed[iy, ix]
    return theta[ok], rho[ok], pts[ok]


def _place(rng, lay: _Layout, labels, forbidden, under_above, n, prof) -> _Stitches:
    """Place ``n`` labelled stitches plus unlabelled ends; raises RuntimeError when the view cannot host them.

    Labelled points: on ANNULUS pixels outside ``forbidden`` (instruments,
    distractors, with margins), at least 7 px apart; no other thread (or
    needle) comes within its own half width + the point's thread's half width
    + 3.5 px of a labelled point, so the end stays visible on tissue. Stitches
    are single bites or pairs 8-16 px apart along the annulus (entry and exit
    of one suture), each pair in one bundle.
    """
    h, w = lay.size
    st = _Stitches()
    free = forbidden == 0
    colour_ids = [int(rng.integers(16)) for _ in lay.pulls]
    above = [bool(rng.random() < 0.5) for _ in lay.pulls]
    r_px = math.sqrt(lay.annulus.a * lay.annulus.b)
    margin = 3.5
    end_w = []  # width of each labelled point's thread at the point
    # Raster of where accepted threads lie, grown by the margin: a quick first test for new points.
    occupied = np.zeros((h, w), np.uint8)

    seg_a, seg_ab, seg_hw = np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)  # all accepted threads' segments

    def occupy(path):
        nonlocal seg_a, seg_ab, seg_hw
        seg_a = np.concatenate([seg_a, path.poly[:-1]])
        seg_ab = np.concatenate([seg_ab, np.diff(path.poly, axis=0)])
        seg_hw = np.concatenate([seg_hw, 0.25 * (path.widths[:-1] + path.widths[1:])])
        for i0 in range(0, len(path.poly) - 1, 8):
            seg = path.poly[i0:i0 + 9]
            cv2.polylines(occupied, [_fixed(seg)], False, 1, _th(path.widths[i0:i0 + 9].max() + 2 * margin + 1),
                          cv2.LINE_8, 4)

    def on_thread(pts):
        ix = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
        iy = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
        return bool(occupied[iy, ix].any())

    def clear_of(path, pts, m=margin):
        """``path`` keeps clear of points ``pts`` by its half width + ``m`` (scalar or per point)."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        if not len(pts):
            return True
        m = np.broadcast_to(np.asarray(m, np.float64), (len(pts),))[:, None]
        seg_w = 0.5 * (path.widths[:-1] + path.widths[1:])
        return not np.any(_seg_dist(pts, path.poly) < 0.5 * seg_w[None] + m)

    def near_threads(pts, m):
        """True if any accepted thread passes within its half width + ``m`` (per point) of ``pts``."""
        if not len(seg_a):
            return False
        rel = pts[:, None, :] - seg_a[None]
        t = np.clip((rel * seg_ab).sum(-1) / np.maximum((seg_ab * seg_ab).sum(-1), 1e-12), 0.0, 1.0)
        d = np.sqrt(((rel - t[..., None] * seg_ab) ** 2).sum(-1))
        return bool(np.any(d < seg_hw[None] + np.asarray(m, np.float64)[:, None]))

    def labelled_margins():
        return margin + 0.5 * np.asarray(end_w, np.float64)

    def make_thread(start, b):
        colour, w0, taper, gloss = _thread_style(rng, lay, colour_ids[b] + int(rng.random() < 0.25))
        pull = lay.pulls[b] + rng.normal(0, 18.0 * lay.scale, 2)
        poly = _thread_path(rng, lay, start, pull, kink=rng.random() < (0.15 if lay.domain == "intraop" else 0.45))
        return _ThreadPath(poly, _widths(poly, w0, taper), colour, gloss)

    def accept_extra(path, b, reason=None, xy=None):
        st.extra.append(path)
        st.above.append(above[b] if reason != "hidden" else False)
        occupy(path)
        if reason is not None:
            st.skipped.append({"xy": np.asarray(xy, np.float32), "reason": reason})

    for _ in range(8):
        if len(st.points) >= n:
            break
        th, rh, cand = _candidates(rng, lay, labels, free, 96)
        for i in range(len(cand)):
            if len(st.points) >= n:
                break
            new_pts = [cand[i]]
            if n - len(st.points) >= 2 and rng.random() < 0.7:
                dth = rng.uniform(8.0, 16.0) * lay.scale / r_px * rng.choice([-1, 1])
                q = lay.annulus.point(th[i] + dth, rh[i] + rng.uniform(-0.3, 0.3) * lay.band_in)[0]
                lo = _EDGE_MARGIN_PX
                if lo <= q[0] <= w - 1 - lo and lo <= q[1] <= h - 1 - lo:
                    iq = (int(round(q[1])), int(round(q[0])))
                    if labels[iq] == ANNULUS and free[iq]:
                        new_pts.append(q)
            new_pts = np.array(new_pts)
            if len(new_pts) == 2 and np.linalg.norm(new_pts[0] - new_pts[1]) < _MIN_POINT_DIST_PX:
                continue
            others = np.array(st.points + [s["xy"] for s in st.skipped]).reshape(-1, 2)
            if len(others) and np.min(np.linalg.norm(others[:, None] - new_pts[None], axis=2)) < _MIN_POINT_DIST_PX:
                continue
            if on_thread(new_pts):
                continue
            b = int(rng.integers(len(lay.pulls)))
            paths = [make_thread(p, b) for p in new_pts]
            own = margin + 0.5 * np.array([p.widths[0] for p in paths])
            if not all(clear_of(p, st.points, labelled_margins()) for p in paths):
                continue
            if len(paths) == 2 and not (clear_of(paths[0], new_pts[1:], own[1:])
                                        and clear_of(paths[1], new_pts[:1], own[:1])):
                continue
            if near_threads(new_pts, own):
                continue
            for p, path in zip(new_pts, paths):
                st.points.append(p)
                st.threads.append(path)
                st.above.append(above[b])
                end_w.append(float(path.widths[0]))
                occupy(path)
    if len(st.points) < n:
        raise RuntimeError(f"could not place {n} sutures in this view")
    labelled = np.array(st.points).reshape(-1, 2)
    # Ends hidden under an instrument drawn over the threads: not labelled (the entry is not visible).
    if under_above is not None and rng.random() < 0.6:
        _, _, cand = _candidates(rng, lay, labels, under_above, 48)
        for p in cand[:int(rng.integers(1, 4))]:
            b = int(rng.integers(len(lay.pulls)))
            path = make_thread(p, b)
            if clear_of(path, labelled, labelled_margins()):
                accept_extra(path, b, "hidden", p)
    # Needles only half through: the tissue contact is not a point.
    for _ in range(int(rng.random() < prof["needle_p"]) + int(rng.random() < 0.3 * prof["needle_p"])):
        _, _, cand = _candidates(rng, lay, labels, free, 32)
        for p in cand:
            if len(labelled) and np.min(np.linalg.norm(labelled - p, axis=1)) < 12.0:
                continue
            radius = float(rng.uniform(7.0, 16.0)) * lay.scale
            ang0 = rng.uniform(0, 2 * np.pi)
            t = ang0 + np.linspace(0.0, rng.uniform(1.7, 3.3) * rng.choice([-1, 1]), 16)
            arc = p - radius * np.array([math.cos(ang0), math.sin(ang0)]) + radius * np.stack([np.cos(t), np.sin(t)], 1)
            nw = max(1.0, float(rng.uniform(1.2, 2.2)) * lay.scale)
            b = int(rng.integers(len(lay.pulls)))
            path = make_thread(arc[-1], b)
            needle = _ThreadPath(arc, np.full(len(arc), nw), None, 0.0)
            if clear_of(needle, labelled, labelled_margins()) and clear_of(path, labelled, labelled_margins()):
                st.needles.append((arc, nw))
                accept_extra(path, b, "needle_half_through", p)
                break
    # Stray threads of sutures outside the view, crossing the frame toward a bundle.
    k = w / _REF_W
    for _ in range(int(rng.integers(0, prof["stray_max"] + 1))):
        b = int(rng.integers(len(lay.pulls)))
        side = int(rng.integers(4))
        start = [(-10.0 * k, rng.uniform(0, h)), (rng.uniform(0, w), -10.0 * k), (rng.uniform(0, w), h + 10.0 * k),
                 (w + 10.0 * k, rng.uniform(0, h))][side]
        path = make_thread(start, b)
        if clear_of(path, labelled, labelled_margins()):
            accept_extra(path, b)
    return st


# --------------------------------------------------------------------------
# Drawing (on one contiguous (H, W, 3) float32 image; ``_views`` gives its channel planes)
# --------------------------------------------------------------------------
def _thread_shadows(rgb, paths, shadow_dir, k):
    """Soft shadows of the threads' first third (near the tissue), cast along ``shadow_dir``."""
    if not paths:
        return
    h, w = rgb.shape[:2]
    shadow = np.zeros((h, w), np.float32)
    for p in paths:
        n = max(2, len(p.poly) // 3)
        off = shadow_dir * (1.5 + 0.8 * p.widths[:n, None])
        cv2.polylines(shadow, [_fixed(p.poly[:n] + off)], False, 1.0, _th(p.widths[0] * 1.3), cv2.LINE_AA, 4)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 1.8) * np.float32(k)
    for c in _views(rgb):
        c *= 1.0 - shadow


def _draw_threads(rgb, labels, paths, shadow_dir, light):
    """Each thread in list order (later on top): dark edge, body, glossy stripe, in three passes over
    chunks of 8 vertices (so chunk joints leave no seams). Sets THREAD in ``labels`` (body width only)."""
    h, w = labels.shape
    mask = np.zeros((h, w), np.uint8)
    for p in paths:
        col = np.clip(p.colour * light, 0, 1)
        edge = tuple((col * 0.45).tolist())
        hl = tuple(np.minimum(1.0, col * (1 - p.gloss) + p.gloss).tolist())
        chord = p.poly[-1] - p.poly[0]
        normal = np.array([-chord[1], chord[0]]) / max(float(np.linalg.norm(chord)), 1e-6)
        if normal @ shadow_dir > 0:
            normal = -normal
        # Width of a chunk = width at its first vertex: the tissue end is drawn exactly ``widths[0]`` wide.
        chunks = [(p.poly[i:i + 9], float(p.widths[i])) for i in range(0, len(p.poly) - 1, 8)]
        for seg, wm in chunks:
            if wm >= 1.8:
                cv2.polylines(rgb, [_fixed(seg)], False, edge, _th(wm + 1.0), cv2.LINE_AA, 4)
        for seg, wm in chunks:
            pts = _fixed(seg)
            cv2.polylines(rgb, [pts], False, tuple(col.tolist()), _th(wm), cv2.LINE_AA, 4)
            cv2.polylines(mask, [pts], False, 1, _th(wm), cv2.LINE_8, 4)
        for seg, wm in chunks:
            if wm >= 1.5:
                cv2.polylines(rgb, [_fixed(seg + normal * 0.25 * wm)], False, hl, max(1, int(wm // 3)), cv2.LINE_AA, 4)
    labels[mask > 0] = THREAD


def _braid(rgb, mask, rng, scale):
    """Braided texture on the thread pixels ``mask``: fine diagonal stripes."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return
    period = float(rng.uniform(2.0, 3.5)) * max(scale, 0.5)
    g = 1.0 + np.float32(rng.uniform(0.05, 0.15)) * np.sin(
        (xs * 0.8 + ys * 0.6).astype(np.float32) * np.float32(2 * np.pi / period))
    rgb[ys, xs] *= g[:, None]


def _draw_needles(rgb, labels, needles, rng):
    steel = _colour(rng, (0.78, 0.79, 0.83), 0.08)
    for arc, nw in needles:
        pts = _fixed(arc)
        cv2.polylines(rgb, [pts], False, tuple((steel * 0.45).tolist()), _th(nw + 1), cv2.LINE_AA, 4)
        cv2.polylines(rgb, [pts], False, tuple(steel.tolist()), _th(nw), cv2.LINE_AA, 4)
        cv2.polylines(rgb, [_fixed(arc - 0.3 * nw)], False, (1.0, 1.0, 1.0), 1, cv2.LINE_AA, 4)
        cv2.polylines(labels, [pts], False, NEEDLE, _th(nw), cv2.LINE_8, 4)


def _bbox(mask, margin, shape):
    """``(y0, y1, x0, x1)`` of the non-zero pixels of ``mask`` grown by ``margin`` px, or None."""
    x, y, bw, bh = cv2.boundingRect((mask > 0).astype(np.uint8))
    if bw == 0 or bh == 0:
        return None
    h, w = shape
    m = int(math.ceil(margin))
    return max(0, y - m), min(h, y + bh + m), max(0, x - m), min(w, x + bw + m)


def _draw_instrument(rng, rgb, labels, distractors, inst: _Instrument, lay: _Layout, shadow_dir):
    """Draw one instrument (with its shadow and any text) into ``rgb`` in place, inside its bounding box."""
    shift = 6.0 * lay.scale
    box = _bbox(inst.alpha, shift + 12.0 * lay.scale + 2, lay.size)
    if box is None:
        return
    y0, y1, x0, x1 = box
    hh, ww = y1 - y0, x1 - x0
    pl = _views(rgb[y0:y1, x0:x1])
    a = inst.alpha[y0:y1, x0:x1]
    m = np.float32([[1, 0, shadow_dir[0] * shift], [0, 1, shadow_dir[1] * shift]])
    sh = cv2.GaussianBlur(cv2.warpAffine(a, m, (ww, hh)), (0, 0), 4.0 * lay.scale) * (1.0 - a)
    for c in pl:
        c *= 1.0 - np.float32(0.45) * sh
    if inst.kind == "shaft":
        p0 = np.asarray(inst.params["p0"]) - (x0, y0)
        p1 = np.asarray(inst.params["p1"]) - (x0, y0)
        _, across, _ = _shaft_frame((hh, ww), p0, p1)
        sn = np.clip(across * np.float32(1.0 / inst.params["r"]), -1.0, 1.0)
        body = 0.45 + 0.55 * np.sqrt(np.maximum(1.0 - sn * sn, 0.0))
        hl = np.exp(-((sn + 0.35) * np.float32(1 / 0.16)) ** 2)
        d = p1 - p0
        brushed = 1.0 + 0.05 * _streaks(rng, (hh, ww), math.degrees(math.atan2(d[1], d[0])))
        steel = inst.params["steel"] * np.array([0.98, 1.0, 1.04]) * float(rng.uniform(0.95, 1.05))
        for k, c in enumerate(pl):
            c += a * (np.float32(steel[k]) * body * brushed + np.float32(0.55) * hl - c)
    else:  # plate or sizer: brushed metal (or pale plastic) with engraved/printed text
        grey = float(rng.uniform(0.5, 0.68) if inst.kind == "plate" else rng.uniform(0.7, 0.85))
        metal = grey * _colour(rng, (1.0, 1.0, 0.97), 0.03)
        xs, ys = _grids((hh, ww))
        look = (1.0 + 0.06 * _streaks(rng, (hh, ww), float(rng.uniform(0, 180)), 2.0)
                + 0.08 * smooth_field(rng, (hh, ww), 4)
                + np.float32(rng.uniform(-0.25, 0.25)) * (xs / np.float32(ww) - 0.5)
                + np.float32(rng.uniform(-0.25, 0.25)) * (ys / np.float32(hh) - 0.5))
        edge = cv2.GaussianBlur(a, (0, 0), 1.2)  # bright lip along the edge
        lip = np.clip(4.0 * edge * (1.0 - edge), 0, 1) * a * np.float32(rng.uniform(0.1, 0.35))
        for k, c in enumerate(pl):
            c += a * (np.float32(metal[k]) * look - c) + lip
        text_mask = np.zeros((hh, ww), np.float32)
        ys_in, xs_in = np.nonzero(a > 0.99)
        n_text = int(rng.integers(1, 4)) if inst.kind == "plate" else int(rng.integers(1, 3))
        for _ in range(n_text if len(xs_in) else 0):
            i = int(rng.integers(len(xs_in)))
            if inst.kind == "plate":
                e = inst.params["poly"][3] - inst.params["poly"][2]
                angle = -math.degrees(math.atan2(e[1], e[0])) + float(rng.choice([0.0, 180.0, 90.0], p=[0.5, 0.3, 0.2]))
            else:
                angle = float(rng.uniform(-180, 180))
            patch = _text_patch(_instrument_text(rng), _FONTS[int(rng.integers(len(_FONTS)))],
                                float(rng.uniform(0.5, 1.3)) * lay.scale,
                                max(1, int(round(rng.uniform(1, 3) * lay.scale))))
            text_mask = np.maximum(text_mask, _stamp(patch, (float(xs_in[i]), float(ys_in[i])), angle, (hh, ww)))
        text_mask *= a
        if text_mask.any():
            dark = np.float32(rng.uniform(0.35, 0.7))
            emboss = np.roll(np.roll(text_mask, 1, 0), 1, 1) * (1.0 - text_mask) * np.float32(0.12)
            for c in pl:
                c *= 1.0 - dark * text_mask
                c += emboss
            sub = distractors[y0:y1, x0:x1]
            sub[_dilate(text_mask > 0.25, 1.5 * max(lay.scale, 0.5)) > 0] = PRINTED_TEXT
    labels[y0:y1, x0:x1][a > 0.5] = INSTRUMENT


def _speculars(rng, rgb, labels, n, strength, scale, near=None):
    """Saturated white glints on wet tissue and metal: short streaks and sparkle clusters (``near``: optional
    ``(K, 2)`` px places they gather around, e.g. the over-exposed part)."""
    h, w = labels.shape
    spots = np.zeros((h, w), np.float32)
    for _ in range(n):
        if near is not None and len(near) and rng.random() < 0.6:
            c = near[int(rng.integers(len(near)))]
            x, y = int(c[0] + rng.normal(0, 30 * scale)), int(c[1] + rng.normal(0, 20 * scale))
        else:
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if not (0 <= x < w and 0 <= y < h) or labels[y, x] not in (ANNULUS, TISSUE, INSTRUMENT):
            continue
        if rng.random() < 0.4:
            for _ in range(int(rng.integers(3, 9))):
                cv2.circle(spots, (x + int(rng.normal(0, 5 * scale)), y + int(rng.normal(0, 4 * scale))),
                           int(rng.integers(0, 2)), float(rng.uniform(0.6, 1.0)), -1)
        else:
            axes = (max(1, int(rng.integers(1, 8) * scale)), max(1, int(rng.integers(1, 3) * scale)))
            cv2.ellipse(spots, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.7, 1.0)), -1)
    spots = cv2.GaussianBlur(spots, (0, 0), 0.8) * np.float32(strength)
    for c in _views(rgb):
        c += spots * (1.3 - c)


def _composite(rgb, distractors, layers, scale):
    """Draw the planned overlay, logos and text over the frame; mark their strokes in ``distractors``."""
    planes = _views(rgb)
    for layer in layers:
        if layer.kind == OVERLAY:
            for k, c in enumerate(planes):
                c += layer.alpha * (layer.colour[k] - c)
        elif isinstance(layer.colour, list):
            for a, col in layer.colour:
                _mix(planes, a, col)
        else:
            _mix(planes, layer.alpha, layer.colour)
        distractors[_dilate(layer.alpha > 0.2, 1.5 * max(scale, 0.5)) > 0] = layer.kind


# --------------------------------------------------------------------------
# Camera look and degradation
# --------------------------------------------------------------------------
_PROFILES = {
    "none": {"spread": 0.0, "degrade": False, "overlay_p": 0.85, "logo_p": 0.2, "text_p": 0.3, "needle_p": 0.4,
             "stray_max": 5},
    "train": {"spread": 1.0, "degrade": True, "overlay_p": 0.85, "logo_p": 0.25, "text_p": 0.35, "needle_p": 0.4,
              "stray_max": 6},
    "wide": {"spread": 1.6, "degrade": True, "overlay_p": 0.9, "logo_p": 0.35, "text_p": 0.45, "needle_p": 0.5,
             "stray_max": 8},
}


def _camera(rng, rgb, lay: _Layout, prof):
    """Vignetting, then (``degrade``) softness, blur, motion, colour, gamma, noise, JPEG; maybe a montage border."""
    h, w = lay.size
    sp = max(prof["spread"], 0.0)
    xs, ys = _grids((h, w))
    v = float(rng.uniform(0.1, 0.45)) * (1.0 if lay.domain == "intraop" else 0.7)
    rr = ((xs - np.float32(w / 2)) / np.float32(w / 2)) ** 2 + ((ys - np.float32(h / 2)) / np.float32(w / 2)) ** 2
    gain = 1.0 - np.float32(v) * np.minimum(rr, 1.6)
    for c in _views(rgb):
        c *= gain
    if prof["degrade"]:
        if rng.random() < 0.5 + 0.2 * sp:  # most real frames were upscaled from ~340x195
            f = float(rng.uniform(0.5, 0.85))
            small = cv2.resize(rgb, (max(8, int(round(w * f))), max(8, int(round(h * f)))),
                               interpolation=cv2.INTER_AREA)
            rgb = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR)
        blur = float(rng.uniform(0.0, 0.8) * sp)
        if blur > 0.1:
            rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
        if rng.random() < 0.15 * sp:
            length = int(rng.integers(3, 4 + int(5 * sp)))
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2] = 1.0
            kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2),
                                                                    float(rng.uniform(0, 180)), 1.0), (length, length))
            rgb = cv2.filter2D(rgb, -1, kernel / max(float(kernel.sum()), 1e-6))
        lum = np.array([0.299, 0.587, 0.114], np.float32)
        sat = float(1.0 + rng.uniform(-0.25, 0.2) * sp)
        gains = (1.0 + rng.uniform(-0.08, 0.08, 3) * sp).astype(np.float32)
        m = sat * np.eye(3, dtype=np.float32) + (1.0 - sat) * np.outer(np.ones(3), lum)
        rgb = cv2.transform(rgb, (gains[:, None] * m).astype(np.float32))
        np.clip(rgb, 0.0, 1.0, out=rgb)
        gamma = float(np.exp(rng.uniform(-0.15, 0.15) * sp))
        if abs(gamma - 1.0) > 0.02:
            rgb = cv2.pow(rgb, gamma)
        rgb += np.float32(rng.uniform(0.003, 0.02) * sp) * white_noise(rng, rgb.shape)
        np.clip(rgb, 0.0, 1.0, out=rgb)
        if rng.random() < 0.35:
            q = int(rng.integers(35, 90))
            _, buf = cv2.imencode(".jpg", np.round(rgb * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
            rgb = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) * np.float32(1 / 255.0)
    if rng.random() < 0.3:  # light montage border (the 2021 frames are tiles cut from a web montage)
        grey = float(rng.uniform(0.82, 0.95))
        k = w / _REF_W
        for side in range(4):
            t = int(round(rng.uniform(1, 5) * k)) if rng.random() < 0.6 else 0
            if t:
                rgb[[np.s_[:t, :], np.s_[:, :t], np.s_[h - t:, :], np.s_[:, w - t:]][side]] = grey
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def _forbidden(instruments, layers, lay: _Layout):
    """``(H, W)`` uint8: where labelled points may not go (instruments and distractors, with margins)."""
    h, w = lay.size
    k = w / _REF_W
    out = np.zeros((h, w), np.uint8)
    for inst in instruments:
        out |= _dilate(inst.alpha > 0.02, 4.0 * lay.scale + 2.0)
    for layer in layers:
        if layer.kind == OVERLAY:  # the whole overlay box, with a margin
            x0, y0, x1, y1 = layer.box
            cv2.rectangle(out, (int(x0 - 6 * k), int(y0 - 6 * k)), (int(x1 + 6 * k), int(y1 + 6 * k)), 1, -1)
        else:
            out |= _dilate(layer.alpha > 0.05, 6.0 * k)
    return out


def make_suture_frame_v2(seed_or_rng, *, n_sutures=None, domain="intraop", size=(288, 512),
                         randomisation="train", distractors=True) -> SutureSampleV2:
    """One version-2 endoscopic frame with suture entry/exit points labelled by the AdaptOR rules.

    Args:
        seed_or_rng: int seed or ``np.random.Generator``.
        n_sutures: number of labelled points, 0..15; None draws it uniformly.
        domain: ``"intraop"`` (surgery look) or ``"sim"`` (silicone simulator look).
        size: ``(rows, cols)``; default (288, 512), the challenge's frame size.
            The scene scales with ``cols / 512``.
        randomisation: ``"none"`` (no softness, blur, noise, JPEG or colour
            jitter), ``"train"`` or ``"wide"`` (more of everything).
        distractors: draw the endoscope overlay, logos and text lines (printed
            text on instruments is drawn either way).

    Returns:
        :class:`SutureSampleV2`: image ``(H, W, 3) float32`` in [0, 1], points
        ``(N, 2) float32`` (x, y) px, labels ``(H, W) uint8``, distractors
        ``(H, W) uint8``, meta.

    Raises:
        RuntimeError: when no view of 40 tries can host ``n_sutures`` points
            (only at very small sizes).

    >>> s = make_suture_frame_v2(0, n_sutures=3)
    >>> s.image.shape, s.image.dtype, s.points.shape, s.distractors.shape
    ((288, 512, 3), dtype('float32'), (3, 2), (288, 512))
    """
    h, w = check_arguments(n_sutures, domain, randomisation, size)
    rng = as_rng(seed_or_rng)
    n = int(rng.integers(0, MAX_SUTURES + 1)) if n_sutures is None else int(n_sutures)
    prof = dict(_PROFILES[randomisation])
    if not distractors:
        prof.update(overlay_p=0.0, logo_p=0.0, text_p=0.0)
    xs, ys = _grids((h, w))
    for _ in range(40):
        lay = _draw_layout(rng, domain, (h, w), max(prof["spread"], 0.25))
        rho = lay.annulus.rho(xs, ys)
        bowl_f = float(rng.uniform(1.3, 1.8))
        rho_bowl = rho * np.float32(1.0 / bowl_f) if domain == "sim" else None
        labels = _tissue_labels(lay, rho, rho_bowl)
        instruments = _plan_instruments(rng, lay)
        layers = _plan_distractors(rng, lay, prof)
        under_above = None
        if any(inst.above for inst in instruments):
            cover = np.zeros((h, w), np.uint8)
            for inst in instruments:
                if inst.above:
                    cover |= (inst.alpha > 0.98).astype(np.uint8)
            under_above = cv2.erode(cover, np.ones((7, 7), np.uint8)) > 0
        try:
            st = _place(rng, lay, labels, _forbidden(instruments, layers, lay), under_above, n, prof)
            break
        except RuntimeError:
            continue
    else:
        raise RuntimeError(f"could not place {n} sutures after 40 views")

    rgb = _paint_intraop(rng, lay, rho, labels) if domain == "intraop" else \
        _paint_sim(rng, lay, rho, rho_bowl, labels, bowl_f)
    dist = np.zeros((h, w), np.uint8)
    shadow_dir = -lay.light_dir
    # Puncture marks where threads enter the tissue: a small dark dimple under each end.
    dimple = np.zeros((h, w), np.float32)
    for p in st.points + [s["xy"] for s in st.skipped]:
        cv2.circle(dimple, (int(round(p[0] * 16)), int(round(p[1] * 16))), int(32 * lay.scale), 1.0, -1,
                   cv2.LINE_AA, 4)
    dimple = cv2.GaussianBlur(dimple, (0, 0), 1.0) * np.float32(rng.uniform(0.15, 0.4))
    for c in _views(rgb):
        c *= 1.0 - dimple
    paths = st.threads + st.extra
    light = float(rng.uniform(0.85, 1.1))
    _thread_shadows(rgb, paths, shadow_dir, float(rng.uniform(0.15, 0.4)))
    for inst in instruments:
        if inst.kind == "plate" and not inst.above:
            _draw_instrument(rng, rgb, labels, dist, inst, lay, shadow_dir)
    # Extra threads first, then the labelled ones, so that every labelled end lies on top.
    below = [p for p, a in zip(paths, st.above) if not a][::-1]
    _draw_threads(rgb, labels, below, shadow_dir, light)
    for inst in instruments:
        if inst.kind == "plate" and inst.above:
            _draw_instrument(rng, rgb, labels, dist, inst, lay, shadow_dir)
    _draw_threads(rgb, labels, [p for p, a in zip(paths, st.above) if a][::-1], shadow_dir, light)
    _braid(rgb, labels == THREAD, rng, lay.scale)
    _draw_needles(rgb, labels, st.needles, rng)
    for inst in instruments:
        if inst.kind != "plate":
            _draw_instrument(rng, rgb, labels, dist, inst, lay, shadow_dir)
    intra = domain == "intraop"
    near = lay.annulus.point(rng.uniform(0, 2 * np.pi, 4), rng.uniform(0.3, 1.1, 4))
    _speculars(rng, rgb, labels, int(rng.integers(8, 35) if intra else rng.integers(2, 12)),
               float(rng.uniform(0.6, 1.1) if intra else rng.uniform(0.3, 0.7)), lay.scale, near)
    _composite(rgb, dist, layers, w / _REF_W)
    image = _camera(rng, rgb, lay, prof)
    points = np.array(st.points, np.float32).reshape(-1, 2)
    overlay = [layer.box for layer in layers if layer.kind == OVERLAY]
    meta = {
        "domain": domain, "randomisation": randomisation, "version": 2, "scale": lay.scale,
        "threads": [p.poly.astype(np.float32) for p in paths],
        "thread_width_px": [float(p.widths[0]) for p in paths],
        "point_thread": list(range(len(points))),
        "skipped": st.skipped,
        "overlay_box": overlay[0] if overlay else None,
    }
    return SutureSampleV2(image.astype(np.float32, copy=False), points, labels, meta, dist)
