"""Tests of heatmap_landmarks.preprocess: exact forward/inverse maps, normalisation, padding."""
from __future__ import annotations

import json

import numpy as np
import pytest

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreprocessTransform,
    normalise_intensity,
    pad_to_multiple,
    prepare_cardiac,
    prepare_suture_frame,
)

SPACINGS = [0.62, 0.75, 1.0, 1.4, 1.56]
SHAPES = [(192, 256), (256, 192), (552, 736), (432, 432), (3, 5)]


def _gaussian(shape, centre_xy, sigma) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.exp(-((xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def _centroid(image: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    w = image.astype(np.float64)
    return np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()


# ---------------------------------------------------------------------------
# points: forward/inverse
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_points_round_trip_and_physical_scale(spacing, shape):
    _, t = prepare_cardiac(np.zeros((1, *shape), np.float32), (spacing, spacing))
    h, w = shape
    rng = np.random.default_rng(0)
    pts = rng.uniform([-0.5, -0.5], [w - 0.5, h - 0.5], size=(20, 2))
    net = t.to_network(pts)
    np.testing.assert_allclose(t.to_original(net), pts, atol=1e-9)
    # the image centre lands on the network centre
    np.testing.assert_allclose(t.to_network([[(w - 1) / 2, (h - 1) / 2]]), [[127.5, 127.5]], atol=1e-9)
    # distances in mm are preserved: network pixels are 1.4 mm
    np.testing.assert_allclose((net[1] - net[0]) * 1.4, (pts[1] - pts[0]) * spacing, atol=1e-9)
    assert t.network_shape == (256, 256) and t.original_shape == shape


def test_anisotropic_spacing_maps_each_axis():
    _, t = prepare_cardiac(np.zeros((1, 200, 300), np.float32), (0.7, 1.3), target_spacing_mm=1.4)
    assert t.scale == pytest.approx((0.5, 1.3 / 1.4))
    p = np.array([[10.0, 20.0], [110.0, 70.0]])
    d = np.diff(t.to_network(p), axis=0)[0] * 1.4
    np.testing.assert_allclose(d, [100 * 0.7, 50 * 1.3], atol=1e-9)


def test_points_keep_float_dtype_and_nan():
    t = PreprocessTransform((10, 10), (20, 20), scale=(2.0, 2.0), offset=(0.5, 0.5))
    p = np.array([[1.0, np.nan]], np.float32)
    out = t.to_network(p)
    assert out.dtype == np.float32 and out[0, 0] == 2.5 and np.isnan(out[0, 1])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        t.to_network([1.0, 2.0, 3.0])


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1)])
def test_degenerate_image_is_a_clear_input_error(shape):
    with pytest.raises(InputError) as err:
        prepare_cardiac(np.ones((1, *shape), np.float32), (1.0, 1.0), source="scan.dcm")
    text = str(err.value)
    assert text.startswith("scan.dcm: ") and f"{shape[1]}x{shape[0]} pixels" in text and "at least 2" in text


@pytest.mark.parametrize("spacing, message", [((0.0, 1.0), "positive"), ((-1.0, 1.0), "positive"),
                                              ((np.nan, 1.0), "positive"), ((1.0,), "two numbers")])
def test_bad_spacing(spacing, message):
    with pytest.raises(InputError, match=message):
        prepare_cardiac(np.ones((1, 8, 8), np.float32), spacing, source="scan.nii.gz")


def test_non_finite_frames_rejected():
    x = np.ones((2, 8, 8), np.float32)
    x[1, 3, 3] = np.nan
    with pytest.raises(InputError, match="scan.nii.gz: .*NaN"):
        prepare_cardiac(x, (1.0, 1.0), source="scan.nii.gz")


# ---------------------------------------------------------------------------
# pixel-centre convention through the real warp
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("spacing", [0.62, 0.75, 1.0, 1.56])
@pytest.mark.parametrize("shape, centre", [((192, 256), (101.3, 77.8)), ((552, 736), (402.6, 251.2)),
                                           ((432, 432), (216.4, 190.7))])
def test_blob_lands_where_the_transform_says(spacing, shape, centre):
    sigma_px = 4.0 * 1.4 / spacing  # ~4 network pixels wide whatever the spacing
    frame = _gaussian(shape, centre, sigma_px)
    net, t = prepare_cardiac(frame[None], (spacing, spacing), percentiles=(0, 100))
    found = t.to_original(_centroid(net[0])[None])[0]
    np.testing.assert_allclose(found, centre, atol=0.05)


@pytest.mark.parametrize("shape", [(192, 256), (191, 255)])
def test_single_bright_pixel_at_network_spacing(shape):
    frame = np.zeros(shape, np.float32)
    frame[60, 70] = 1.0
    net, t = prepare_cardiac(frame[None], (1.4, 1.4), percentiles=(0, 100))
    np.testing.assert_allclose(t.to_original(_centroid(net[0])[None])[0], [70.0, 60.0], atol=1e-3)
    assert np.count_nonzero(net[0]) == (1 if shape[1] % 2 == 0 and shape[0] % 2 == 0 else 4)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("shape", [(192, 256), (552, 736), (432, 432)])
def test_heatmap_back_to_original_grid(spacing, shape):
    _, t = prepare_cardiac(np.zeros((1, *shape), np.float32), (spacing, spacing))
    targets = np.array([[137.3, 120.6], [110.2, 140.9], [128.0, 127.5]])
    heat = np.stack([_gaussian((256, 256), q, 2.5) for q in targets])
    back = t.heatmap_to_original(heat)
    assert back.shape == (3, *shape) and back.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(_centroid(back[c]), t.to_original(targets[c:c + 1])[0], atol=0.1)
    assert t.heatmap_to_original(heat[0]).shape == shape


def test_heatmap_outside_network_grid_is_zero():
    # 0.62 mm x 736 columns -> 326 network columns: the left/right edges were cropped away
    _, t = prepare_cardiac(np.zeros((1, 552, 736), np.float32), (0.62, 0.62))
    back = t.heatmap_to_original(np.ones((256, 256), np.float32))
    assert back[:, 0].max() == 0.0 and back[:, -1].max() == 0.0
    assert back[276, 368] == 1.0
    with pytest.raises(ValueError, match="heatmap must be"):
        t.heatmap_to_original(np.ones((128, 128), np.float32))


# ---------------------------------------------------------------------------
# the cardiac preparation as a whole
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(432, 432), (552, 736)])
def test_fine_image_keeps_the_heart(shape):
    """A 100 mm disk at the centre of a 0.6 mm image is whole inside the 256x256 grid at 1.4 mm."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (np.hypot((xx - (w - 1) / 2) * 0.6, (yy - (h - 1) / 2) * 0.6) <= 50.0).astype(np.float32)
    net, t = prepare_cardiac(disk[None], (0.6, 0.6))
    inside = net[0] > 0.5
    expected_area = np.pi * (50.0 / 1.4) ** 2
    assert abs(inside.sum() - expected_area) / expected_area < 0.02
    np.testing.assert_allclose(_centroid(inside), [127.5, 127.5], atol=0.05)
    rows, cols = np.nonzero(inside)
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < 255 and cols.max() < 255
    assert net.min() >= 0.0 and net.max() <= 1.0


def test_notes_tell_the_user_what_happened():
    _, t = prepare_cardiac(np.zeros((1, 552, 736), np.float32), (0.62, 0.62))
    assert "0.62x0.62 mm -> 1.40x1.40 mm" in t.notes and "736x552 -> 326x244" in t.notes
    assert "cropped width and zero-padded height to 256x256" in t.notes and "anti-aliasing" in t.notes
    _, t = prepare_cardiac(np.zeros((1, 256, 192), np.float32), (1.40625, 1.40625))
    assert "192x256 -> 193x257" in t.notes and "zero-padded width and cropped height" in t.notes
    _, t = prepare_cardiac(np.zeros((1, 200, 150), np.float32), (1.4, 1.4))
    assert t.notes.endswith("zero-padded to 256x256") and "anti-aliasing" not in t.notes


def test_frames_share_one_transform_and_padding_is_zero():
    rng = np.random.default_rng(3)
    frames = rng.uniform(100, 200, (3, 100, 120)).astype(np.float32)
    frames[2] *= 10
    net, t = prepare_cardiac(frames, (1.4, 1.4), per_frame=True)
    for f in range(3):
        single, t1 = prepare_cardiac(frames[f:f + 1], (1.4, 1.4))
        np.testing.assert_allclose(net[f], single[0], atol=1e-6)
        assert t1 == t
    valid = t.valid_mask()
    assert valid.sum() == 100 * 120
    assert net[:, ~valid].max() == 0.0
    assert net[:, valid].mean() == pytest.approx(0.5, abs=0.05)


def test_target_spacing_none_only_pads_or_crops():
    net, t = prepare_cardiac(np.ones((1, 300, 100), np.float32), (0.8, 0.9), target_spacing_mm=None)
    assert t.scale == (1.0, 1.0) and t.offset == (78.0, -22.0)
    assert t.network_spacing_mm == (0.8, 0.9)


def test_transform_dict_round_trip_through_json():
    _, t = prepare_cardiac(np.zeros((1, 192, 256), np.float32), (0.75, 0.8))
    again = PreprocessTransform.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t
    np.testing.assert_array_equal(again.matrix, t.matrix)
    with pytest.raises(ValueError, match="unknown PreprocessTransform keys"):
        PreprocessTransform.from_dict({**t.to_dict(), "rotation": 3})
    with pytest.raises(ValueError, match="positive"):
        PreprocessTransform((4, 4), (4, 4), scale=(0.0, 1.0))


# ---------------------------------------------------------------------------
# intensity normalisation
# ---------------------------------------------------------------------------
def test_normalisation_is_robust_to_outliers():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 100, (2, 64, 64)).astype(np.float32)
    x[0, 5, 5] = 1e6
    x[1, 7, 7] = -1e6
    out = normalise_intensity(x)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert np.median(out) == pytest.approx(0.5, abs=0.02)
    assert out[0, 5, 5] == 1.0 and out[1, 7, 7] == 0.0


def test_constant_image_gives_zeros_without_warnings():
    with np.errstate(all="raise"):
        out = normalise_intensity(np.full((2, 8, 8), 42.0))
    assert out.dtype == np.float32 and not out.any()
    net, _ = prepare_cardiac(np.full((1, 50, 50), 7.0, np.float32), (1.0, 1.0))
    assert not net.any()


def test_sparse_image_falls_back_to_min_max():
    x = np.zeros((100, 100), np.float32)
    x[:5, :5] = 50.0  # 0.25 % of pixels: the 1st and 99th percentiles are both 0
    out = normalise_intensity(x)
    assert out.max() == 1.0 and out[0, 0] == 1.0 and out[50, 50] == 0.0


def test_normalisation_mask_and_per_frame():
    x = np.stack([np.linspace(0, 10, 100), np.linspace(0, 1000, 100)]).reshape(2, 10, 10).astype(np.float32)
    per = normalise_intensity(x, (0, 100), per_frame=True)
    np.testing.assert_allclose(per[0], per[1], atol=1e-6)
    mask = np.ones_like(x, bool)
    mask[1] = False  # only frame 0 sets the range
    masked = normalise_intensity(x, (0, 100), mask=mask)
    np.testing.assert_allclose(masked[0], per[0], atol=1e-6)
    assert (masked[1, 1:] == 1.0).all()
    with pytest.raises(ValueError, match="percentiles"):
        normalise_intensity(x, (50, 10))


# ---------------------------------------------------------------------------
# sutures: padding, never resizing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape, padded_shape", [((500, 281), (512, 288)), ((281, 500), (288, 512)),
                                                 ((288, 512), (288, 512)), ((1, 1), (32, 32)),
                                                 ((500, 281, 3), (512, 288, 3))])
def test_pad_to_multiple(shape, padded_shape):
    image = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + 1
    padded, t = pad_to_multiple(image, 32)
    assert padded.shape == padded_shape and padded.dtype == image.dtype
    np.testing.assert_array_equal(padded[: shape[0], : shape[1]], image)
    assert (padded[shape[0]:] == 0).all() and (padded[:, shape[1]:] == 0).all()
    pts = np.array([[0.0, 0.0], [shape[1] - 1.0, shape[0] - 1.0], [12.25, 0.75]])
    np.testing.assert_array_equal(t.to_network(pts), pts)
    np.testing.assert_array_equal(t.to_original(pts), pts)
    heat = padded if padded.ndim == 2 else padded[..., 0]
    np.testing.assert_array_equal(t.heatmap_to_original(heat), heat[: shape[0], : shape[1]])
    assert t.original_shape == shape[:2] and t.network_shape == padded_shape[:2]


def test_prepare_suture_frame():
    rgb = np.zeros((281, 500, 3), np.float32)
    rgb[...] = IMAGENET_MEAN
    rgb[10, 20] = (1.0, 0.0, 0.0)
    net, t = prepare_suture_frame(rgb)
    assert net.shape == (3, 288, 512) and net.dtype == np.float32
    np.testing.assert_allclose(net[:, 10, 20], (np.array([1.0, 0, 0]) - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-6)
    assert np.abs(net[:, 0, 0]).max() < 1e-6 and not net[:, 281:].any() and not net[:, :, 500:].any()
    assert t.scale == (1.0, 1.0) and t.offset == (0.0, 0.0) and "no resizing" in t.notes


def test_prepare_suture_frame_rejects_8bit_values():
    with pytest.raises(InputError, match=r"frame.png: RGB values span 0\.\.255.*\[0, 1\]"):
        prepare_suture_frame(np.arange(8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3) * (255 / 191), source="frame.png")
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        prepare_suture_frame(np.zeros((8, 8), np.float32))
