"""Tests of heatmap_landmarks.heatmaps: encoding, contour/suture decoding, identities."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.cardiac.decode import assign_identities, decide_pair, decode_tethered
from heatmap_landmarks.cardiac.names import lv_centre_channel
from heatmap_landmarks.heatmaps import (
    decode_contours,
    decode_per_channel,
    default_sigma2,
    encode_heatmap,
    encode_heatmaps_per_channel,
    smooth_over_time,
)
from heatmap_landmarks.sutures.decode import blob_centroids, cut_large_blobs, decode_sutures, label_blobs, open_mask, otsu_threshold

NAN = float("nan")
H, W = 48, 64


def nearest_errors(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For every true point, the distance to the closest found point (px)."""
    d = np.hypot(*(np.asarray(found, float)[:, None, :] - np.asarray(truth, float)[None]).transpose(2, 0, 1))
    return d.min(axis=0)


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("n, expected", [(0, 5.0), (1, 7.0), (2, 5.0), (3, 5.0), (15, 5.0)])
def test_default_sigma2(n, expected):
    assert default_sigma2(n) == expected


@pytest.mark.parametrize(
    "points, sigma2_used",
    [
        ([[20.0, 10.0]], 7.0),  # one landmark -> 7 px^2
        ([[20.0, 10.0], [40.0, 30.0], [5.0, 40.0]], 5.0),  # several -> 5 px^2
        ([[20.0, 10.0], [NAN, NAN]], 5.0),  # absent rows still count: the width is fixed per task
    ],
)
def test_encode_default_width_and_peak(points, sigma2_used):
    h = encode_heatmap(points, (H, W))
    assert h.dtype == np.float32 and h.shape == (H, W)
    assert h[10, 20] == 1.0
    # one pixel right of the peak: exp(-1 / (2 sigma^2))
    assert h[10, 21] == pytest.approx(math.exp(-1.0 / (2 * sigma2_used)), rel=1e-6)


@pytest.mark.parametrize(
    "points",
    [
        [[10.0, 10.0]],
        [[10.3, 7.8], [30.6, 20.1]],
        [[0.0, 0.0], [W - 1.0, H - 1.0]],
        [[-2.0, 5.0]],  # outside: partial Gaussian
        [[20.0, 20.0], [21.0, 20.0]],  # overlapping supports
    ],
)
def test_encode_values_in_unit_interval(points):
    h = encode_heatmap(points, (H, W))
    assert h.min() >= 0.0 and h.max() <= 1.0


def test_encode_truncation_and_subpixel_symmetry():
    sigma2 = 4.0  # sigma 2 px, truncated at 3 sigma = 6 px
    h = encode_heatmap([[20.5, 20.0]], (H, W), sigma2=sigma2)
    # sub-pixel: pixels 20 and 21 are equidistant from x = 20.5
    assert h[20, 20] == h[20, 21] == pytest.approx(math.exp(-0.25 / 8.0), rel=1e-6)
    assert h[20, 26] > 0  # 5.5 px away
    assert h[20, 27] == 0  # 6.5 px away, beyond the truncation radius
    assert h[20, 14] == 0 and h[20, 15] > 0


def test_encode_max_combination_not_sum():
    a = encode_heatmap([[20.0, 20.0]], (H, W), sigma2=5.0)
    b = encode_heatmap([[23.0, 20.0]], (H, W), sigma2=5.0)
    both = encode_heatmap([[20.0, 20.0], [23.0, 20.0]], (H, W), sigma2=5.0)
    np.testing.assert_array_equal(both, np.maximum(a, b))
    # the peaks stay exactly on the points
    assert both[20, 20] == 1.0 and both[20, 23] == 1.0 and both[20, 21] < 1.0


@pytest.mark.parametrize("mode", ["warn", "raise"])
def test_encode_check_separation(mode):
    close = [[20.0, 20.0], [30.0, 20.0]]  # 10 px < 2 * 3 * sqrt(5) = 13.4 px
    far = [[10.0, 20.0], [30.0, 20.0]]  # 20 px
    encode_heatmap(far, (H, W), check_separation=mode)  # no complaint
    if mode == "warn":
        with pytest.warns(UserWarning, match="max-combined"):
            encode_heatmap(close, (H, W), check_separation=mode)
    else:
        with pytest.raises(InputError, match="10.00 px apart"):
            encode_heatmap(close, (H, W), check_separation=mode)
    encode_heatmap(close, (H, W))  # default: allowed


def test_encode_nan_and_outside_points():
    assert encode_heatmap([[NAN, NAN]], (H, W)).max() == 0.0
    assert encode_heatmap(np.zeros((0, 2)), (H, W)).max() == 0.0
    assert encode_heatmap([[-100.0, 5.0]], (H, W)).max() == 0.0
    partial = encode_heatmap([[-1.0, 5.0]], (H, W), sigma2=7.0)
    assert partial[5, 0] == pytest.approx(math.exp(-1.0 / 14.0), rel=1e-6)
    # half-NaN rows are absent, not half-present
    assert encode_heatmap([[5.0, NAN]], (H, W)).max() == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(points=[1.0, 2.0], shape=(4, 4)), "shape \\(N, 2\\)"),
        (dict(points=[[1.0, np.inf]], shape=(4, 4)), "infinite"),
        (dict(points=[[1.0, 1.0]], shape=(0, 4)), "positive"),
        (dict(points=[[1.0, 1.0]], shape=(4, 4), sigma2=0.0), "sigma2"),
        (dict(points=[[1.0, 1.0]], shape=(4, 4), check_separation="maybe"), "check_separation"),
    ],
)
def test_encode_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        encode_heatmap(**kwargs)


def test_encode_per_channel():
    pts = [[10.0, 12.0], [NAN, NAN], [40.5, 30.25]]
    maps = encode_heatmaps_per_channel(pts, (H, W))
    assert maps.shape == (3, H, W) and maps.dtype == np.float32
    assert maps[1].max() == 0.0
    np.testing.assert_array_equal(maps[0], encode_heatmap([pts[0]], (H, W), sigma2=7.0))
    np.testing.assert_array_equal(maps[2], encode_heatmap([pts[2]], (H, W), sigma2=7.0))


# --------------------------------------------------------------------------- contour decoding

ROUND_TRIP_CASES = [
    ("single integer", [[20.0, 15.0]]),
    ("single sub-pixel", [[20.37, 15.81]]),
    ("three sub-pixel", [[12.2, 10.7], [40.5, 12.25], [30.9, 35.1]]),
    ("near left/bottom border", [[1.3, H - 2.2]]),
    ("near right/top border", [[W - 1.6, 0.8]]),
    ("on the corner pixel", [[0.0, 0.0]]),
    ("just outside the image", [[-0.4, 20.0]]),
    ("border and interior", [[1.3, H - 2.2], [30.45, 20.6], [W - 2.7, 3.1]]),
]


@pytest.mark.parametrize("name, points", ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_contour_round_trip_gaussian_fit(name, points):
    h = encode_heatmap(points, (H, W))
    found, conf = decode_contours(h)
    assert found.dtype == np.float32 and conf.dtype == np.float32
    assert len(found) == len(points)
    # the log-parabola fit is exact for Gaussian blobs, also where the border cuts them
    assert nearest_errors(found, points).max() <= 0.01


@pytest.mark.parametrize("points", [[[20.37, 15.81]], [[12.2, 10.7], [40.5, 12.25], [30.9, 35.1]]])
def test_contour_round_trip_centroid_interior(points):
    found, _ = decode_contours(encode_heatmap(points, (H, W)), method="centroid")
    assert nearest_errors(found, points).max() <= 0.1


def test_centroid_is_biased_at_the_border_gaussian_fit_is_not():
    """Why the default is the Gaussian fit: a centroid of a cut blob is pulled inwards."""
    truth = [[0.6, 20.0]]
    h = encode_heatmap(truth, (H, W))
    centroid_err = nearest_errors(decode_contours(h, method="centroid")[0], truth)[0]
    gaussian_err = nearest_errors(decode_contours(h, method="gaussian")[0], truth)[0]
    assert centroid_err > 0.3
    assert gaussian_err < 0.01


def test_contour_decoding_is_subpixel_not_argmax():
    truth = [[25.45, 18.4]]  # brightest pixel is (25, 18), 0.6 px away
    found, _ = decode_contours(encode_heatmap(truth, (H, W)))
    assert found[0] == pytest.approx(truth[0], abs=0.01)


@pytest.mark.parametrize("method", ["gaussian", "centroid"])
def test_contour_decoding_noise_robust(method):
    rng = np.random.default_rng(7)
    truth = np.array([[12.3, 10.6], [44.8, 14.2], [28.1, 36.9]])
    h = np.clip(encode_heatmap(truth, (H, W)) + rng.normal(0.0, 0.05, (H, W)), 0.0, 1.0)
    found, _ = decode_contours(h, max_points=3)
    assert len(found) == 3
    assert nearest_errors(found, truth).max() <= 0.5


def test_contour_saturated_blob_falls_back_gracefully():
    truth = [[30.3, 20.7]]
    flat_top = np.minimum(3.0 * encode_heatmap(truth, (H, W)), 1.0)  # a plateau of ones
    found, conf = decode_contours(flat_top)
    assert conf[0] == 1.0
    assert nearest_errors(found, truth)[0] <= 0.2


def test_contour_confidence_ordering_and_filters():
    peaks = {(10.0, 10.0): 0.3, (30.0, 30.0): 0.9, (50.0, 12.0): 0.6}
    h = np.zeros((H, W), np.float32)
    for p, peak in peaks.items():
        h = np.maximum(h, peak * encode_heatmap([p], (H, W)))
    # absolute level: all three blobs, most confident first
    pts, conf = decode_contours(h, level=0.1, relative=False)
    assert pts.round(3).tolist() == [[30.0, 30.0], [50.0, 12.0], [10.0, 10.0]]
    assert conf.tolist() == pytest.approx([0.9, 0.6, 0.3], abs=1e-6)
    # relative level 0.5 of the max 0.9 = 0.45: the 0.3 blob is not even thresholded
    assert len(decode_contours(h)[0]) == 2
    assert len(decode_contours(h, level=0.1, relative=False, max_points=1)[0]) == 1
    assert len(decode_contours(h, level=0.1, relative=False, min_confidence=0.5)[0]) == 2


def test_contour_empty_and_speckle():
    pts, conf = decode_contours(np.zeros((H, W)))
    assert pts.shape == (0, 2) and conf.shape == (0,)
    speck = np.zeros((H, W))
    speck[5, 5] = 1.0  # one hot pixel: below min_area
    assert decode_contours(speck)[0].shape == (0, 2)
    assert decode_contours(speck, min_area=1)[0].tolist() == [[5.0, 5.0]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(heatmap=np.zeros((2, 3, 4))), "2-D"),
        (dict(heatmap=np.full((4, 4), np.nan)), "NaN"),
        (dict(heatmap=np.zeros((4, 4)), level=1.5), "level"),
        (dict(heatmap=np.zeros((4, 4)), method="argmax"), "method"),
    ],
)
def test_contour_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        decode_contours(**kwargs)


def test_decode_per_channel_nan_and_confidence():
    truth = np.array([[10.25, 12.5], [NAN, NAN], [40.5, 30.75], [20.0, 20.0]])
    maps = encode_heatmaps_per_channel(truth, (H, W))
    maps[3] *= 0.05  # too faint: below min_confidence 0.1
    pts, conf = decode_per_channel(maps)
    assert pts.shape == (4, 2) and conf.shape == (4,)
    np.testing.assert_allclose(pts[[0, 2]], truth[[0, 2]], atol=0.01)
    assert np.isnan(pts[1]).all() and conf[1] == 0.0
    assert np.isnan(pts[3]).all() and conf[3] == pytest.approx(0.05)
    assert conf[0] == pytest.approx(math.exp(-(0.25**2 + 0.5**2) / 14.0), rel=1e-5)
    # a lower floor accepts the faint channel
    pts_low, _ = decode_per_channel(maps, min_confidence=0.01)
    np.testing.assert_allclose(pts_low[3], [20.0, 20.0], atol=0.01)


# --------------------------------------------------------------------------- identities

# Standard SAX display: anterior up (smaller y), patient left = image right, RV on the image left.
LVC, RVI1, RVI2 = [60.0, 80.0], [40.0, 58.0], [38.0, 102.0]
SAX_NAMES = ["RVI-1", "RVI-2", "LVC"]
IDENTITY_CASES = [
    ("sax standard", [LVC, RVI1, RVI2], [0.9, 0.8, 0.7], SAX_NAMES, {}, [RVI1, RVI2, LVC]),
    ("sax shuffled", [RVI2, LVC, RVI1], [0.5, 0.5, 0.5], SAX_NAMES, {}, [RVI1, RVI2, LVC]),
    (
        "sax anterior pointing down",
        [LVC, RVI1, RVI2],
        [0.9, 0.8, 0.7],
        SAX_NAMES,
        dict(anterior_direction=(0, 1)),
        [RVI2, RVI1, LVC],
    ),
    (
        "sax extra weak detection ignored",
        [LVC, [5.0, 5.0], RVI1, RVI2],
        [0.9, 0.1, 0.8, 0.7],
        SAX_NAMES,
        {},
        [RVI1, RVI2, LVC],
    ),
    ("sax too few -> NaN", [LVC, RVI1], [0.9, 0.8], SAX_NAMES, {}, [[NAN, NAN]] * 3),
    ("lax standard", [[30.0, 50.0], [10.0, 52.0]], [0.9, 0.8], ["MV-1", "MV-2"], {}, [[10.0, 52.0], [30.0, 50.0]]),
    (
        "lax lateral reversed",
        [[30.0, 50.0], [10.0, 52.0]],
        [0.9, 0.8],
        ["MV-1", "MV-2"],
        dict(lateral_direction=(-1, 0)),
        [[30.0, 50.0], [10.0, 52.0]],
    ),
    ("lax single -> NaN", [[30.0, 50.0]], [0.9], ["MV-1", "MV-2"], {}, [[NAN, NAN]] * 2),
    (
        "reference resolves one detection",
        [[59.0, 79.0]],
        [0.9],
        SAX_NAMES,
        dict(reference={"LVC": (60.0, 80.0), "RVI-1": (40.0, 58.0)}),
        [[NAN, NAN], [NAN, NAN], [59.0, 79.0]],
    ),
    (
        "reference array, two detections",
        [[41.0, 59.0], [37.0, 100.0]],
        [0.7, 0.8],
        SAX_NAMES,
        dict(reference=[RVI1, RVI2, LVC]),
        [[41.0, 59.0], [37.0, 100.0], [NAN, NAN]],
    ),
    ("nothing detected", np.zeros((0, 2)), [], SAX_NAMES, {}, [[NAN, NAN]] * 3),
]


@pytest.mark.parametrize(
    "name, points, confidence, names, kwargs, expected", IDENTITY_CASES, ids=[c[0] for c in IDENTITY_CASES]
)
def test_assign_identities(name, points, confidence, names, kwargs, expected):
    pts, conf = assign_identities(points, confidence, names, **kwargs)
    assert pts.shape == (len(names), 2) and conf.shape == (len(names),)
    np.testing.assert_array_equal(pts, np.asarray(expected, np.float32))
    assert ((conf > 0) == ~np.isnan(pts[:, 0])).all()


def test_assign_identities_carries_confidence():
    _, conf = assign_identities([LVC, RVI1, RVI2], [0.9, 0.8, 0.7], SAX_NAMES)
    assert conf.tolist() == pytest.approx([0.8, 0.7, 0.9])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(names=["A", "B", "C", "D"]), "rule='auto'"),
        (dict(names=SAX_NAMES, rule="lax"), "rule 'lax'"),
        (dict(names=SAX_NAMES, anterior_direction=(0, 0)), "anterior_direction"),
        (dict(names=SAX_NAMES, reference={"XYZ": (1, 1)}), "not in names"),
    ],
)
def test_assign_identities_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        assign_identities([LVC, RVI1, RVI2], [0.9, 0.8, 0.7], **kwargs)


# --------------------------------------------------------------------------- suture decoding


def test_otsu_matches_opencv_on_uint8():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(60, 20, 600), rng.normal(180, 25, 300)])
    img = np.clip(values, 0, 255).astype(np.uint8).reshape(30, 30)
    expected, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    assert otsu_threshold(img) == expected


def test_otsu_hand_computed():
    # values 0,0,1,1,4: splits after 0 -> between = 2*3*(0 - 2)^2 = 24;
    # after 1 -> 4*1*(0.5 - 4)^2 = 49 -> background {0, 1}, threshold 1
    assert otsu_threshold([0, 0, 1, 1, 4]) == 1.0
    assert otsu_threshold(np.full((3, 3), 0.25)) == 0.25  # constant: empty foreground


@pytest.mark.parametrize("kernel, speck_survives", [(0, True), (1, True), (3, False), (5, False)])
def test_open_mask_kernel(kernel, speck_survives):
    m = np.zeros((20, 20), bool)
    m[3:13, 3:13] = True  # 10x10 square survives every opening
    m[17, 17] = True
    opened = open_mask(m, kernel)
    assert opened.dtype == bool
    assert opened[8, 8]
    assert bool(opened[17, 17]) == speck_survives


@pytest.mark.parametrize(
    "blob, expected_parts",
    [
        # wider than tall -> vertical cut at x = centroid
        ((slice(10, 14), slice(4, 16)), [(slice(10, 14), slice(4, 10)), (slice(10, 14), slice(10, 16))]),
        # taller than wide -> horizontal cut at y = centroid
        ((slice(2, 18), slice(20, 24)), [(slice(2, 10), slice(20, 24)), (slice(10, 18), slice(20, 24))]),
    ],
)
def test_cut_large_blobs_direction(blob, expected_parts):
    labels = np.zeros((20, 30), np.int32)
    labels[0:2, 27:29] = 1  # small blob: area 4, never cut
    labels[blob] = 2  # area 48 or 64 > mean
    cut = cut_large_blobs(labels)
    assert cut.max() == 3
    for part in expected_parts:
        values = np.unique(cut[part])
        assert len(values) == 1 and values[0] > 0  # each side is one whole new blob
    assert cut[expected_parts[0]][0, 0] != cut[expected_parts[1]][0, 0]


@pytest.mark.parametrize("n_blobs", [1, 3])
def test_cut_large_blobs_equal_areas_not_cut(n_blobs):
    labels = np.zeros((10, 40), np.int32)
    for k in range(n_blobs):
        labels[2:6, 10 * k : 10 * k + 6] = k + 1
    assert cut_large_blobs(labels).max() == n_blobs


def test_label_blobs_and_centroids():
    m = np.zeros((8, 8), bool)
    m[1:3, 1:3] = True
    m[6, 6] = True
    labels = label_blobs(m)
    assert labels.max() == 2
    assert label_blobs(m, min_area=2).max() == 1
    heat = np.zeros((8, 8))
    heat[1, 1:3] = [1.0, 3.0]  # weighted x = (1*1 + 2*3) / 4 = 1.75 on row 1
    pts, conf = blob_centroids(labels, heat)
    assert pts.tolist() == [[1.75, 1.0], [6.0, 6.0]]
    assert conf.tolist() == [3.0, 0.0]
    plain, _ = blob_centroids(labels, heat, weighted=False)
    assert plain.tolist() == [[1.5, 1.5], [6.0, 6.0]]
    # background 1: weights (0, 2) -> x = 2 on row 1
    shifted, _ = blob_centroids(labels, heat, background=1.0)
    assert shifted[0].tolist() == [2.0, 1.0]


def touching_pair_heatmap():
    truth = np.array([[20.0, 20.0], [25.5, 21.0], [60.0, 30.0], [85.0, 12.0]])
    return truth, encode_heatmap(truth, (H, 96))


def test_decode_sutures_cuts_touching_blobs():
    truth, h = touching_pair_heatmap()
    pts, conf = decode_sutures(h)
    assert len(pts) == 4
    # the cut removes a sliver of each Gaussian: a small bias away from the cut line
    assert nearest_errors(pts, truth).max() <= 0.2
    merged, _ = decode_sutures(h, cut=False)
    assert len(merged) == 3  # the touching pair is one blob without cutting


def test_decode_sutures_speckle_removed_by_opening():
    truth = np.array([[15.3, 12.6], [48.2, 30.1], [70.7, 8.4]])
    h = encode_heatmap(truth, (H, 96), sigma2=5.0)
    rng = np.random.default_rng(11)
    rows, cols = rng.integers(0, H, 12), rng.integers(0, 96, 12)
    h[rows, cols] = np.maximum(h[rows, cols], 0.9)  # isolated salt pixels
    clean, _ = decode_sutures(h, cut_ratio=1.5)
    assert len(clean) == 3
    assert nearest_errors(clean, truth).max() <= 0.5
    noisy, _ = decode_sutures(h, opening_kernel=0, cut=False)
    assert len(noisy) > 3


def test_decode_sutures_many_points_and_ordering():
    truth = np.array([[x + 0.3 * (k % 3), y + 0.25 * (k % 4)] for k, (x, y) in enumerate(
        [(x, y) for x in range(10, 96, 16) for y in (10, 34)]
    )])
    peaks = np.linspace(1.0, 0.5, len(truth))
    h = np.zeros((H, 96), np.float32)
    for p, peak in zip(truth, peaks):
        h = np.maximum(h, peak * encode_heatmap([p], (H, 96), sigma2=5.0))
    pts, conf = decode_sutures(h, threshold=0.2, cut_ratio=1.5)
    assert len(pts) == len(truth) == 12
    # centroids weighted by (heatmap - threshold): pixel-grid bias stays small
    assert nearest_errors(pts, truth).max() <= 0.05
    assert (np.diff(conf) <= 0).all()
    assert conf[0] == pytest.approx(peaks.max(), abs=0.02)


@pytest.mark.parametrize("heatmap", [np.zeros((H, 96)), np.full((H, 96), 0.3)])
def test_decode_sutures_zero_points(heatmap):
    pts, conf = decode_sutures(heatmap)
    assert pts.shape == (0, 2) and conf.shape == (0,)
    assert pts.dtype == np.float32


def test_decode_sutures_min_confidence_floor():
    truth, h = touching_pair_heatmap()
    assert len(decode_sutures(0.2 * h, min_confidence=0.3)[0]) == 0
    assert len(decode_sutures(0.2 * h)[0]) == 4  # Otsu alone is scale-free


def test_seed_cut_rule_splits_unequal_blobs_cut_ratio_does_not():
    """The seed's rule (area > mean) also cuts a single blob that is merely brighter."""
    truth = np.array([[20.0, 20.0], [50.0, 20.0], [80.0, 20.0]])
    h = np.maximum(encode_heatmap(truth[:2], (H, 96)), 0.6 * encode_heatmap(truth[2:], (H, 96)))
    seed, _ = decode_sutures(h, threshold=0.3)  # blobs of 37, 37 and 21 px: mean 31.7
    assert len(seed) == 5
    robust, _ = decode_sutures(h, threshold=0.3, cut_ratio=1.25)  # 1.25 x 31.7 = 39.6 px
    assert len(robust) == 3
    assert nearest_errors(robust, truth).max() <= 0.01
    # a merged pair beside two single blobs (37, 72, 37 px: mean 48.7) is still
    # cut at 1.25 (72 > 60.8) but not at 1.5 (72 < 73): the ratio is 2 (k+1) / (k+2)
    _, h_pair = touching_pair_heatmap()
    assert len(decode_sutures(h_pair, cut_ratio=1.25)[0]) == 4
    assert len(decode_sutures(h_pair, cut_ratio=1.5)[0]) == 3


def _blobs(centres_by_channel, shape=(96, 96)):
    """``(C, H, W)`` maps; each channel a max of Gaussians ``[(x, y, peak), ...]``."""
    maps = np.zeros((len(centres_by_channel), *shape), np.float32)
    for c, blobs in enumerate(centres_by_channel):
        for x, y, peak in blobs:
            maps[c] = np.maximum(maps[c], peak * encode_heatmaps_per_channel([[x, y]], shape)[0])
    return maps


def test_decode_tethered_prefers_the_centre_both_insertions_confirm():
    # LV centre channel 2: a vessel at (80, 80) outshines the true centre (30, 30); both insertions near the latter.
    maps = _blobs([[(20.0, 25.0, 0.6)], [(25.0, 42.0, 0.5)], [(30.0, 30.0, 0.7), (80.0, 80.0, 0.9)]])
    free, _ = decode_per_channel(maps)
    assert free[2].round(1).tolist() == [80.0, 80.0]
    pts, conf = decode_tethered(maps, anchor=2, tethered=[0, 1], max_distance=20.0)
    np.testing.assert_allclose(pts, [[20, 25], [25, 42], [30, 30]], atol=0.05)
    np.testing.assert_allclose(conf, [0.6, 0.5, 0.9], atol=0.01)  # reported peaks are the channels' best


def test_decode_tethered_needs_both_insertions_to_move_the_centre():
    # One stray insertion blob near the vessel does not outvote the brighter LV centre.
    maps = _blobs([[(75.0, 80.0, 0.4)], [], [(30.0, 30.0, 0.8), (80.0, 80.0, 0.7)]])
    pts, _ = decode_tethered(maps, anchor=2, tethered=[0, 1], max_distance=20.0)
    assert pts[2].round(1).tolist() == [30.0, 30.0]
    assert np.isnan(pts[0]).all() and np.isnan(pts[1]).all()  # the stray blob is out of reach of the centre


def test_decode_tethered_without_anchor_or_insertions_is_per_channel_decoding():
    for blobs in ([[(20.0, 25.0, 0.6)], [(25.0, 42.0, 0.5)], []],  # no LV centre
                  [[], [], [(30.0, 30.0, 0.7), (80.0, 80.0, 0.9)]]):  # apical slice: no insertions
        maps = _blobs(blobs)
        a, ca = decode_tethered(maps, anchor=2, tethered=[0, 1], max_distance=20.0)
        b, cb = decode_per_channel(maps)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ca, cb)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(anchor=2, tethered=[2], max_distance=5.0), "distinct channels"),
    (dict(anchor=3, tethered=[0], max_distance=5.0), "distinct channels"),
    (dict(anchor=2, tethered=[0], max_distance=0.0), "max_distance"),
    (dict(anchor=2, tethered=[0], max_distance=5.0, candidates=0), "candidates"),
])
def test_decode_tethered_rejects_bad_settings(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        decode_tethered(np.zeros((3, 8, 8), np.float32), **kwargs)


def test_decide_pair_keeps_or_drops_both_members_together():
    pts = np.array([[10, 10], [20, 20], [30, 30], [np.nan, np.nan]], np.float32)
    kept = decide_pair(pts, [0.5, 0.15, 0.9, 0.0], (0, 1), 0.4)
    np.testing.assert_array_equal(kept, pts)
    dropped = decide_pair(pts, [0.35, 0.15, 0.9, 0.0], (0, 1), 0.4)
    assert np.isnan(dropped[:2]).all() and dropped[2].tolist() == [30, 30] and np.isnan(dropped[3]).all()
    assert not np.isnan(pts).any(axis=1)[:3].any()  # the input is not modified
    # A strong peak that was not detected (NaN row) does not keep the other member.
    half = decide_pair(np.array([[np.nan, np.nan], [5, 5]], np.float32), [0.9, 0.3], (0, 1), 0.4)
    assert np.isnan(half).all()
    np.testing.assert_array_equal(decide_pair(pts, [0.01, 0.01, 0.9, 0.0], (1, 0), 0.0), pts)  # 0 = keep all


@pytest.mark.parametrize("args, fragment", [
    (((0, 0), 0.4), "two distinct row indices"),
    (((0, 4), 0.4), "two distinct row indices"),
    (((0, 1, 2), 0.4), "two distinct row indices"),
    (((0, 1), 1.5), "min_pair_confidence"),
    (((0, 1), float("nan")), "min_pair_confidence"),
])
def test_decide_pair_rejects_bad_settings(args, fragment):
    with pytest.raises(InputError, match=fragment):
        decide_pair(np.zeros((3, 2), np.float32), np.zeros(3), *args)


def test_lv_centre_channel():
    assert lv_centre_channel(["RVI-1", "RVI-2", "LVC"]) == 2
    assert lv_centre_channel(["RVI-1", "BCA", "RVI-2"]) == 1


# --------------------------------------------------------------------------- smoothing over time
def _moving_blob(n: int = 9, step=(1.2, -0.5), start=(20.0, 30.0)) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 1, H, W)`` heatmaps of one landmark moving at constant velocity, and its ``(T, 2)`` truth."""
    truth = np.array(start) + np.arange(n)[:, None] * np.array(step)
    maps = np.stack([encode_heatmaps_per_channel([p], (H, W)) for p in truth])
    return maps, truth


@pytest.mark.parametrize("shape", [(7, H, W), (7, 2, H, W)])
def test_smooth_over_time_keeps_shape_dtype_and_range(shape):
    rng = np.random.default_rng(3)
    maps = rng.random(shape)
    out = smooth_over_time(maps, 1.5)
    assert out.shape == shape and out.dtype == np.float32
    assert out.min() >= maps.min() - 1e-6 and out.max() <= maps.max() + 1e-6
    np.testing.assert_allclose(out.mean(axis=0), maps.mean(axis=0), atol=1e-5)  # cyclic: the total is kept


@pytest.mark.parametrize("sigma", [0.7, 1.5])
def test_smooth_over_time_does_not_lag_uniform_motion(sigma):
    maps, truth = _moving_blob()
    out = smooth_over_time(maps, sigma, cyclic=False)
    for t in range(3, 6):  # away from the ends, the neighbours are symmetric
        pts, _ = decode_per_channel(out[t])
        assert np.hypot(*(pts[0] - truth[t])) < 0.15


def test_smooth_over_time_fills_a_frame_that_lost_its_blob():
    maps, truth = _moving_blob()
    maps[4] = 0.0  # the network missed the landmark in one frame
    assert np.isnan(decode_per_channel(maps[4], min_confidence=0.2)[0]).all()
    pts, conf = decode_per_channel(smooth_over_time(maps, 1.0, cyclic=False)[4], min_confidence=0.2)
    assert conf[0] > 0.3 and np.hypot(*(pts[0] - truth[4])) < 0.5


def test_smooth_over_time_cyclic_wraps_round_the_cycle():
    maps = np.zeros((6, 4, 4), np.float32)
    maps[0, 1, 1] = 1.0
    assert smooth_over_time(maps, 1.0, cyclic=True)[5, 1, 1] > 0.2
    assert smooth_over_time(maps, 1.0, cyclic=False)[5, 1, 1] < 1e-3


@pytest.mark.parametrize("heatmaps, sigma", [(np.zeros(5), 1.0), (np.zeros((3, 4, 4)), -1.0),
                                             (np.zeros((3, 4, 4)), float("nan"))])
def test_smooth_over_time_rejects_bad_input(heatmaps, sigma):
    with pytest.raises(ValueError):
        smooth_over_time(heatmaps, sigma)
