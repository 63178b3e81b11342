"""The cardiac pipeline shared by the Slicer Logic and the CLI (heatmap_landmarks.cardiac), without Slicer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from heatmap_landmarks.cardiac.names import basal_end_from_insertions  # noqa: E402
from heatmap_landmarks.cardiac import (  # noqa: E402
    choose_view,
    detect_cardiac,
    load_predictors,
)
from heatmap_landmarks.pixels import greyscale_volume  # noqa: E402
from heatmap_landmarks.errors import InputError  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.inference import Cancelled  # noqa: E402
from heatmap_landmarks.testing import SAX_BLOBS, blob_frame, blob_points, save_identity_checkpoint  # noqa: E402

G = Geometry(spacing=(1.0, 1.0, 8.0))


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models")
    return {"sax": save_identity_checkpoint(folder, "sax"), "lax": save_identity_checkpoint(folder, "lax"),
            "weak_lax": save_identity_checkpoint(folder, "lax", gain=0.5, name="weak_lax")}


def lax_frames(n):
    return np.stack([blob_frame((64, 64), list(blob_points("lax", (0, t)).values())) for t in range(n)])


@pytest.mark.parametrize("voxels, fragment", [
    (np.zeros((1, 4, 4, 3), np.uint8) + np.array([1, 2, 3], np.uint8), "channels differ"),
    (np.concatenate([np.ones((1, 4, 4, 3), np.uint8), np.zeros((1, 4, 4, 1), np.uint8)], axis=3), "transparency"),
    (np.zeros((4, 4), np.float32), "expected (slices, rows, columns)"),
    (np.zeros((1, 4, 4), complex), "real numbers"),
])
def test_greyscale_volume_refuses(voxels, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        greyscale_volume(voxels, "scan.nrrd")


def test_greyscale_volume_converts_grey_rgba():
    rgba = np.full((2, 3, 4, 4), 255, np.uint8)
    rgba[..., :3] = 7
    out = greyscale_volume(rgba)
    assert out.shape == (2, 3, 4) and out.dtype == np.float32 and np.all(out == 7)


def test_load_predictors_views_and_errors(cards, tmp_path):
    assert list(load_predictors("auto", str(cards["lax"]))) == ["lax"]
    assert sorted(load_predictors("auto", {"sax": str(cards["sax"]), "lax": str(cards["lax"])})) == ["lax", "sax"]
    assert list(load_predictors("sax", {"sax": str(cards["sax"]), "lax": str(cards["lax"])})) == ["sax"]
    with pytest.raises(InputError, match="'lax' model but view 'sax'"):
        load_predictors("sax", str(cards["lax"]))
    with pytest.raises(InputError, match="keyed 'sax' and/or 'lax'"):
        load_predictors("auto", {"sideways": str(cards["sax"])})
    with pytest.raises(InputError, match="view must be one of"):
        load_predictors("short", str(cards["sax"]))
    from heatmap_landmarks.testing import make_spot_detector

    with pytest.raises(InputError, match="'sutures' model"):
        load_predictors("auto", str(make_spot_detector(tmp_path)))


def test_load_predictors_passes_rotations_and_caches_per_setting(cards):
    from heatmap_landmarks.inference import PredictorCache

    cache = PredictorCache()
    default = load_predictors("sax", str(cards["sax"]), cache=cache)["sax"]
    one = load_predictors("sax", str(cards["sax"]), cache=cache, rotations=1)["sax"]
    four = load_predictors("sax", str(cards["sax"]), cache=cache, rotations=4)["sax"]
    assert default.rotations == 1 and four.rotations == 4 and one is not four and one is not default
    assert load_predictors("sax", str(cards["sax"]), cache=cache, rotations=4)["sax"] is four
    shipped = load_predictors("auto", cache=cache)
    assert shipped["sax"].rotations == 4 and shipped["lax"].rotations == 4  # the shipped cards' setting
    assert load_predictors("auto", cache=cache, rotations=1)["lax"].rotations == 1
    with pytest.raises(InputError, match="rotations must be 1, 2 or 4"):
        load_predictors("sax", str(cards["sax"]), rotations=3)


def test_choose_view_prefers_the_confident_model(cards):
    predictors = load_predictors("auto", {"sax": str(cards["sax"]), "lax": str(cards["weak_lax"])})
    frames = lax_frames(3)
    view, scores = choose_view(predictors, lambda t: (frames[t:t + 1], G), 3)
    # Two LAX blobs: the SAX model cannot name them (needs three), the weak LAX model can.
    assert view == "lax" and scores["lax"] > scores["sax"] == 0.0


@pytest.mark.parametrize("chunk", [1, 2, 64])
def test_2d_cine_points_do_not_depend_on_chunking(cards, chunk):
    predictor = load_predictors("lax", str(cards["lax"]))["lax"]
    frames = lax_frames(5)
    seen = []
    det = detect_cardiac(lambda t: (frames[t:t + 1], G), 5, predictor, chunk_frames=chunk,
                         on_heatmap=lambda t, h, g: seen.append((t, h.shape, h.dtype)))
    assert seen == [(t, (1, 64, 64), np.float32) for t in range(5)]
    expected = np.array([[blob_points("lax", (0, t))[k] for k in ("MV-1", "MV-2")] for t in range(5)])
    np.testing.assert_allclose(det.points[:, 0], expected, atol=0.1)
    assert det.labels[0, 0].tolist() == ["MV-1", "MV-2"] and det.basal_end is None


def test_cancel_and_shape_changes(cards):
    predictor = load_predictors("lax", str(cards["lax"]))["lax"]
    frames = lax_frames(4)
    calls = []

    def cancel_after_first():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        detect_cardiac(lambda t: (np.stack([frames[t]] * 2), G), 4, predictor, should_cancel=cancel_after_first)
    sizes = {0: frames[:1], 1: frames[:1, :32]}
    with pytest.raises(InputError, match="time point 1 has shape"):
        detect_cardiac(lambda t: (sizes[t], G), 2, predictor, chunk_frames=1)


@pytest.mark.parametrize("rvi_slices, z_count, basal", [
    ([0, 1], 4, 0),  # RV at the start: slice 0 basal
    ([2, 3], 4, 3),  # RV at the end: the stack runs apex -> base
    ([], 4, 0),  # no RV at all: keep acquisition order
    ([0, 5], 6, 0),  # tie: keep acquisition order
])
def test_basal_end(rvi_slices, z_count, basal):
    points = np.full((1, z_count, 3, 2), np.nan, np.float32)
    confidence = np.zeros((1, z_count, 3), np.float32)
    for z in rvi_slices:
        points[0, z, :2] = 10.0
        confidence[0, z, :2] = 0.8
    assert basal_end_from_insertions(points, confidence, ["RVI-1", "RVI-2", "LVC"]) == basal


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_points(cards):
    frames = lax_frames(4)
    results = {}
    for device in ("cpu", "cuda"):
        predictor = load_predictors("lax", str(cards["lax"]), device=device)["lax"]
        results[device] = detect_cardiac(lambda t: (frames[t:t + 1], G), 4, predictor).points
    np.testing.assert_allclose(results["cuda"], results["cpu"], atol=1e-3)


# -- naming the RV insertions by patient geometry -----------------------------------------------------
# Image right = patient left (the RV, on the image left, is on the patient's right); slice axis down to the apex.
ANTERIOR_UP_GEOMETRY = Geometry(direction=np.diag([-1.0, -1.0, -1.0]))   # rows run posterior: up is anterior
ANTERIOR_DOWN_GEOMETRY = Geometry(direction=np.diag([-1.0, 1.0, -1.0]))  # rows stored the other way: up is posterior
NO_ORIENTATION = Geometry(direction=np.diag([-1.0, -1.0, 1.0]))         # identity in LPS, as on ACDC files


@pytest.mark.parametrize(
    "geometry, renamed, note",
    [
        (ANTERIOR_UP_GEOMETRY, False, "named by patient geometry"),
        (ANTERIOR_DOWN_GEOMETRY, True, "named by patient geometry"),
        (NO_ORIENTATION, False, "has no patient orientation"),
    ],
)
def test_rv_insertions_are_named_by_patient_geometry(cards, geometry, renamed, note):
    predictor = load_predictors("sax", str(cards["sax"]))["sax"]
    frame = blob_frame((64, 64), list(blob_points("sax").values()))[None]
    det = detect_cardiac(lambda t: (frame, geometry), 1, predictor)
    upper, lower = np.array(SAX_BLOBS["RVI-1"]), np.array(SAX_BLOBS["RVI-2"])  # RVI-1 blob is the upper one
    got1, got2 = det.points[0, 0, 0], det.points[0, 0, 1]
    if renamed:
        upper, lower = lower, upper
    np.testing.assert_allclose(got1, upper, atol=0.2)
    np.testing.assert_allclose(got2, lower, atol=0.2)
    if geometry is not NO_ORIENTATION:  # RVI-1 is the more anterior point in RAS
        assert det.ras[0, 0, 0, 1] > det.ras[0, 0, 1, 1]
    assert any(note in n for n in det.notes)


def test_has_patient_orientation():
    from heatmap_landmarks.cardiac.names import has_patient_orientation

    assert not has_patient_orientation(NO_ORIENTATION)
    assert has_patient_orientation(ANTERIOR_UP_GEOMETRY) and has_patient_orientation(ANTERIOR_DOWN_GEOMETRY)


def _stack_geometry(d_i, d_j, d_k, shape=(64, 64)):
    direction = np.stack([d_i, d_j, d_k], axis=1).astype(np.float64)
    return Geometry(spacing=(1.0, 1.0, 8.0), direction=direction)


# Radiological display: image right = patient left, down = posterior; slices run base -> apex (inferior).
UPRIGHT = ((-1, 0, 0), (0, -1, 0), (0, 0, -1))
MIRRORED = ((1, 0, 0), (0, -1, 0), (0, 0, -1))        # columns reversed: the image shows the heart mirrored
TURNED = ((1, 0, 0), (0, 1, 0), (0, 0, -1))           # header turned 180 deg about S (R and A negated)


@pytest.mark.parametrize(
    "axes, mirror_image, renamed",
    [
        (UPRIGHT, False, False),   # the upper insertion is anterior: kept
        (MIRRORED, True, False),   # mirrored pixels and a header that says so: the same anatomy, kept
        (TURNED, False, False),    # a turned header cannot swap them (the anterior rule would)
        (MIRRORED, False, True),   # the header mirrors what the network saw: its names are swapped back
    ],
)
def test_stack_insertions_are_named_by_their_turn_around_the_lv(cards, axes, mirror_image, renamed):
    predictor = load_predictors("sax", str(cards["sax"]))["sax"]  # hand-set: names blobs by image position
    blobs = {k: ((63.0 - x) if mirror_image else x, y) for k, (x, y) in SAX_BLOBS.items()}
    frame = blob_frame((64, 64), list(blobs.values()))
    geometry = _stack_geometry(*axes)
    det = detect_cardiac(lambda t: (np.stack([frame, frame]), geometry), 1, predictor)
    upper, lower = np.array(blobs["RVI-1"]), np.array(blobs["RVI-2"])
    expected = (lower, upper) if renamed else (upper, lower)
    for z in range(2):
        np.testing.assert_allclose(det.points[0, z, 0], expected[0], atol=0.2)
        np.testing.assert_allclose(det.points[0, z, 1], expected[1], atol=0.2)
    assert any("turn around the LV centre" in n for n in det.notes)
    assert any(f"swapped on {2 if renamed else 0} of them" in n for n in det.notes)
    r, n = det.ras[0, 0], geometry.direction[:, 2]  # slice 0 is basal: n points to the apex
    assert np.dot(np.cross(r[0] - r[2], r[1] - r[2]), n) > 0
