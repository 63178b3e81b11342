"""Synthetic endoscopic mitral-repair frames with exact suture entry points.

The scene is a planar patch of atrial tissue carrying the mitral annulus (a
D-shaped band of brighter tissue) around the valve leaflets, seen by a
perspective camera from above, plus 3D suture threads that leave the tissue at
the entry points and run toward the camera and out of the field, as when the
surgeon pulls the annuloplasty sutures aside. The tissue is painted on a
texture plane and mapped into the frame with the exact plane-to-image
homography, so the ground-truth points (projections of the 3D entry points)
sit exactly where the threads meet the rendered tissue.

Two domains for image-to-image translation: ``"sim"`` looks like a silicone
valve in a surgical simulator (matte pink/beige, even light, clean), and
``"intraop"`` like a real operation (red/yellow tissue with vessels, blood,
many specular glints, stronger vignetting and blur).

Conventions: frames are ``(H, W, 3) float32`` RGB in [0, 1] (default 288 x 512);
points ``(N, 2) float32`` (x, y) pixels, pixel centres at integers. ``labels``
is ``(H, W) uint8``: 0 background (outside the tissue, valve orifice),
1 annulus tissue, 2 other tissue (atrial wall, leaflets), 3 suture thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ._common import as_rng, check_choice, smooth_field, white_noise

__all__ = ["SutureSample", "make_suture_frame", "make_suture_video"]

DOMAINS = ("sim", "intraop")
RANDOMISATIONS = ("none", "train", "wide")
MAX_SUTURES = 15

#: ``labels`` values.
BACKGROUND, ANNULUS, TISSUE, THREAD = 0, 1, 2, 3
_ORIFICE, _LEAFLET = 4, 5  # texture-plane classes, exposed as BACKGROUND and TISSUE
_PLANE_TO_LABEL = np.zeros(256, np.uint8)
_PLANE_TO_LABEL[[ANNULUS, TISSUE, _LEAFLET]] = [ANNULUS, TISSUE, TISSUE]

_PLANE_HALF_MM = 40.0  # the tissue plane covers [-40, 40]^2 mm
_PLANE_TEXELS = 256
_MIN_POINT_DIST_PX = 7.0  # entry points are at least this far apart
_EDGE_MARGIN_PX = 8.0


@dataclass
class SutureSample:
    """One synthetic endoscopic frame.

    Attributes:
        image: ``(H, W, 3) float32`` RGB in [0, 1].
        points: ``(N, 2) float32`` (x, y) pixels of the suture entry points.
        labels: ``(H, W) uint8``: 0 background, 1 annulus, 2 other tissue, 3 thread.
        meta: domain, threads (list of ``(M, 2) float32`` projected thread
            polylines, each starting at its entry point), thread_width_px,
            point_thread (index of each point's thread), camera, ...
    """

    image: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    meta: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# Camera
# --------------------------------------------------------------------------
@dataclass
class _Camera:
    f: float
    cx: float
    cy: float
    rot: np.ndarray  # (3, 3) world -> camera rows (x right, y down, z forward)
    centre: np.ndarray  # (3,) world mm

    def project(self, pts: np.ndarray):
        """World ``(N, 3)`` -> pixels ``(N, 2)`` and depth ``(N,)`` mm."""
        pc = (np.asarray(pts, float) - self.centre) @ self.rot.T
        z = pc[:, 2]
        safe = np.where(z > 1e-6, z, 1e-6)
        return np.stack([self.f * pc[:, 0] / safe + self.cx, self.f * pc[:, 1] / safe + self.cy], 1), z

    def plane_homography(self) -> np.ndarray:
        """``(3, 3)`` mapping plane (u, v, 1) mm (world z = 0) to homogeneous pixels."""
        k = np.array([[self.f, 0.0, self.cx], [0.0, self.f, self.cy], [0.0, 0.0, 1.0]])
        t = -self.rot @ self.centre
        return k @ np.column_stack([self.rot[:, 0], self.rot[:, 1], t])

    def inverse_depth_coeffs(self):
        """(a, b, c) with 1 / depth = a*x + b*y + c on the tissue plane, per pixel (x, y)."""
        # A pixel ray d = K^-1 (x, y, 1) hits the plane n.X = 0 at depth
        # z = -(n . C) / (n . R^T K^-1 (x, y, 1)), which is affine in 1/z.
        n_cam = self.rot @ np.array([0.0, 0.0, 1.0])
        h = float(np.array([0.0, 0.0, 1.0]) @ self.centre)
        a = n_cam[0] / self.f
        b = n_cam[1] / self.f
        c = n_cam[2] - n_cam[0] * self.cx / self.f - n_cam[1] * self.cy / self.f
        return -a / h, -b / h, -c / h


def _look_at(centre, target, roll) -> np.ndarray:
    fwd = target - centre
    fwd = fwd / np.linalg.norm(fwd)
    ref = np.array([math.cos(roll), math.sin(roll), 0.0])
    x = ref - (ref @ fwd) * fwd
    if np.linalg.norm(x) < 1e-6:
        x = np.array([1.0, 0.0, 0.0]) - fwd[0] * fwd
    x /= np.linalg.norm(x)
    y = np.cross(fwd, x)
    return np.stack([x, y, fwd])


@dataclass
class _CamParams:
    f: float
    pp: np.ndarray
    dist: float
    tilt: float
    az: float
    roll: float
    target: np.ndarray

    def camera(self, size) -> _Camera:
        h, w = size
        c = self.target + self.dist * np.array([math.sin(self.tilt) * math.cos(self.az),
                                                math.sin(self.tilt) * math.sin(self.az), math.cos(self.tilt)])
        return _Camera(self.f * w / 512.0, w / 2.0 - 0.5 + self.pp[0] * w, h / 2.0 - 0.5 + self.pp[1] * h,
                       _look_at(c, self.target, self.roll), c)


def _draw_cam(rng, spread) -> _CamParams:
    close = rng.random() < 0.25
    return _CamParams(
        f=float(rng.uniform(420.0, 600.0)), pp=rng.uniform(-0.03, 0.03, 2),
        dist=float(rng.uniform(26.0, 40.0) if close else rng.uniform(40.0, 72.0)),
        tilt=math.radians(float(rng.uniform(0.0, 40.0 * spread))), az=float(rng.uniform(0, 2 * np.pi)),
        roll=float(rng.uniform(0, 2 * np.pi)), target=np.append(rng.uniform(-7.0, 7.0, 2), 0.0))


# --------------------------------------------------------------------------
# Scene (tissue plane)
# --------------------------------------------------------------------------
@dataclass
class _Scene:
    rx: float
    ry: float
    rot: float
    w_in: float
    w_out: float
    plane_rgb: np.ndarray  # (P, P, 3) float32
    plane_labels: np.ndarray  # (P, P) uint8
    look: dict


def _annulus_xy(scene: _Scene, theta, radial):
    """Plane mm of annulus angle ``theta`` at ``radial`` mm outside the centre line."""
    c, s = math.cos(scene.rot), math.sin(scene.rot)
    x = (scene.rx + radial) * np.cos(theta)
    y = (scene.ry + radial) * np.sin(theta)
    return np.stack([c * x - s * y, s * x + c * y], -1)


def _mm_to_texel(p):
    return (np.asarray(p) + _PLANE_HALF_MM) * (_PLANE_TEXELS / (2 * _PLANE_HALF_MM)) - 0.5


def _poly(img, pts_mm, value):
    pts = np.round(_mm_to_texel(pts_mm) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], value, lineType=cv2.LINE_8, shift=4)


def _colour(rng, base, jitter):
    return np.clip(np.asarray(base) * (1.0 + rng.uniform(-jitter, jitter, 3)), 0.0, 1.0).astype(np.float32)


def _draw_scene(rng, domain: str, spread: float) -> _Scene:
    p = _PLANE_TEXELS
    rx = float(rng.uniform(13.0, 18.0))
    ry = rx * float(rng.uniform(0.72, 0.92))
    rot = float(rng.uniform(0, 2 * np.pi))
    w_in, w_out = float(rng.uniform(2.5, 5.0)), float(rng.uniform(3.0, 6.5))
    scene = _Scene(rx, ry, rot, w_in, w_out, None, None, {})
    t = np.linspace(0, 2 * np.pi, 160, endpoint=False)
    wob = 1.0 + 0.06 * np.cos(2 * t + rng.uniform(0, 6.3)) + 0.04 * np.cos(3 * t + rng.uniform(0, 6.3))
    labels = np.full((p, p), TISSUE, np.uint8)
    _poly(labels, _annulus_xy(scene, t, w_out * wob), ANNULUS)
    _poly(labels, _annulus_xy(scene, t, -w_in * wob), _LEAFLET)
    # Valve orifice / coaptation line: a dark crescent across the leaflets.
    ct = np.linspace(0.15 * np.pi, 0.85 * np.pi, 40)
    gap = float(rng.uniform(0.3, 1.2))
    mouth_a = np.stack([0.75 * rx * np.cos(ct + np.pi), 0.35 * ry * np.sin(ct) - 0.1 * ry], 1)
    mouth_b = mouth_a[::-1] + (0.0, gap)
    cr, sr = math.cos(rot), math.sin(rot)
    _poly(labels, np.concatenate([mouth_a, mouth_b]) @ np.array([[cr, sr], [-sr, cr]]), _ORIFICE)

    intra = domain == "intraop"
    if intra:
        colours = {ANNULUS: _colour(rng, (0.80, 0.44, 0.36), 0.15 * spread),
                   TISSUE: _colour(rng, (0.64, 0.32, 0.25), 0.2 * spread),
                   _LEAFLET: _colour(rng, (0.93, 0.82, 0.72), 0.1 * spread),
                   _ORIFICE: _colour(rng, (0.25, 0.10, 0.08), 0.3)}
    else:
        colours = {ANNULUS: _colour(rng, (0.84, 0.63, 0.60), 0.12 * spread),
                   TISSUE: _colour(rng, (0.68, 0.55, 0.53), 0.15 * spread),
                   _LEAFLET: _colour(rng, (0.92, 0.78, 0.74), 0.08 * spread),
                   _ORIFICE: _colour(rng, (0.25, 0.18, 0.18), 0.3)}
    lut = np.zeros((256, 1, 3), np.float32)
    for k, v in colours.items():
        lut[k, 0] = v
    rgb = cv2.GaussianBlur(cv2.LUT(cv2.merge([labels] * 3), lut), (0, 0), 1.5)
    # Everything else is a per-channel gain (OpenCV merges: numpy broadcasting
    # over a trailing axis of 3 is slow). Soft ridge along the annulus centre:
    ridge = cv2.GaussianBlur((labels == ANNULUS).astype(np.float32), (0, 0), p / 80 * (w_in + w_out) / 6)
    amp = (0.12 if intra else 0.06) * spread
    gain = (0.8 + 0.25 * ridge + amp * smooth_field(rng, (p, p), rng.uniform(6, 12))
            + 0.6 * amp * smooth_field(rng, (p, p), rng.uniform(40, 70))
            + 0.4 * amp * smooth_field(rng, (p, p), rng.uniform(100, 160)))
    # Tissue folds: thin smooth curves, a dark groove beside a bright crest.
    folds = np.zeros((p, p), np.float32)
    for _ in range(int(rng.integers(3, 14) if intra else rng.integers(0, 6))):
        pts = _random_walk(rng, p, int(rng.integers(8, 30)), 0.2, 3.0)
        cv2.polylines(folds, [pts], False, 1.0, 1, cv2.LINE_AA, 4)
    folds = cv2.GaussianBlur(folds, (0, 0), 1.2)
    gain -= 3.2 * amp * (folds - np.roll(folds, 2, axis=0))
    # Hue wander toward yellow/white (fat, fibrous tissue).
    hue = np.maximum(smooth_field(rng, (p, p), rng.uniform(3, 8)), 0.0) * (0.12 if intra else 0.04)
    g_r, g_g, g_b = gain * (1.0 + 0.3 * hue), gain * (1.0 + 0.2 * hue), gain * (1.0 - 0.3 * hue)
    if intra:  # vessels (dark red lines) and blood (dark red pools)
        vessels = np.zeros((p, p), np.float32)
        for _ in range(int(rng.integers(6, 24))):
            pts = _random_walk(rng, p, int(rng.integers(10, 40)), 0.35, rng.uniform(1.5, 4.0))
            cv2.polylines(vessels, [pts], False, float(rng.uniform(0.3, 0.9)), 1, cv2.LINE_AA, 4)
            for _ in range(int(rng.integers(0, 3))):  # side branches
                start = pts[int(rng.integers(0, len(pts))), 0] / 16.0
                branch = _random_walk(rng, p, int(rng.integers(4, 15)), 0.5, rng.uniform(1.0, 2.5), start)
                cv2.polylines(vessels, [branch], False, float(rng.uniform(0.2, 0.6)), 1, cv2.LINE_AA, 4)
        vessels = cv2.GaussianBlur(vessels, (0, 0), 0.8)
        blood = np.clip(2.5 * (smooth_field(rng, (p, p), rng.uniform(4, 10)) - rng.uniform(1.3, 2.5)), 0, 1)
        g_r = g_r * (1.0 - 0.35 * vessels) * (1.0 - 0.45 * blood)
        dark = (1.0 - 0.85 * vessels) * (1.0 - 0.93 * blood)
        g_g, g_b = g_g * dark, g_b * dark
    rgb = cv2.multiply(rgb, cv2.merge([g_r, g_g, g_b]))
    scene.plane_rgb = np.clip(rgb, 0.0, 1.0)
    scene.plane_labels = cv2.LUT(labels, _PLANE_TO_LABEL)
    scene.look = {"domain": domain}
    return scene


def _random_walk(rng, p, steps, turn, step_len, start=None):
    """A smooth random curve on the texture plane as a cv2 fixed-point polyline."""
    ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, turn, steps))
    start = rng.uniform(0, p, 2) if start is None else np.asarray(start, dtype=np.float64)
    pts = start + np.cumsum(np.stack([np.cos(ang), np.sin(ang)], 1) * step_len, axis=0)
    return np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)


# --------------------------------------------------------------------------
# Sutures
# --------------------------------------------------------------------------
@dataclass
class _Thread:
    entry: np.ndarray  # (3,) world mm
    v0: np.ndarray
    bend: np.ndarray
    colour: np.ndarray
    diameter: float
    braid: float


def _thread_world(th: _Thread, length=160.0, step=2.0) -> np.ndarray:
    s = np.arange(0.0, length, step)
    return th.entry + s[:, None] * th.v0 + (s ** 2)[:, None] * th.bend


def _project_thread(th: _Thread, cam: _Camera, size):
    """Projected polyline, clipped where it leaves the frame or nears the lens."""
    pts, z = cam.project(_thread_world(th))
    h, w = size
    margin = 40.0
    ok = (z > 8.0) & (pts[:, 0] > -margin) & (pts[:, 0] < w + margin) & (pts[:, 1] > -margin) & (pts[:, 1] < h + margin)
    stop = int(np.argmin(ok)) if not ok.all() else len(ok)
    stop = max(stop + 1, 2) if stop < len(ok) else stop  # keep one vertex outside so the thread reaches the edge
    return pts[:stop], z[:stop]


def _poly_dist(pts, poly) -> np.ndarray:
    """``(K,)`` distances from points ``(K, 2)`` to the polyline ``poly`` ``(M, 2)``."""
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros(0)
    if len(poly) == 1:
        return np.linalg.norm(pts - poly[0], axis=1)
    a, ab = poly[:-1], np.diff(poly, axis=0)
    rel = pts[:, None, :] - a[None]
    t = np.clip((rel * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.sqrt(((rel - t[..., None] * ab) ** 2).sum(-1)).min(axis=1)


_THREAD_COLOURS = ((0.12, 0.55, 0.25), (0.15, 0.25, 0.65), (0.92, 0.92, 0.9), (0.1, 0.12, 0.1),
                   (0.2, 0.6, 0.55), (0.35, 0.2, 0.55))


def _place_sutures(rng, scene: _Scene, cam: _Camera, size, n: int, spread: float):
    """Choose ``n`` visible, well-separated entry points and threads that keep clear of them.

    Stitches are single bites or pairs 3-6 mm apart along the annulus. Threads
    leave the tissue upward and outward (mixed with a common pull direction, as
    when the surgeon holds the sutures aside) and run out of the frame; no
    thread passes close to another thread's entry point, so every entry point
    stays visible. Raises RuntimeError when the view cannot host ``n`` points.
    """
    h, w = size
    pull_az = rng.uniform(0, 2 * np.pi)
    pull_weight = rng.uniform(0.2, 1.2)
    points, threads, owners, placed_polys = [], [], [], []
    colour_id = int(rng.integers(len(_THREAD_COLOURS)))
    lo = _EDGE_MARGIN_PX
    for _ in range(6):  # batches of candidate stitches, projected together
        if len(points) >= n:
            break
        m = 64
        theta = rng.uniform(0, 2 * np.pi, m)
        dtheta = rng.uniform(3.0, 6.0, m) / scene.rx
        radial = rng.uniform(-0.5 * scene.w_in, 0.6 * scene.w_out, m)
        xy = np.stack([_annulus_xy(scene, theta - dtheta / 2, radial + rng.uniform(-0.4, 0.4, m)),
                       _annulus_xy(scene, theta + dtheta / 2, radial + rng.uniform(-0.4, 0.4, m))], 1)
        world = np.concatenate([xy, np.zeros((m, 2, 1))], axis=2)
        px, z = cam.project(world.reshape(-1, 3))
        px, z = px.reshape(m, 2, 2), z.reshape(m, 2)
        visible = (z > 1.0) & (px[..., 0] >= lo) & (px[..., 0] <= w - 1 - lo) & (px[..., 1] >= lo) & \
            (px[..., 1] <= h - 1 - lo)
        for j in range(m):
            if len(points) >= n:
                break
            want = 2 if (n - len(points) >= 2 and rng.random() < 0.7) else 1
            idx = [0, 1] if want == 2 else [int(rng.integers(0, 2))]
            if not visible[j, idx].all():
                continue
            cand = px[j, idx]
            if want == 2 and np.linalg.norm(cand[0] - cand[1]) < _MIN_POINT_DIST_PX:
                continue
            if points and np.min(np.linalg.norm(np.array(points)[:, None] - cand[None], axis=2)) < _MIN_POINT_DIST_PX:
                continue
            if rng.random() < 0.35:
                colour_id = int(rng.integers(len(_THREAD_COLOURS)))
            colour = _colour(rng, _THREAD_COLOURS[colour_id], 0.15 * spread)
            lift = rng.uniform(0.15, 0.7)
            centre = world[j, idx].mean(axis=0)
            outward = centre[:2] / max(np.linalg.norm(centre[:2]), 1e-6)
            direction = outward + pull_weight * np.array([math.cos(pull_az), math.sin(pull_az)]) + \
                rng.normal(0.0, 0.3, 2)
            direction = np.append(direction / max(np.linalg.norm(direction), 1e-6), 0.0)
            new = []
            for wp in world[j, idx]:
                v0 = direction * rng.uniform(0.8, 1.0) + (lift + rng.uniform(-0.05, 0.05)) * np.array([0, 0, 1.0])
                v0 = v0 + rng.normal(0.0, 0.05, 3)
                v0 /= np.linalg.norm(v0)
                bend = rng.uniform(0.003, 0.012) * (np.array([0, 0, rng.uniform(-0.5, 1.0)])
                                                    + rng.uniform(0, 1) * direction + rng.normal(0, 0.5, 3))
                new.append(_Thread(wp, v0, bend, colour, float(rng.uniform(0.25, 0.45)),
                                   float(rng.uniform(0.8, 1.6))))
            polys = [_project_thread(t, cam, size)[0] for t in new]
            # Threads run out of the frame (to the surgeon), never end inside it.
            if any(0 <= poly[-1][0] <= w - 1 and 0 <= poly[-1][1] <= h - 1 for poly in polys):
                continue
            widths = [t.diameter * cam.f / max(float(z_), 1.0) for t, z_ in zip(new, z[j, idx])]
            clear = max(8.0, 1.5 * max(widths) + 3.0)
            # New threads keep clear of all other entry points; old threads of the new points.
            others = points + ([cand[1]] if want == 2 else [])
            bad = bool(others) and np.any(_poly_dist(others, polys[0]) < clear)
            bad = bad or (want == 2 and (np.any(_poly_dist(points + [cand[0]], polys[1]) < clear)))
            bad = bad or any(np.any(_poly_dist(cand, tp) < clear) for tp in placed_polys)
            if bad:
                continue
            for i in range(want):
                points.append(cand[i])
                owners.append(len(threads))
                threads.append(new[i])
                placed_polys.append(polys[i])
    if len(points) < n:
        raise RuntimeError(f"could not place {n} sutures in this view")  # caller redraws the camera
    return np.array(points, np.float64).reshape(-1, 2), threads, owners


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
@dataclass
class _Style:
    light: float
    falloff: float
    vignette: float
    speculars: int
    spec_strength: float
    blur: float
    motion: tuple | None
    noise: float
    gains: np.ndarray
    gamma: float
    saturation: float
    background: np.ndarray
    grain: float
    shadow: float
    shadow_dir: np.ndarray


def _draw_style(rng, domain, prof) -> _Style:
    intra = domain == "intraop"
    spread = prof["spread"]
    motion = None
    if rng.random() < prof["motion_p"]:
        motion = (int(rng.integers(3, 5 + int(6 * spread))), float(rng.uniform(0, 180)))
    return _Style(
        light=float(rng.uniform(0.85, 1.1) if not intra else rng.uniform(0.85, 1.2)),
        falloff=float(rng.uniform(1.0, 2.0)),
        vignette=float(rng.uniform(0.1, 0.3) if not intra else rng.uniform(0.2, 0.5)) * min(spread, 1.5),
        speculars=int(rng.integers(2, 10) if not intra else rng.integers(8, 40)),
        spec_strength=float(rng.uniform(0.4, 0.9) if not intra else rng.uniform(0.7, 1.2)),
        blur=float(rng.uniform(0.0, 0.6 if not intra else 0.9) * spread),
        grain=float(rng.uniform(0.02, 0.05) if not intra else rng.uniform(0.04, 0.1)) * max(spread, 0.5),
        motion=motion,
        noise=float(rng.uniform(0.004, 0.015 if not intra else 0.03) * spread),
        gains=(1.0 + rng.uniform(-0.08, 0.08, 3) * spread).astype(np.float32),
        gamma=float(np.exp(rng.uniform(-0.15, 0.15) * spread)),
        saturation=float(1.0 + rng.uniform(-0.2, 0.2) * spread),
        background=_colour(rng, (0.06, 0.03, 0.03) if intra else (0.05, 0.05, 0.06), 0.5),
        shadow=float(rng.uniform(0.2, 0.5)),
        shadow_dir=np.array([math.cos(a := rng.uniform(0, 2 * np.pi)), math.sin(a)]),
    )


_PROFILES = {
    "none": {"spread": 0.0, "motion_p": 0.0},
    "train": {"spread": 1.0, "motion_p": 0.2},
    "wide": {"spread": 1.6, "motion_p": 0.35},
}


def _render_frame(rng, scene: _Scene, cam: _Camera, threads, size, style: _Style, clean: bool):
    h, w = size
    scale = (2 * _PLANE_HALF_MM) / _PLANE_TEXELS
    texel_to_mm = np.array([[scale, 0, -_PLANE_HALF_MM + 0.5 * scale], [0, scale, -_PLANE_HALF_MM + 0.5 * scale],
                            [0, 0, 1.0]])
    hom = cam.plane_homography() @ texel_to_mm
    bg = tuple(float(v) for v in style.background)
    rgb = cv2.warpPerspective(scene.plane_rgb, hom, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=bg)
    labels = cv2.warpPerspective(scene.plane_labels, hom, (w, h), flags=cv2.INTER_NEAREST,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # One gain map: light from the scope tip (irradiance ~ depth^-falloff; on
    # the plane 1/depth is affine in the pixel position), vignetting, shadows.
    a, b, c = cam.inverse_depth_coeffs()
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    inv_z = np.maximum(a * xs[None, :] + b * ys[:, None] + c, 1e-4).astype(np.float32)
    ref = float(inv_z[h // 2, w // 2]) if inv_z[h // 2, w // 2] > 1e-4 else float(np.median(inv_z))
    gain = cv2.pow(inv_z * np.float32(1.0 / ref), style.falloff)
    np.clip(gain, 0.2, 1.4, out=gain)
    gain *= np.float32(style.light)
    if style.vignette > 0:
        rr = ((xs[None, :] - w / 2) / (w / 2)) ** 2 + ((ys[:, None] - h / 2) / (w / 2)) ** 2
        gain *= 1.0 - np.float32(style.vignette) * np.minimum(rr, 1.6)
    projected = [_project_thread(th, cam, size) for th in threads]
    if threads:
        shadow = np.zeros((h, w), np.float32)
        for th, (poly, z) in zip(threads, projected):
            k = min(len(poly), 16)
            off = (1.5 + 0.5 * np.arange(k))[:, None] * style.shadow_dir
            width = th.diameter * cam.f / max(float(z[0]), 1.0) * 1.3
            cv2.polylines(shadow, [_fixed(poly[:k] + off)], False, 1.0, _th(width), cv2.LINE_AA, 4)
        gain *= 1.0 - np.float32(style.shadow) * cv2.GaussianBlur(shadow, (0, 0), 2.0)
    rgb = cv2.multiply(rgb, cv2.merge([gain] * 3))

    # Threads in chunks of near-constant width, far end first so entry ends lie on top.
    thread_polys, widths = [], []
    for th, (poly, z) in zip(threads, projected):
        width = np.clip(th.diameter * cam.f / np.maximum(z, 1.0), 1.5, 9.0)
        thread_polys.append(poly.astype(np.float32))
        widths.append(float(width[0]))
        light = np.clip((ref * np.maximum(z, 1.0)) ** -0.5, 0.5, 1.4) * style.light
        for i0 in range(((len(poly) - 2) // 5) * 5, -1, -5):
            seg = poly[i0:i0 + 6]
            if len(seg) < 2:
                continue
            t = _th(width[i0:i0 + 6].mean())
            braid = 0.9 + 0.1 * math.sin(i0 * th.braid)
            colour = np.clip(th.colour * braid * light[i0], 0, 1)
            pts = _fixed(seg)
            cv2.polylines(rgb, [pts], False, tuple(colour.tolist()), t, cv2.LINE_AA, 4)
            cv2.polylines(labels, [pts], False, THREAD, t, cv2.LINE_8, 4)
            if t >= 3:  # specular stripe along the thread
                hl = tuple((np.minimum(1.0, colour * 0.5 + 0.55)).tolist())
                cv2.polylines(rgb, [_fixed(seg - 0.25 * t)], False, hl, max(1, t // 4), cv2.LINE_AA, 4)
    if not clean:
        # Fine tissue grain in image space (the texture plane is coarser than the
        # pixels when the scope is close), then wet glints.
        grain = 1.0 + np.float32(style.grain) * smooth_field(rng, (h, w), w / rng.uniform(2.0, 4.0))
        rgb = cv2.multiply(rgb, cv2.merge([grain] * 3))
        _speculars(rng, rgb, labels, style)
        if style.blur > 0.05:
            rgb = cv2.GaussianBlur(rgb, (0, 0), style.blur)
        if style.motion is not None:
            length, angle = style.motion
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2] = 1.0
            rotm = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
            kernel = cv2.warpAffine(kernel, rotm, (length, length))
            rgb = cv2.filter2D(rgb, -1, kernel / max(kernel.sum(), 1e-6))
        # Saturation and per-channel gains as one colour matrix, then gamma and sensor noise.
        lum = np.array([0.299, 0.587, 0.114], np.float32)
        m = style.saturation * np.eye(3, dtype=np.float32) + (1.0 - style.saturation) * np.outer(np.ones(3), lum)
        rgb = cv2.transform(rgb, (style.gains[:, None] * m).astype(np.float32))
        np.clip(rgb, 0.0, 1.0, out=rgb)
        rgb = cv2.pow(rgb, style.gamma)
        rgb += np.float32(style.noise) * white_noise(rng, rgb.shape)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb.astype(np.float32, copy=False), labels, thread_polys, widths


def _fixed(pts):
    """Float (x, y) pixels -> cv2 fixed-point (shift 4) int32 polyline."""
    return np.round(np.asarray(pts, dtype=np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)


def _th(width):
    return max(1, int(round(float(width))))


def _speculars(rng, rgb, labels, style: _Style):
    """Saturated white glints on wet tissue: streaks and small sparkle clusters."""
    h, w = labels.shape
    spots = np.zeros((h, w), np.float32)
    for _ in range(style.speculars):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if labels[y, x] not in (ANNULUS, TISSUE):
            continue
        if rng.random() < 0.35:
            for _ in range(int(rng.integers(3, 8))):
                cx, cy = x + int(rng.normal(0, 4)), y + int(rng.normal(0, 3))
                cv2.circle(spots, (cx, cy), int(rng.integers(0, 2)), float(rng.uniform(0.6, 1.0)), -1)
        else:
            axes = (int(rng.integers(1, 9)), int(rng.integers(1, 3)))
            cv2.ellipse(spots, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.7, 1.0)), -1)
    spots = cv2.merge([cv2.GaussianBlur(spots, (0, 0), 0.8) * np.float32(style.spec_strength)] * 3)
    rgb += cv2.multiply(spots, 1.3 - rgb)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def check_arguments(n_sutures, domain, randomisation, size):
    check_choice("domain", domain, DOMAINS)
    check_choice("randomisation", randomisation, RANDOMISATIONS)
    if n_sutures is not None and not 0 <= int(n_sutures) <= MAX_SUTURES:
        raise ValueError(f"n_sutures must be in [0, {MAX_SUTURES}], got {n_sutures}")
    h, w = (int(v) for v in size)
    if h < 32 or w < 32:
        raise ValueError(f"size must be at least (32, 32), got {size}")
    return h, w


def _setup(rng, n, domain, randomisation, size):
    prof = _PROFILES[randomisation]
    spread = max(prof["spread"], 0.25)
    scene = _draw_scene(rng, domain, spread)
    for _ in range(40):
        cam_params = _draw_cam(rng, spread)
        try:
            points, threads, owners = _place_sutures(rng, scene, cam_params.camera(size), size, n, spread)
            break
        except RuntimeError:
            continue
    else:
        raise RuntimeError(f"could not place {n} sutures after 40 camera draws")
    style = _draw_style(rng, domain, prof)
    return prof, scene, cam_params, points, threads, owners, style


def make_suture_frame(seed_or_rng, *, n_sutures=None, domain="sim", size=(288, 512),
                      randomisation="train") -> SutureSample:
    """One synthetic endoscopic frame with suture entry-point ground truth.

    Args:
        seed_or_rng: int seed or ``np.random.Generator``.
        n_sutures: number of entry points, 0..15; None draws it uniformly.
        domain: "sim" (silicone simulator look) or "intraop" (real-surgery look).
        size: ``(rows, cols)``; default (288, 512).
        randomisation: "none" (no blur/noise/glints/jitter), "train" or "wide".

    Returns:
        :class:`SutureSample`: image ``(H, W, 3) float32`` in [0, 1], points
        ``(N, 2) float32`` (x, y) px, labels ``(H, W) uint8``.

    >>> s = make_suture_frame(0, n_sutures=3, size=(72, 128))
    >>> s.image.shape, s.image.dtype, s.points.shape
    ((72, 128, 3), dtype('float32'), (3, 2))
    """
    h, w = check_arguments(n_sutures, domain, randomisation, size)
    rng = as_rng(seed_or_rng)
    n = int(rng.integers(0, MAX_SUTURES + 1)) if n_sutures is None else int(n_sutures)
    prof, scene, cam_params, points, threads, owners, style = _setup(rng, n, domain, randomisation, (h, w))
    cam = cam_params.camera((h, w))
    image, labels, polys, widths = _render_frame(rng, scene, cam, threads, (h, w), style,
                                                 clean=randomisation == "none")
    meta = {"domain": domain, "randomisation": randomisation, "threads": polys, "thread_width_px": widths,
            "point_thread": owners, "camera_distance_mm": cam_params.dist}
    return SutureSample(image, points.astype(np.float32).reshape(-1, 2), labels, meta)


def make_suture_video(seed, n_frames, *, n_sutures=None, domain="sim", size=(288, 512),
                      randomisation="train", speed_mm=0.15) -> list:
    """A short clip with slow camera motion over one fixed scene.

    The camera drifts smoothly (target, distance, tilt and roll); threads and
    tissue are fixed in 3D, so the points move consistently with the view.
    Points that leave the frame are dropped from that frame.

    Args:
        seed: int seed or Generator; n_frames: number of frames (>= 1).
        speed_mm: typical camera drift per frame in mm (about 2 px at working distance).
        Other arguments as :func:`make_suture_frame`.

    Returns:
        list of :class:`SutureSample` (``meta["point_ids"]`` identifies points across frames).

    >>> clip = make_suture_video(0, 2, n_sutures=2, size=(72, 128))
    >>> len(clip), clip[1].points.shape
    (2, (2, 2))
    """
    h, w = check_arguments(n_sutures, domain, randomisation, size)
    if int(n_frames) < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    rng = as_rng(seed)
    n = int(rng.integers(0, MAX_SUTURES + 1)) if n_sutures is None else int(n_sutures)
    prof, scene, cp, points, threads, owners, style = _setup(rng, n, domain, randomisation, (h, w))
    # Smooth quasi-periodic drift: sinusoids with 40-120 frame periods, scaled
    # so the speed is about ``speed_mm`` per frame.
    t = np.arange(int(n_frames), dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi, 5)
    period = rng.uniform(40.0, 120.0, 5)
    amp = float(speed_mm) * period / (2 * np.pi) * rng.uniform(0.5, 1.0, 5)
    out = []
    for i, ti in enumerate(t):
        wave = amp * (np.sin(2 * np.pi * ti / period + phase) - np.sin(phase))  # mm, starts at 0
        cpi = _CamParams(cp.f, cp.pp, cp.dist + wave[0], cp.tilt + 0.02 * wave[1],
                         cp.az, cp.roll + 0.015 * wave[2], cp.target + np.array([wave[3], wave[4], 0.0]))
        cam = cpi.camera((h, w))
        image, labels, polys, widths = _render_frame(rng, scene, cam, threads, (h, w), style,
                                                     clean=randomisation == "none")
        world = np.array([th.entry for th in threads]).reshape(-1, 3)
        px, z = cam.project(world)
        keep = (z > 1) & (px[:, 0] >= 0) & (px[:, 0] <= w - 1) & (px[:, 1] >= 0) & (px[:, 1] <= h - 1)
        meta = {"domain": domain, "randomisation": randomisation, "frame": i, "threads": polys,
                "thread_width_px": widths, "point_ids": np.flatnonzero(keep).tolist(),
                "point_thread": np.flatnonzero(keep).tolist()}
        out.append(SutureSample(image, px[keep].astype(np.float32).reshape(-1, 2), labels, meta))
    return out
