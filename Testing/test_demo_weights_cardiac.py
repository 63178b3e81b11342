"""The shipped phantom-trained cardiac weights reach the accuracy recorded in their model cards.

(The default short-axis card ``cardiac_sax`` is trained on real ACDC patients and is
checked on them in ``test_demo_weights_sax_real.py``; the phantom-only short-axis
model stays in the catalogue as ``cardiac_sax_phantom``.)

``training.cardiac.evaluate --record-in-card demo_check`` stored, in each card,
the errors of the weights on a small held-out phantom set (12 seeds of the
test range, ``wide`` randomisation, never used in training or for choosing the
decoder). This test recomputes them through :class:`heatmap_landmarks.inference.CardiacPredictor`.

Tolerance: the pipeline is deterministic, but other CPUs/BLAS builds round
differently, which can move a sub-pixel centre by a hair or, rarely, flip a
blob across the decoder threshold. So the mean error may differ by
0.1 px + 5 %, the SDR at 5 px by one landmark, and the miss count by one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import heatmap_landmarks
from heatmap_landmarks.checkpoint import load_card
from heatmap_landmarks.cardiac import CardiacPredictor
from heatmap_landmarks.metrics import radial_errors
from training.cardiac.data import render_phantom
from training.common.config import parse_seed_range

torch.set_num_threads(1)
WEIGHTS = Path(heatmap_landmarks.__file__).resolve().parent / "weights"


@pytest.mark.parametrize("key, view, names", [("cardiac_sax_phantom", "sax", ["RVI-1", "RVI-2", "LVC"]),
                                              ("cardiac_lax", "lax", ["MV-1", "MV-2"])])
def test_demo_weights_reach_their_recorded_accuracy(key, view, names):
    card_path = WEIGHTS / f"{key}.json"
    card = load_card(card_path)
    assert card.task == "cardiac" and card.view == view and card.landmark_names == names
    assert "synthetic phantom only" in card.training_data and len(card.sha256) == 64
    assert {"level", "min_confidence"} <= set(card.decoder)
    assert "test_phantom_wide" in card.metrics  # the full held-out evaluation is recorded too
    record = card.metrics["demo_check"]
    phantom = record["phantom"]
    seeds = parse_seed_range(phantom["seeds"])
    assert len(seeds) == 12 and seeds.start >= 100000  # held-out test range, disjoint from training/validation

    predictor = CardiacPredictor(card_path, device="cpu", batch_size=4)
    errors, missed = [], 0
    for seed in seeds:
        sample = render_phantom(view, seed, phantom["randomisation"], phantom["phase"])
        out = predictor.predict_cardiac(sample.image[None], sample.spacing_xy, return_heatmaps=False)
        gt = sample.points(names)
        keep = ~np.isnan(gt[:, 0])
        err, _ = radial_errors(out.points[0][keep], gt[keep])
        errors.extend(err.tolist())
        missed += int(np.isnan(err).sum())
    errors = np.asarray(errors)
    assert len(errors) == record["n"]
    mean = float(np.nanmean(errors))
    sdr5 = float(np.mean(errors <= 5.0))
    assert abs(mean - record["all_mean_px"]) <= 0.1 + 0.05 * record["all_mean_px"], (mean, record["all_mean_px"])
    assert abs(sdr5 - record["all_sdr_5px"]) <= 1.0 / len(errors) + 1e-9, (sdr5, record["all_sdr_5px"])
    assert abs(missed - record["missed"]) <= 1
