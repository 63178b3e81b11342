"""``training/cardiac/evaluate_lax_mnms2.py``: the pieces that must stay true for its numbers to mean anything.

The full run reads the real M&Ms-2 patient and takes minutes; these tests check, on
tiny inputs, that its re-implemented decoding path equals the product's
(``CardiacPredictor.predict_cardiac``), that mirroring keeps every voxel's RAS position, and
that the jitter measures are what they say.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

from heatmap_landmarks.testing import blob_frame, blob_points, save_identity_checkpoint  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.heatmaps import smooth_over_time  # noqa: E402
from heatmap_landmarks.cardiac import CardiacPredictor  # noqa: E402
from heatmap_landmarks.io import Image  # noqa: E402
from training.cardiac.evaluate_lax_mnms2 import decode_frames, mirrored, network_heatmaps, track_stats  # noqa: E402

OBLIQUE = Geometry(spacing=(1.5, 1.2, 7.0), origin=(12.0, -30.0, 44.0),
                   direction=np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0], [0.0, 0.8, -0.6]]))


@pytest.fixture(scope="module")
def lax_predictor(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return CardiacPredictor(save_identity_checkpoint(tmp_path_factory.mktemp("m"), "lax"), rotations=4)


def test_sigma_zero_path_equals_predict_cardiac(lax_predictor):
    frames = np.stack([blob_frame((64, 64), list(blob_points("lax", (0.0, 1.5 * t)).values())) for t in range(4)])
    heat, transform = network_heatmaps(lax_predictor, frames, (1.0, 1.0))
    channels = 1 if lax_predictor.card.heatmap_mode == "single" else 2
    assert heat.shape == (4, channels, 64, 64)
    points, conf = decode_frames(lax_predictor, smooth_over_time(heat, 0.0), transform, frames.shape[1:])
    product = lax_predictor.predict_cardiac(frames, (1.0, 1.0), return_heatmaps=False)
    np.testing.assert_allclose(points, product.points, atol=1e-5)
    np.testing.assert_allclose(conf, product.confidence, atol=1e-6)
    truth = np.array([[blob_points("lax", (0.0, 1.5 * t))[n] for n in ("MV-1", "MV-2")] for t in range(4)])
    assert np.abs(points - truth).max() < 0.2


@pytest.mark.parametrize("kind, frames", [("2d", 1), ("2d+t", 3)])
def test_mirrored_keeps_every_voxel_where_it_was(kind, frames):
    array = np.random.default_rng(0).random((frames, 5, 7)).astype(np.float32)
    image = Image(array, OBLIQUE, kind)
    flipped = mirrored(image)
    np.testing.assert_array_equal(flipped.array[:, :, 0], array[:, :, -1])
    for x, y in ((0, 0), (6, 4), (2, 3)):
        np.testing.assert_allclose(flipped.points_to_ras([[6 - x, y]], frames - 1),
                                   image.points_to_ras([[x, y]], frames - 1), atol=1e-9)


def test_track_stats_steps_and_second_differences():
    track = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0], [np.nan] * 3, [12, 0, 0]])
    st = track_stats(track)
    assert st["found"] == 5 and st["n"] == 6
    assert st["max_step_mm"] == pytest.approx(8.0) and st["mean_step_mm"] == pytest.approx((1 + 1 + 8) / 3)
    # second differences on the triples (0,1,2) and (1,2,3) only: 0 and 7
    assert st["mean_second_diff_mm"] == pytest.approx(3.5) and st["max_second_diff_mm"] == pytest.approx(7.0)
