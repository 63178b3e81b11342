"""Landmarks from label maps (``heatmap_landmarks.cardiac.segmentation``) on small hand-built masks.

Every mask is drawn in a *local* frame (LV at the origin, RV on the local left,
anterior = local up, i.e. ``(0, -1)``) and rasterised onto the pixel grid through
a rotation by ``theta`` and an optional mirror, so the expected points are known
analytically in every pose. Points are ``(x=column, y=row)`` float pixels.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.cardiac.segmentation import (
    ACDC_LABELS,
    ANTERIOR_UP,
    MNMS2_LABELS,
    LabelValues,
    anterior_direction_xy,
    lax_landmarks_from_labels,
    sax_landmarks_from_labels,
)

SIZE = 64
CENTRE = np.array([31.6, 32.3])  # off the pixel grid on purpose
# Short axis: cavity radius, epicardial radius, RV disc centre (local, px) and radius; the RV crescent is the
# RV disc minus the epicardial disc, so it touches the epicardium between the two circles' intersections.
R_LV, R_EPI, RV_CENTRE, R_RV = 7.0, 11.0, np.array([-14.0, 0.0]), 12.0


def pose(theta_deg: float, mirror: bool) -> np.ndarray:
    """``(2, 2)`` map from local to pixel offsets: rotation by ``theta_deg`` after an optional x-mirror."""
    t = math.radians(theta_deg)
    rotation = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return rotation @ np.diag([-1.0 if mirror else 1.0, 1.0])


def local_grid(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local coordinates ``(u, v)``, each ``(SIZE, SIZE)``, of every pixel centre."""
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    d = np.stack([xx - CENTRE[0], yy - CENTRE[1]], axis=-1) @ np.linalg.inv(matrix).T
    return d[..., 0], d[..., 1]


def to_pixels(local_xy, matrix: np.ndarray) -> np.ndarray:
    return CENTRE + matrix @ np.asarray(local_xy, dtype=np.float64)


def sax_mask(matrix: np.ndarray, labels: LabelValues = ACDC_LABELS, *, rv: str = "crescent") -> np.ndarray:
    """``(SIZE, SIZE)`` int: LV cavity disc, myocardium ring, and an RV (``crescent``, ``apart``, ``ring``, ``none``)."""
    u, v = local_grid(matrix)
    r = np.hypot(u, v)
    out = np.zeros((SIZE, SIZE), np.int64)
    if rv == "crescent":
        out[(np.hypot(u - RV_CENTRE[0], v - RV_CENTRE[1]) <= R_RV) & (r > R_EPI)] = labels.rv
    elif rv == "apart":  # an RV blob 4 px away from the epicardium
        out[np.hypot(u + R_EPI + 9.0, v) <= 5.0] = labels.rv
    elif rv == "ring":  # wraps all the way round
        out[(r > R_EPI) & (r <= R_EPI + 4.0)] = labels.rv
    out[r <= R_EPI] = labels.myo
    out[r <= R_LV] = labels.lv
    return out


def sax_expected(matrix: np.ndarray) -> dict:
    """RVI-1/RVI-2 in pixels: where the RV circle crosses the epicardial circle; anterior (local up) is RVI-1."""
    q = RV_CENTRE[0]
    x = (R_RV ** 2 - R_EPI ** 2 - q ** 2) / (-2.0 * q)
    y = math.sqrt(R_EPI ** 2 - x ** 2)
    return {"RVI-1": to_pixels([x, -y], matrix), "RVI-2": to_pixels([x, y], matrix)}


POSES = [(theta, mirror) for theta in (0.0, 17.0, 90.0, 135.0, 200.0, 291.0) for mirror in (False, True)]
POSE_IDS = [f"{t:g}deg{'-mirror' if m else ''}" for t, m in POSES]


def anterior_of(matrix: np.ndarray) -> np.ndarray:
    return matrix @ np.asarray(ANTERIOR_UP)


# ---------------------------------------------------------------------------
# short axis
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("theta, mirror", POSES, ids=POSE_IDS)
def test_sax_insertions_at_the_crossings_and_rvi1_anterior(theta, mirror):
    m = pose(theta, mirror)
    out = sax_landmarks_from_labels(sax_mask(m), anterior_xy=anterior_of(m))
    expected = sax_expected(m)
    for name in ("RVI-1", "RVI-2"):
        assert np.linalg.norm(out.points[name] - expected[name]) < 2.0, (name, out.points[name], expected[name])
    ant = anterior_of(m)
    assert np.dot(out.points["RVI-1"], ant) > np.dot(out.points["RVI-2"], ant)
    assert out.absent == {}


@pytest.mark.parametrize("theta, mirror", POSES, ids=POSE_IDS)
def test_sax_lvc_is_the_cavity_centroid(theta, mirror):
    mask = sax_mask(pose(theta, mirror))
    rows, cols = np.nonzero(mask == ACDC_LABELS.lv)
    out = sax_landmarks_from_labels(mask, anterior_xy=anterior_of(pose(theta, mirror)))
    np.testing.assert_allclose(out.points["LVC"], [cols.mean(), rows.mean()], atol=1e-12)
    assert np.linalg.norm(out.points["LVC"] - CENTRE) < 0.5


@pytest.mark.parametrize("theta, mirror", POSES[:4], ids=POSE_IDS[:4])
def test_sax_insertions_lie_on_the_epicardial_border_next_to_the_rv(theta, mirror):
    mask = sax_mask(pose(theta, mirror))
    out = sax_landmarks_from_labels(mask, anterior_xy=anterior_of(pose(theta, mirror)))
    epi = (mask == ACDC_LABELS.myo) | (mask == ACDC_LABELS.lv)
    for name in ("RVI-1", "RVI-2"):
        x, y = (int(v) for v in out.points[name])
        assert out.points[name].tolist() == [x, y]  # a pixel centre
        assert epi[y, x]
        four = [epi[y + dy, x + dx] for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        assert not all(four), f"{name} is inside the epicardium, not on its border"
        assert (mask[y - 1:y + 2, x - 1:x + 2] == ACDC_LABELS.rv).any(), f"{name} has no RV pixel next to it"


def _rot90_xy(xy, k: int, width: int) -> np.ndarray:
    """Where ``np.rot90(a, k)`` moves pixel (x, y) of an array ``width`` wide (square arrays)."""
    x, y = xy
    for _ in range(k % 4):
        x, y = y, width - 1 - x
    return np.array([x, y], dtype=np.float64)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_sax_follows_np_rot90_and_fliplr_with_the_anterior_direction(k, flip):
    base = sax_mask(pose(23.0, False))
    ref = sax_landmarks_from_labels(base)  # anterior up
    mask, ant = base, np.asarray(ANTERIOR_UP)
    if flip:
        mask, ant = np.fliplr(mask), ant * [-1.0, 1.0]
    mask = np.rot90(mask, k)
    for _ in range(k):
        ant = np.array([ant[1], -ant[0]])
    out = sax_landmarks_from_labels(mask, anterior_xy=ant)
    for name in ("RVI-1", "RVI-2", "LVC"):
        xy = ref.points[name] * ([-1.0, 1.0] if flip else 1.0) + ([SIZE - 1, 0] if flip else 0.0)
        # Tied angles may pick the neighbouring pixel of the same border, never the other end.
        assert np.linalg.norm(out.points[name] - _rot90_xy(xy, k, SIZE)) <= 1.5, name


@pytest.mark.parametrize("rv, reason", [
    ("apart", "does not touch"),
    ("ring", "wraps round"),
    ("none", "no RV cavity"),
])
def test_sax_no_insertions_without_a_touching_rv_arc(rv, reason):
    out = sax_landmarks_from_labels(sax_mask(pose(40.0, False), rv=rv))
    assert "RVI-1" not in out.points and "RVI-2" not in out.points
    assert reason in out.absent["RVI-1"] and out.absent["RVI-1"] == out.absent["RVI-2"]
    assert "LVC" in out.points
    assert np.isnan(out.get("RVI-1")).all()


def test_sax_contact_shorter_than_min_arc_is_no_insertion():
    mask = sax_mask(pose(0.0, False), rv="none")
    left = int(np.flatnonzero(mask[32])[0])
    mask[31:34, left - 1] = ACDC_LABELS.rv  # 3 px touching at the far left
    out = sax_landmarks_from_labels(mask, min_arc_deg=30.0)
    assert "touches the LV along" in out.absent["RVI-1"]


def test_sax_no_lv_or_myocardium():
    only_rv = np.where(sax_mask(pose(0.0, False)) == ACDC_LABELS.rv, ACDC_LABELS.rv, 0)
    out = sax_landmarks_from_labels(only_rv)
    assert out.points == {}
    assert out.absent["LVC"] == "no LV cavity" and out.absent["RVI-1"] == "no LV myocardium or cavity"
    no_cavity = np.where(sax_mask(pose(0.0, False)) == ACDC_LABELS.lv, ACDC_LABELS.myo, sax_mask(pose(0.0, False)))
    out = sax_landmarks_from_labels(no_cavity)
    assert "LVC" not in out.points and {"RVI-1", "RVI-2"} <= set(out.points)  # the epicardium is still there


def test_sax_widest_of_several_contact_stretches():
    """Three small extra RV pieces touching elsewhere do not move the insertions (regression: with three or more
    stretches the arc used to be closed at the wrong gap)."""
    m = pose(0.0, False)
    mask = sax_mask(m)
    u, v = local_grid(m)
    for angle in (0.0, 60.0, 290.0):  # local angles, away from the crescent (124..236 deg)
        c = (R_EPI + 2.0) * np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
        mask[(np.hypot(u - c[0], v - c[1]) <= 2.5) & (mask == 0)] = ACDC_LABELS.rv
    ref = sax_landmarks_from_labels(sax_mask(m))
    out = sax_landmarks_from_labels(mask)
    for name in ("RVI-1", "RVI-2"):
        np.testing.assert_allclose(out.points[name], ref.points[name])


@pytest.mark.parametrize("theta, mirror", POSES[::3], ids=POSE_IDS[::3])
def test_sax_label_values_are_parameters(theta, mirror):
    m = pose(theta, mirror)
    acdc = sax_landmarks_from_labels(sax_mask(m, ACDC_LABELS), ACDC_LABELS, anterior_xy=anterior_of(m))
    mnms2 = sax_landmarks_from_labels(sax_mask(m, MNMS2_LABELS), MNMS2_LABELS, anterior_xy=anterior_of(m))
    assert set(acdc.points) == set(mnms2.points) == {"RVI-1", "RVI-2", "LVC"}
    for name in acdc.points:
        np.testing.assert_array_equal(acdc.points[name], mnms2.points[name])
    # Reading M&Ms-2 values as ACDC's swaps LV and RV: the "LV" is then the RV crescent.
    wrong = sax_landmarks_from_labels(sax_mask(m, MNMS2_LABELS), ACDC_LABELS, anterior_xy=anterior_of(m))
    assert np.linalg.norm(wrong.points["LVC"] - acdc.points["LVC"]) > 5.0


@pytest.mark.parametrize("fn", [sax_landmarks_from_labels, lax_landmarks_from_labels])
@pytest.mark.parametrize("bad, fragment", [
    (np.zeros((2, 8, 8), np.int64), "2D label slice"),
    (np.where(np.eye(8) > 0, np.nan, 1.0), "NaN"),
    (np.full((8, 8), 1.5), "non-integer"),
])
def test_bad_label_slices_raise_value_error(fn, bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        fn(bad)


def test_float_labels_that_are_whole_numbers_are_accepted():
    mask = sax_mask(pose(10.0, False))
    a = sax_landmarks_from_labels(mask)
    b = sax_landmarks_from_labels(mask.astype(np.float32))
    for name in a.points:
        np.testing.assert_array_equal(a.points[name], b.points[name])


@pytest.mark.parametrize("text, expected", [("1,2,3", ACDC_LABELS), (" 3, 2 ,1", MNMS2_LABELS)])
def test_label_values_parse(text, expected):
    assert LabelValues.parse(text) == expected


@pytest.mark.parametrize("text", ["1,2", "1,2,3,4", "a,b,c", "1,1,3", "0,1,2", "1.5,2,3", "-1,2,3", ""])
def test_label_values_parse_rejects(text):
    with pytest.raises(ValueError):
        LabelValues.parse(text)


# ---------------------------------------------------------------------------
# anterior direction
# ---------------------------------------------------------------------------
def test_anterior_direction_identity_lps_is_up():
    assert anterior_direction_xy(np.diag([-1.0, -1.0, 1.0]), (1.5625, 1.5625)).tolist() == [0.0, -1.0]
    assert anterior_direction_xy(np.eye(3), (1.0, 1.0)).tolist() == [0.0, 1.0]  # RAS identity: rows grow anterior


def _oblique_direction() -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


@pytest.mark.parametrize("spacing_xy", [(1.0, 1.0), (0.7, 1.9)])
def test_anterior_direction_oblique_follows_the_a_coordinate(spacing_xy):
    direction = _oblique_direction()
    assert np.hypot(direction[1, 0], direction[1, 1]) >= 0.5  # in-plane enough for this test
    g = Geometry(spacing=(*spacing_xy, 6.0), origin=(3.0, -7.0, 11.0), direction=direction)
    ant = anterior_direction_xy(g.direction, g.spacing[:2])
    base = g.pixel_to_ras([[10.0, 20.0, 0.0]])[0]
    grad = np.array([g.pixel_to_ras([[11.0, 20.0, 0.0]])[0][1] - base[1],
                     g.pixel_to_ras([[10.0, 21.0, 0.0]])[0][1] - base[1]])  # dA/dx, dA/dy in mm per px
    np.testing.assert_allclose(ant, grad / np.linalg.norm(grad), atol=1e-12)
    assert np.linalg.norm(ant) == pytest.approx(1.0)


def test_anterior_direction_none_when_anterior_is_the_slice_normal():
    # columns along R, rows along S, slices along A
    direction = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert anterior_direction_xy(direction, (1.0, 1.0)) is None


@pytest.mark.parametrize("theta, mirror", [(0.0, False), (73.0, True), (250.0, False)])
def test_sax_rvi1_has_the_larger_ras_a_with_real_orientation(theta, mirror):
    """End to end with an oblique header: RVI-1 is the insertion with the larger A coordinate."""
    g = Geometry(spacing=(1.3, 1.3, 8.0), origin=(0.0, 0.0, 0.0), direction=_oblique_direction())
    m = pose(theta, mirror)
    out = sax_landmarks_from_labels(sax_mask(m), anterior_xy=anterior_direction_xy(g.direction, g.spacing[:2]))
    a1, a2 = (g.pixel_to_ras([[*out.points[n], 0.0]])[0][1] for n in ("RVI-1", "RVI-2"))
    assert a1 > a2


# ---------------------------------------------------------------------------
# long axis (4-chamber)
# ---------------------------------------------------------------------------
# Local frame: LV long axis along +v (base at negative v, apex at positive v), RV on the local left (-u).
LAX_A, LAX_B, LAX_WALL, LAX_BASE = 14.0, 7.0, 4.0, 8.0


def lax_mask(matrix: np.ndarray, labels: LabelValues = MNMS2_LABELS, *, rv: bool = True,
             closed: bool = False, lv: bool = True) -> np.ndarray:
    """``(SIZE, SIZE)`` int: elliptic LV cavity cut at the base (``v >= -LAX_BASE``; ``lv=False``: left empty), a
    myocardial wall round it except over the mitral opening (``closed``: all round), and an RV beside the septum."""
    u, v = local_grid(matrix)
    cavity = (u / LAX_B) ** 2 + (v / LAX_A) ** 2 <= 1.0
    outer = (u / (LAX_B + LAX_WALL)) ** 2 + (v / (LAX_A + LAX_WALL)) ** 2 <= 1.0
    below_base = v >= -LAX_BASE
    out = np.zeros((SIZE, SIZE), np.int64)
    if closed:
        out[outer & (v >= -LAX_BASE - LAX_WALL)] = labels.myo
    else:
        out[outer & below_base] = labels.myo
    out[cavity & below_base] = labels.lv if lv else 0
    if rv:
        out[((u + LAX_B + LAX_WALL + 7.0) / 4.0) ** 2 + ((v - 2.0) / 11.0) ** 2 <= 1.0] = labels.rv
    return out


def lax_expected(matrix: np.ndarray) -> dict:
    """MV-1 (septal, on the RV side) and MV-2 in pixels: the cavity's corners at the base line, one pixel in
    (border pixels next to myocardium count as covered)."""
    w = LAX_B * math.sqrt(1.0 - (LAX_BASE / LAX_A) ** 2) - 1.0
    return {"MV-1": to_pixels([-w, -LAX_BASE], matrix), "MV-2": to_pixels([w, -LAX_BASE], matrix)}


@pytest.mark.parametrize("theta, mirror", POSES, ids=POSE_IDS)
def test_lax_hinges_at_the_opening_and_septal_is_nearer_the_rv(theta, mirror):
    m = pose(theta, mirror)
    mask = lax_mask(m)
    out = lax_landmarks_from_labels(mask)
    expected = lax_expected(m)
    for name in ("MV-1", "MV-2"):
        assert np.linalg.norm(out.points[name] - expected[name]) < 2.0, (name, out.points[name], expected[name])
    rows, cols = np.nonzero(mask == MNMS2_LABELS.rv)
    rv_centre = np.array([cols.mean(), rows.mean()])
    assert np.linalg.norm(out.points["MV-1"] - rv_centre) < np.linalg.norm(out.points["MV-2"] - rv_centre)
    assert out.absent == {}


@pytest.mark.parametrize("theta, mirror", POSES[::4], ids=POSE_IDS[::4])
def test_lax_hinges_lie_on_the_cavity_border_between_opening_and_wall(theta, mirror):
    mask = lax_mask(pose(theta, mirror))
    out = lax_landmarks_from_labels(mask)
    cavity = mask == MNMS2_LABELS.lv
    for name in ("MV-1", "MV-2"):
        x, y = (int(v) for v in out.points[name])
        assert cavity[y, x]
        window = mask[y - 2:y + 3, x - 2:x + 3]
        assert (window == MNMS2_LABELS.myo).any() and (window == 0).any(), name  # wall and atrial side both near


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_lax_follows_np_rot90_and_fliplr(k, flip):
    base = lax_mask(pose(-12.0, False))
    ref = lax_landmarks_from_labels(base)
    mask = np.rot90(np.fliplr(base) if flip else base, k)
    out = lax_landmarks_from_labels(mask)
    for name in ("MV-1", "MV-2"):
        xy = ref.points[name] * ([-1.0, 1.0] if flip else 1.0) + ([SIZE - 1, 0] if flip else 0.0)
        assert np.linalg.norm(out.points[name] - _rot90_xy(xy, k, SIZE)) <= 1.5, name


@pytest.mark.parametrize("kwargs, reason", [
    ({"rv": False}, "septal side unknown"),
    ({"closed": True}, "covers the whole LV cavity border"),
    ({"lv": False}, "no LV cavity"),
])
def test_lax_absent_hinges(kwargs, reason):
    out = lax_landmarks_from_labels(lax_mask(pose(30.0, False), **kwargs))
    assert out.points == {}
    assert reason in out.absent["MV-1"] and out.absent["MV-1"] == out.absent["MV-2"]


@pytest.mark.parametrize("theta, mirror", POSES[1::4], ids=POSE_IDS[1::4])
def test_lax_label_values_are_parameters(theta, mirror):
    m = pose(theta, mirror)
    mnms2 = lax_landmarks_from_labels(lax_mask(m, MNMS2_LABELS), MNMS2_LABELS)
    acdc = lax_landmarks_from_labels(lax_mask(m, ACDC_LABELS), ACDC_LABELS)
    assert set(mnms2.points) == set(acdc.points) == {"MV-1", "MV-2"}
    for name in mnms2.points:
        np.testing.assert_array_equal(mnms2.points[name], acdc.points[name])
