"""Tests of the synthetic cardiac MR and endoscopic suture phantoms.

The ground truth is checked against the rendered label maps (the anatomy), not
against the generator's own bookkeeping: RVI points where RV blood meets the
LV epicardium, LV centre at the cavity centroid, MV hinges at the LV/LA
junction, suture entry points on tissue at a thread end.
"""
from __future__ import annotations

import numpy as np
import pytest

from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.phantoms import (
    LABELS,
    CardiacCine,
    CardiacSample,
    SutureSample,
    lv_centre_name,
    make_cardiac_cine,
    make_lax_slice,
    make_sax_slice,
    make_suture_frame,
    make_suture_video,
)

LV, MYO, RV, LA = 1, 2, 3, 4
SEEDS = range(8)


def neighbourhood(labels: np.ndarray, point, radius: float) -> np.ndarray:
    """Label values of the pixels whose centres lie within ``radius`` px of ``point`` (x, y)."""
    h, w = labels.shape
    ys, xs = np.mgrid[0:h, 0:w]
    inside = (xs - point[0]) ** 2 + (ys - point[1]) ** 2 <= radius ** 2
    return np.unique(labels[inside])


def in_image(point, shape) -> bool:
    return bool(0 <= point[0] <= shape[1] - 1 and 0 <= point[1] <= shape[0] - 1)


# ---------------------------------------------------------------- cardiac ---
@pytest.mark.parametrize("make", [make_sax_slice, make_lax_slice])
@pytest.mark.parametrize("randomisation", ["none", "train", "wide"])
def test_cardiac_deterministic_given_seed(make, randomisation):
    a, b = make(11, randomisation=randomisation), make(11, randomisation=randomisation)
    c = make(12, randomisation=randomisation)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    for key in a.landmarks:
        np.testing.assert_array_equal(a.landmarks[key], b.landmarks[key])
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)
    # A Generator can be passed instead of a seed, and then advances.
    rng = np.random.default_rng(11)
    np.testing.assert_array_equal(make(rng, randomisation=randomisation).image, a.image)


@pytest.mark.parametrize("make,keys", [(make_sax_slice, {"RVI-1", "RVI-2", "LVC"}), (make_lax_slice, {"MV-1", "MV-2"})])
@pytest.mark.parametrize("randomisation", ["train", "wide"])
def test_cardiac_sample_types_grid_and_landmarks_in_image(make, keys, randomisation):
    sizes, spacings = set(), []
    for seed in SEEDS:
        s = make(seed, randomisation=randomisation)
        assert isinstance(s, CardiacSample)
        assert s.image.dtype == np.float32 and s.image.ndim == 2
        assert np.all(np.isfinite(s.image)) and s.image.min() >= 0 and s.image.max() > 0
        assert s.labels.dtype == np.uint8 and s.labels.shape == s.image.shape
        assert set(np.unique(s.labels)) <= set(LABELS)
        assert 160 <= s.image.shape[0] <= 400 and 160 <= s.image.shape[1] <= 400
        assert s.spacing_xy.shape == (2,) and np.all((s.spacing_xy >= 0.59) & (s.spacing_xy <= 1.81 * 1.15))
        assert set(s.landmarks) == keys
        for p in s.landmarks.values():
            assert p.shape == (2,) and p.dtype == np.float64
            assert np.all(np.isnan(p)) or in_image(p, s.image.shape)
        sizes.add(s.image.shape)
        spacings.append(s.spacing_xy[0])
    assert len(sizes) > 4 and np.ptp(spacings) > 0.3  # the resampling path sees varied grids


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("randomisation", ["train", "wide"])
def test_rvi_points_sit_where_rv_blood_meets_the_lv_epicardium(seed, randomisation):
    s = make_sax_slice(seed, level=0.15 + 0.05 * seed, randomisation=randomisation)
    assert s.meta["rv_present"]
    lv_region = np.isin(s.labels, (LV, MYO)).astype(np.uint8)
    radius = max(3.0, 3.5 / float(s.spacing_xy.min()))  # 3 px or 3.5 mm
    for key in ("RVI-1", "RVI-2"):
        p = s.landmarks[key]
        near = neighbourhood(s.labels, p, radius)
        assert RV in near and MYO in near, (key, near)
        # On the epicardial boundary: both LV (myocardium) and non-LV pixels within 1.5 px.
        assert set(neighbourhood(lv_region, p, 1.5)) == {0, 1}, key


@pytest.mark.parametrize("seed", SEEDS)
def test_lv_centre_is_inside_the_cavity_at_its_centroid(seed):
    s = make_sax_slice(seed, randomisation="train")
    x, y = s.landmarks["LVC"]
    assert s.labels[int(round(y)), int(round(x))] == LV
    ys, xs = np.nonzero(s.labels == LV)
    assert np.hypot(xs.mean() - x, ys.mean() - y) < 0.75


def test_sax_display_convention_anterior_up_rv_on_image_left():
    for seed in SEEDS:
        s = make_sax_slice(seed, level=0.3, randomisation="none")
        lvc, rvi1, rvi2 = s.landmarks["LVC"], s.landmarks["RVI-1"], s.landmarks["RVI-2"]
        assert rvi1[1] < lvc[1] < rvi2[1]  # anterior insertion above, inferior below
        rv_x = np.nonzero(s.labels == RV)[1].mean()
        assert rv_x < lvc[0] - 10  # RV on the image left of the LV
        assert s.meta["rotation_deg"] == 0.0 and s.image.shape == (256, 256)


@pytest.mark.parametrize("seed", SEEDS)
def test_base_to_apex_rv_vanishes_and_lv_shrinks(seed):
    base = make_sax_slice(seed, level=0.0, randomisation="none")
    apex = make_sax_slice(seed, level=1.0, randomisation="none")
    assert np.all(np.isfinite(base.points(["RVI-1", "RVI-2", "LVC"])))
    assert np.all(np.isnan(apex.landmarks["RVI-1"])) and np.all(np.isnan(apex.landmarks["RVI-2"]))
    assert np.all(np.isfinite(apex.landmarks["LVC"]))
    assert (apex.labels == LV).sum() < 0.4 * (base.labels == LV).sum()
    assert (base.meta["lvc_name"], apex.meta["lvc_name"]) == ("BCA", "ACA")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("view", ["4ch", "2ch"])
def test_mv_hinges_sit_at_the_lv_la_junction(seed, view):
    s = make_lax_slice(seed, view=view, phase=0.1 * seed, randomisation="train")
    assert s.meta["lax_view"] == view
    for key in ("MV-1", "MV-2"):
        near = neighbourhood(s.labels, s.landmarks[key], 4.0)
        assert {LV, MYO, LA} <= set(near), (key, near)


def test_mv_identity_follows_anatomy():
    for seed in SEEDS:
        s = make_lax_slice(seed, view="4ch", randomisation="none")
        mv1, mv2 = s.landmarks["MV-1"], s.landmarks["MV-2"]
        rv_x = np.nonzero(s.labels == RV)[1].mean()
        assert rv_x < mv1[0] < mv2[0]  # MV-1 is the septal hinge, on the RV side
        assert s.meta["mv_names"] == {"MV-1": "septal", "MV-2": "lateral"}
        # Rotated scenes keep the identity: MV-1 stays on the septal (RV) side of the chord.
        r = make_lax_slice(seed, view="4ch", randomisation="train")
        a, b = r.landmarks["MV-1"], r.landmarks["MV-2"]
        rv = np.argwhere(r.labels == RV)[:, ::-1].mean(axis=0)
        la = np.argwhere(r.labels == LA)[:, ::-1].mean(axis=0)
        # The RV lies on MV-1's side of the perpendicular bisector of the annulus.
        assert np.dot(rv - (a + b) / 2, a - b) > 0
        assert np.linalg.norm(la - a) > 2  # sanity: distinct structures


def test_cine_motion_contracts_lv_and_moves_annulus_toward_apex():
    cine = make_cardiac_cine(3, view="lax", lax_view="4ch", n_frames=10, randomisation="none")
    assert isinstance(cine, CardiacCine)
    es = int(np.argmin([(f == LV).sum() for f in cine.labels[:, 0]]))
    area = [(cine.labels[t, 0] == LV).sum() for t in (0, es)]
    assert area[1] < 0.8 * area[0]
    mv_mid = (cine.landmarks["MV-1"][:, 0] + cine.landmarks["MV-2"][:, 0]) / 2
    descent_mm = (mv_mid[es, 1] - mv_mid[0, 1]) * cine.spacing[1]  # canonical pose: apex is down
    assert 6.0 < descent_mm < 20.0
    sax = make_cardiac_cine(3, view="sax", n_frames=10, n_slices=3, randomisation="none")
    mid = [(sax.labels[t, 1] == LV).sum() for t in range(10)]
    myo = [(sax.labels[t, 1] == MYO).sum() for t in range(10)]
    t_es = int(np.argmin(mid))
    assert mid[t_es] < 0.75 * mid[0] and myo[t_es] > 0.9 * myo[0]  # cavity shrinks, wall thickens


def test_sax_cine_stack_shapes_names_and_geometry():
    cine = make_cardiac_cine(5, view="sax", n_frames=3, n_slices=6, size=(192, 224), randomisation="train")
    t, z = 3, 6
    assert cine.frames.shape == (t, z, 192, 224) and cine.frames.dtype == np.float32
    assert cine.labels.shape == cine.frames.shape
    assert set(cine.landmarks) == {"RVI-1", "RVI-2", "LVC", "BCA", "ACA"}
    assert all(v.shape == (t, z, 2) for v in cine.landmarks.values())
    bca, aca = cine.landmarks["BCA"], cine.landmarks["ACA"]
    assert np.all(np.isfinite(bca[:, 0])) and np.all(np.isnan(bca[:, 1:]))
    assert np.all(np.isfinite(aca[:, -1])) and np.all(np.isnan(aca[:, :-1]))
    assert np.all(np.isnan(cine.landmarks["RVI-1"][:, -1]))  # no RV at the apex
    areas = [(cine.labels[0, k] == LV).sum() for k in range(z)]
    assert areas[0] > areas[-1] and np.all(np.diff(areas[1:]) < 0)
    # Geometry: orthonormal, slices stacked from base toward an apex that points
    # left, anterior and inferior; the RV lies on the patient's right of the LV.
    g = cine.geometry
    assert isinstance(g, Geometry) and np.allclose(g.direction.T @ g.direction, np.eye(3), atol=1e-9)
    ras_bca = g.pixel_to_ras([[*bca[0, 0], 0]])[0]
    ras_aca = g.pixel_to_ras([[*aca[0, -1], z - 1]])[0]
    long_axis = ras_aca - ras_bca
    assert np.dot(long_axis / np.linalg.norm(long_axis), np.array([-1, 1, -1]) / np.sqrt(3)) > 0.6
    rv = np.argwhere(cine.labels[0, 1] == RV)[:, ::-1].mean(axis=0)
    ras_rv = g.pixel_to_ras([[*rv, 1]])[0]
    ras_lv = g.pixel_to_ras([[*cine.landmarks["LVC"][0, 1], 1]])[0]
    assert ras_rv[0] > ras_lv[0] + 10  # RAS x grows toward the patient's right


def test_single_slice_cine_and_lv_centre_names():
    cine = make_cardiac_cine(2, view="lax", n_frames=2, size=(64, 80))
    assert cine.frames.shape == (2, 1, 64, 80) and set(cine.landmarks) == {"MV-1", "MV-2"}
    assert cine.meta["lax_view"] in ("4ch", "2ch")
    assert [lv_centre_name(v) for v in (0.0, 0.34, 0.66, 1.0)] == ["BCA", "LVC", "LVC", "ACA"]


@pytest.mark.parametrize("call,message", [
    (lambda: make_sax_slice(0, randomisation="extreme"), "randomisation"),
    (lambda: make_sax_slice(0, level=1.5), "level"),
    (lambda: make_lax_slice(0, view="3ch"), "view"),
    (lambda: make_cardiac_cine(0, view="lax", n_slices=3), "one slice"),
    (lambda: make_cardiac_cine(0, n_frames=0), "n_frames"),
    (lambda: make_sax_slice("seed"), "seed"),
])
def test_cardiac_bad_arguments_are_reported(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ------------------------------------------------------------- endoscopic ---
@pytest.mark.parametrize("domain", ["sim", "intraop"])
def test_suture_frame_deterministic_shapes_and_ranges(domain):
    a = make_suture_frame(4, domain=domain)
    b = make_suture_frame(4, domain=domain)
    c = make_suture_frame(5, domain=domain)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(a.image, c.image)
    assert isinstance(a, SutureSample)
    assert a.image.shape == (288, 512, 3) and a.image.dtype == np.float32
    assert a.image.min() >= 0.0 and a.image.max() <= 1.0
    assert a.points.dtype == np.float32 and a.points.ndim == 2 and a.points.shape[1] == 2
    assert a.labels.shape == (288, 512) and a.labels.dtype == np.uint8
    assert 0 <= len(a.points) <= 15


@pytest.mark.parametrize("n", [0, 1, 2, 7, 15])
@pytest.mark.parametrize("domain,randomisation", [("sim", "train"), ("intraop", "train"), ("intraop", "wide"),
                                                  ("sim", "none")])
def test_suture_entry_points_lie_on_tissue_at_a_thread_end(n, domain, randomisation):
    s = make_suture_frame(100 + n, n_sutures=n, domain=domain, randomisation=randomisation)
    h, w = s.labels.shape
    assert s.points.shape == (n, 2)
    assert np.all((s.points >= 0) & (s.points <= [w - 1, h - 1]))
    if n > 1:
        d = np.linalg.norm(s.points[:, None] - s.points[None], axis=2)
        assert d[np.triu_indices(n, 1)].min() >= 7.0
    for i, p in enumerate(s.points):
        thread = s.meta["threads"][s.meta["point_thread"][i]]
        width = s.meta["thread_width_px"][s.meta["point_thread"][i]]
        np.testing.assert_allclose(thread[0], p, atol=1e-4)  # the thread starts at the entry point
        assert 3 in neighbourhood(s.labels, p, 1.0)  # thread drawn there
        assert 1 in neighbourhood(s.labels, p, width / 2 + 3.0)  # annulus tissue right beside it
        # Just beyond the end, opposite to the thread, there is tissue, not thread.
        direction = thread[1] - thread[0]
        beyond = p - direction / np.linalg.norm(direction) * (width / 2 + 3.0)
        bx, by = int(round(beyond[0])), int(round(beyond[1]))
        if 0 <= bx < w and 0 <= by < h:
            assert s.labels[by, bx] in (1, 2)


def test_suture_domains_differ_in_colour():
    def redness(domain):  # red chromaticity of the tissue, averaged over a few frames
        values = []
        for seed in range(4):
            s = make_suture_frame(seed, domain=domain)
            tissue = s.image[np.isin(s.labels, (1, 2))]
            values.append(np.mean(tissue[:, 0] / (tissue.sum(axis=1) + 1e-6)))
        return np.mean(values)
    assert redness("intraop") > redness("sim") + 0.03


def test_suture_video_moves_points_consistently():
    clip = make_suture_video(7, 6, n_sutures=8, domain="intraop")
    assert len(clip) == 6 and all(f.image.shape == (288, 512, 3) for f in clip)
    first = dict(zip(clip[0].meta["point_ids"], clip[0].points))
    assert len(first) == 8
    for prev, cur in zip(clip, clip[1:]):
        a = dict(zip(prev.meta["point_ids"], prev.points))
        b = dict(zip(cur.meta["point_ids"], cur.points))
        common = sorted(set(a) & set(b))
        assert common
        steps = np.array([np.linalg.norm(a[k] - b[k]) for k in common])
        assert steps.max() < 25.0  # slow camera: small, smooth motion
    last = dict(zip(clip[-1].meta["point_ids"], clip[-1].points))
    moved = [np.linalg.norm(first[k] - last[k]) for k in set(first) & set(last)]
    assert max(moved) > 0.5


@pytest.mark.parametrize("kwargs,message", [
    ({"n_sutures": 16}, "n_sutures"),
    ({"domain": "cadaver"}, "domain"),
    ({"randomisation": "max"}, "randomisation"),
    ({"size": (10, 10)}, "size"),
])
def test_suture_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_suture_frame(0, **kwargs)
