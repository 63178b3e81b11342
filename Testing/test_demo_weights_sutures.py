"""The shipped suture weights reproduce the F1 recorded in their model card.

The card (``heatmap_landmarks/weights/sutures.json``) records, under
``metrics["demo_test_intraop_wide_16"]``, the pooled precision/sensitivity/F1
of the weights on 16 held-out phantom frames (seeds never used in training
or validation, ``randomisation="wide"``, the phantom version the source names), measured through
``SuturePredictor.predict_sutures`` at training time. Phantom rendering and CPU
inference are deterministic, so the same numbers come back; the tolerance
(0.03 F1, about two points of ~120 changing their match) only absorbs
float differences between thread counts and CPU kernels.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from heatmap_landmarks.catalog import resolve_weights
from heatmap_landmarks.sutures import SuturePredictor
from heatmap_landmarks.metrics import pooled_detection_scores
from training.common.config import parse_seed_range
from training.sutures.data import PhantomSource

DEMO_SET = "demo_test_intraop_wide_16"
TOLERANCE_F1 = 0.03


@pytest.fixture(scope="module")
def predictor():
    torch.set_num_threads(2)
    return SuturePredictor("sutures", device="cpu", batch_size=4)


def test_card_describes_the_demo_weights(predictor):
    card = predictor.card
    assert resolve_weights("sutures").name == "sutures.json"
    assert card.task == "sutures" and card.architecture == "ResNeXtUNet" and card.heatmap_mode == "single"
    # what the model saw, with the real data's licence
    assert "version-2 phantom" in card.training_data and "AdaptOR" in card.training_data
    assert "CC BY-NC-SA" in card.training_data
    assert set(card.decoder) <= {"threshold", "opening_kernel", "cut", "cut_ratio", "min_confidence", "min_area",
                                 "weighted"}
    assert card.metrics["heldout_v2_intraop_wide"]["f1"] >= 0.40 and card.metrics["heldout_v2_intraop_wide"]["frames"] == 256
    for real in ("real_val_intraop", "real_val_sim"):  # the real validation frames are recorded, good or bad
        assert 0.0 <= card.metrics[real]["f1"] <= 1.0


def test_phantom_only_model_stays_in_the_catalogue():
    card = SuturePredictor("sutures_phantom", device="cpu").card
    assert "synthetic phantom frames only" in card.training_data
    assert card.metrics["heldout_intraop_wide"]["f1"] >= 0.80


def test_shipped_weights_reach_their_recorded_f1(predictor):
    recorded = predictor.card.metrics[DEMO_SET]
    source = recorded["source"]
    frames = PhantomSource(list(parse_seed_range(source["seeds"])), domain=source["domain"],
                           randomisation=source["randomisation"], version=source.get("version", 1), cache=False)
    assert len(frames) == recorded["frames"] == 16
    samples = [frames[i] for i in range(len(frames))]
    preds = [p.points for p in predictor.predict_sutures((s.image for s in samples), return_heatmaps=False)]
    counts = pooled_detection_scores(preds, [s.points for s in samples], radius=6.0)
    assert counts.f1 == pytest.approx(recorded["f1"], abs=TOLERANCE_F1)
    assert counts.precision == pytest.approx(recorded["precision"], abs=TOLERANCE_F1)
    assert counts.sensitivity == pytest.approx(recorded["sensitivity"], abs=TOLERANCE_F1)
    assert all(p.dtype == np.float32 and p.shape[1:] == (2,) for p in preds)
