"""Tests of the version-2 endoscopic suture phantom and of training on it.

The labelling rules are checked against the rendered label map and distractor
mask (what was drawn), not against the generator's bookkeeping: every labelled
point sits on annulus tissue at the visible end of its own thread, with no
instrument, needle, overlay or text on it; unlabelled thread ends are where
the rules say (a needle half through, an end under an instrument).
"""
from __future__ import annotations

import numpy as np
import pytest

from heatmap_landmarks.phantoms.endoscopic_v2 import (
    ANNULUS,
    DISTRACTOR_NAMES,
    ENDOSCOPE_OVERLAY_BOX,
    INSTRUMENT,
    LOGO_TEXT,
    NEEDLE,
    OVERLAY,
    PRINTED_TEXT,
    THREAD,
    TISSUE,
    SutureSampleV2,
    make_suture_frame_v2,
)
from training.sutures.augment import degrade, zoom
from training.sutures.config import SutureAugmentConfig as AugmentConfig
from training.sutures.data import PhantomSource, RepeatSource, SutureTrainDataset, source_from_spec

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def disc(shape, point, radius):
    """``(H, W)`` bool: pixel centres within ``radius`` px of ``point`` (x, y)."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return (xs - point[0]) ** 2 + (ys - point[1]) ** 2 <= radius ** 2


# ------------------------------------------------------------------ basics ---
@pytest.mark.parametrize("domain", ["intraop", "sim"])
def test_deterministic_per_seed_and_seeds_differ(domain):
    a = make_suture_frame_v2(11, domain=domain)
    b = make_suture_frame_v2(11, domain=domain)
    c = make_suture_frame_v2(12, domain=domain)
    for field in ("image", "points", "labels", "distractors"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert [(tuple(x["xy"]), x["reason"]) for x in a.meta["skipped"]] == \
        [(tuple(x["xy"]), x["reason"]) for x in b.meta["skipped"]]
    assert not np.array_equal(a.image, c.image)
    assert isinstance(a, SutureSampleV2)
    assert a.image.shape == (288, 512, 3) and a.image.dtype == np.float32
    assert 0.0 <= a.image.min() and a.image.max() <= 1.0
    assert a.points.dtype == np.float32 and a.points.ndim == 2 and a.points.shape[1] == 2
    assert a.labels.shape == a.distractors.shape == (288, 512)
    assert a.labels.dtype == a.distractors.dtype == np.uint8
    assert set(np.unique(a.distractors)) <= {0, *DISTRACTOR_NAMES}
    assert a.meta["version"] == 2 and a.meta["domain"] == domain


def test_a_generator_gives_the_same_frame_as_its_seed():
    a = make_suture_frame_v2(np.random.default_rng(5), n_sutures=4)
    b = make_suture_frame_v2(5, n_sutures=4)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.points.shape == (4, 2)


@pytest.mark.parametrize("kwargs,message", [
    ({"n_sutures": 16}, "n_sutures"),
    ({"domain": "cadaver"}, "domain"),
    ({"randomisation": "max"}, "randomisation"),
    ({"size": (16, 64)}, "size"),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_suture_frame_v2(0, **kwargs)


@pytest.mark.parametrize("size", [(72, 128), (144, 256)])
def test_smaller_frames_scale_the_scene(size):
    s = make_suture_frame_v2(3, n_sutures=3, size=size, domain="sim")
    assert s.image.shape == size + (3,) and s.points.shape == (3, 2)
    assert np.all((s.points >= 0) & (s.points <= [size[1] - 1, size[0] - 1]))


# ------------------------------------------------------------ label rules ---
CASES = [(seed, domain, randomisation, n) for seed, (domain, randomisation) in enumerate(
    [("intraop", "train"), ("sim", "train"), ("intraop", "wide"), ("sim", "wide"), ("intraop", "none"),
     ("sim", "none")]) for n in (1, 6, 15)]


@pytest.mark.parametrize("seed,domain,randomisation,n", CASES)
def test_points_follow_the_labelling_rules(seed, domain, randomisation, n):
    s = make_suture_frame_v2(200 + seed, n_sutures=n, domain=domain, randomisation=randomisation)
    h, w = s.labels.shape
    assert s.points.shape == (n, 2)
    assert np.all((s.points >= 8) & (s.points <= [w - 9, h - 9]))
    if n > 1:
        d = np.linalg.norm(s.points[:, None] - s.points[None], axis=2)
        assert d[np.triu_indices(n, 1)].min() >= 7.0
    for i, p in enumerate(s.points):
        thread = s.meta["threads"][s.meta["point_thread"][i]]
        width = s.meta["thread_width_px"][s.meta["point_thread"][i]]
        np.testing.assert_allclose(thread[0], p, atol=1e-3)  # the point is where its thread meets the tissue
        near = s.labels[disc((h, w), p, 1.0)]
        assert THREAD in near  # its thread is drawn there ...
        assert ANNULUS in s.labels[disc((h, w), p, width / 2 + 3.0)]  # ... on annulus tissue
        assert not np.isin(near, (INSTRUMENT, NEEDLE)).any()  # not hidden by an instrument or a needle
        # Nothing of the overlay, printed text or logos on or next to it.
        assert not s.distractors[disc((h, w), p, 3.0)].any()
        # Just beyond the end, opposite to its own thread, there is tissue: no other thread covers the end.
        direction = thread[min(2, len(thread) - 1)] - thread[0]
        beyond = p - direction / np.linalg.norm(direction) * (round(width) / 2 + 2.0)  # past its drawn end cap
        bx, by = int(round(beyond[0])), int(round(beyond[1]))
        if 0 <= bx < w and 0 <= by < h:
            assert s.labels[by, bx] in (ANNULUS, TISSUE)
        box = s.meta["overlay_box"]
        if box is not None:
            assert not (box[0] - 6 <= p[0] <= box[2] + 6 and box[1] - 6 <= p[1] <= box[3] + 6)


def test_unlabelled_thread_ends_follow_the_skip_rules():
    """Over many frames: half-through needles and ends hidden under instruments occur, are never labelled,
    and lie where the label map says they should."""
    reasons = {"needle_half_through": 0, "hidden": 0}
    for seed in range(40):
        s = make_suture_frame_v2(300 + seed, n_sutures=5, domain="intraop" if seed % 2 else "sim")
        h, w = s.labels.shape
        for skip in s.meta["skipped"]:
            reasons[skip["reason"]] += 1
            xy = skip["xy"]
            assert np.min(np.linalg.norm(s.points - xy, axis=1)) >= 7.0  # not mistaken for a labelled point
            if skip["reason"] == "needle_half_through":
                assert NEEDLE in s.labels[disc((h, w), xy, 3.0)]
            else:
                assert s.labels[int(round(xy[1])), int(round(xy[0]))] == INSTRUMENT
    assert reasons["needle_half_through"] >= 5 and reasons["hidden"] >= 2


# ------------------------------------------------------------ distractors ---
def test_distractor_mask_marks_what_was_drawn():
    """The mask is present, the overlay sits where the real scope puts it in most frames, and the mask's
    pixels are the drawn ones: overlay icons/text are bright or saturated, engraved text darker than its plate."""
    at_real_box, overlay_frames, printed, stands_out = 0, 0, [], []
    x0, y0, x1, y1 = ENDOSCOPE_OVERLAY_BOX
    for seed in range(24):
        s = make_suture_frame_v2(400 + seed, n_sutures=4, domain="intraop" if seed % 2 else "sim",
                                 randomisation="none")
        ov = s.distractors == OVERLAY
        if ov.any():
            overlay_frames += 1
            ys, xs = np.nonzero(ov)
            if x0 - 12 <= xs.mean() <= x1 + 12 and y0 - 12 <= ys.mean() <= y1 + 6:
                at_real_box += 1
            # Icons and letters: more saturated or more contrasted than the 4 px ring around the mask.
            grown = np.zeros_like(ov)
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    grown |= np.roll(np.roll(ov, dy, 0), dx, 1)
            ring = grown & ~ov
            sat = s.image.max(axis=2) - s.image.min(axis=2)
            lum = s.image @ LUMA
            stands_out.append(sat[ov].mean() > sat[ring].mean() + 0.02 or lum[ov].std() > lum[ring].std() + 0.02)
        text = s.distractors == PRINTED_TEXT
        plate = (s.labels == INSTRUMENT) & ~text
        if text.sum() > 30 and plate.sum() > 300:
            printed.append((s.image[text] @ LUMA).mean() - (s.image[plate] @ LUMA).mean())
    assert overlay_frames >= 16 and at_real_box >= 0.6 * overlay_frames
    assert np.mean(stands_out) >= 0.8
    assert printed and np.median(printed) < -0.02


def test_distractors_can_be_switched_off_but_printed_text_stays_on_instruments():
    on_instruments = []
    for seed in range(10):
        s = make_suture_frame_v2(500 + seed, n_sutures=3, distractors=False)
        assert not np.isin(s.distractors, (OVERLAY, LOGO_TEXT)).any()
        assert s.meta["overlay_box"] is None
        under = s.labels[s.distractors == PRINTED_TEXT]
        if under.size:  # the mask is grown by ~1.5 px and threads may cross the text
            on_instruments.append(np.isin(under, (INSTRUMENT, THREAD)).mean())
    assert on_instruments and min(on_instruments) > 0.9


def test_domains_look_different():
    """Intra-op tissue is red/yellow (red above blue); simulator silicone is blue-grey (blue at least red)."""
    def red_minus_blue(domain):
        values = []
        for seed in range(6):
            s = make_suture_frame_v2(600 + seed, n_sutures=2, domain=domain, randomisation="none")
            tissue = s.image[np.isin(s.labels, (ANNULUS, TISSUE)) & (s.distractors == 0)]
            values.append(np.mean(tissue[:, 0] - tissue[:, 2]))
        return float(np.mean(values))
    assert red_minus_blue("intraop") > 0.1
    assert red_minus_blue("sim") < 0.0


# ------------------------------------------------------ training on v2 ---
def test_phantom_source_version_2_keeps_the_mask_and_is_cached():
    src = source_from_spec({"kind": "phantom", "version": 2, "domain": "sim", "seeds": "3:5", "size": [144, 256],
                            "max_sutures": 4})
    assert isinstance(src, PhantomSource) and "v2" in src.name and len(src) == 2
    f = src[0]
    assert f.image.shape == (144, 256, 3) and f.distractors.shape == (144, 256) and f.distractors.dtype == np.uint8
    direct = make_suture_frame_v2(3, n_sutures=f.points.shape[0], domain="sim", size=(144, 256))
    np.testing.assert_array_equal(f.points, direct.points)
    np.testing.assert_allclose(f.image, direct.image, atol=0.5 / 255 + 1e-6)  # stored as 8-bit, like a PNG
    assert src[0].distractors is not f.distractors  # a copy each time
    assert PhantomSource([0], size=(64, 96), max_sutures=1)[0].distractors is None  # version 1: no mask


@pytest.mark.parametrize("spec,message", [
    ({"kind": "phantom", "version": 3, "seeds": "0:2"}, "version"),
    ({"kind": "phantom", "version": True, "seeds": "0:2"}, "version"),
    ({"kind": "phantom", "seeds": "0:2", "repeat": 0}, "repeat"),
])
def test_bad_source_specs_are_refused(spec, message):
    with pytest.raises(Exception, match=message):
        source_from_spec(spec)


def test_repeat_source_lists_each_frame_repeat_times():
    base = PhantomSource([7, 8], version=2, size=(72, 128), max_sutures=2)
    rep = RepeatSource(base, 3)
    assert len(rep) == 6 and rep.groups() == [g for g in base.groups() for _ in range(3)]
    np.testing.assert_array_equal(rep[5].image, base[1].image)
    with pytest.raises(IndexError):
        rep[6]


def test_dataset_trains_on_v2_frames_with_heavy_augmentation():
    cfg = AugmentConfig(crop=[64, 128], scale_p=1.0, blur_p=1.0, soften_p=1.0, noise_p=1.0, jpeg_p=1.0)
    ds = SutureTrainDataset([PhantomSource([1, 2], version=2, domain="intraop", size=(144, 256), max_sutures=6)], cfg)
    item = ds[1]
    assert item["image"].shape == (3, 64, 128) and item["heatmap"].shape == (1, 64, 128)
    assert float(item["heatmap"].max()) <= 1.0


def test_zoom_moves_a_drawn_dot_with_its_point():
    img = np.zeros((60, 80, 3), np.float32)
    img[20:23, 50:53] = 1.0  # dot centred on (51, 21)
    out, p = zoom(img, [[51.0, 21.0]], 1.3)
    ys, xs = np.nonzero(out[..., 0] > 0.2)
    w = out[ys, xs, 0]
    np.testing.assert_allclose([np.sum(xs * w) / w.sum(), np.sum(ys * w) / w.sum()], p[0], atol=0.5)


def test_degrade_changes_pixels_not_geometry_and_is_reproducible():
    img = np.zeros((40, 60, 3), np.float32)
    img[18:22, 28:32] = 1.0
    cfg = AugmentConfig(blur_p=1.0, soften_p=1.0, noise_p=1.0, jpeg_p=1.0)
    a = degrade(img, np.random.default_rng(3), cfg)
    b = degrade(img, np.random.default_rng(3), cfg)
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.float32 and not np.array_equal(a, img)
    ys, xs = np.nonzero(a[..., 0] > 0.4)
    assert abs(xs.mean() - 29.5) < 1.0 and abs(ys.mean() - 19.5) < 1.0  # the blob stays where it was


def test_degrade_with_everything_off_draws_nothing_and_changes_nothing():
    """So configs without the new keys give the very samples they gave before."""
    img = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)
    rng = np.random.default_rng(9)
    out = degrade(img, rng, AugmentConfig())
    np.testing.assert_array_equal(out, img)
    assert rng.random() == np.random.default_rng(9).random()


@pytest.mark.parametrize("kwargs,message", [({"scale_range": [1.5, 1.0]}, "scale_range"),
                                            ({"soften_range": [0.5, 1.5]}, "soften_range"),
                                            ({"jpeg_quality": [0, 90]}, "jpeg_quality"),
                                            ({"blur_p": 2.0}, "blur_p")])
def test_bad_augmentation_settings_are_refused(kwargs, message):
    with pytest.raises(Exception, match=message):
        AugmentConfig(**kwargs)
