"""The shipped short-axis weights reach, on real ACDC validation patients, the accuracy recorded in their card.

``training.cardiac.evaluate_sax_real --part val --record-in-card real_acdc_val`` stored the
result of the shipped card on the validation patients of its training config (never
trained on; used to choose the checkpoint and the decoder). This test recomputes it
through the product path (:func:`heatmap_landmarks.cardiac.detect_cardiac`) and
skips when the real data is absent. Tolerance: other CPUs round differently, which
can move a point by a hair or flip a blob across the decoder threshold: rates may
differ by one slice, mean errors by 0.1 mm + 5 %.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import heatmap_landmarks
from heatmap_landmarks.checkpoint import load_card
from heatmap_landmarks.testing import realdata_root

torch.set_num_threads(1)
CARD = Path(heatmap_landmarks.__file__).resolve().parent / "weights" / "cardiac_sax.json"
CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "cardiac_sax_acdc.json"


def test_shipped_sax_card_states_its_real_training_data():
    card = load_card(CARD)
    assert "ACDC" in card.training_data and "Bernard" in card.training_data and "research" in card.training_data
    record = card.metrics["real_acdc_val"]
    assert record["stacks"] == 20 and "val patients (10)" in record["data"]
    assert "test" in " ".join(card.metrics)  # the held-out test patients are recorded too


@pytest.mark.slow
def test_shipped_sax_weights_reach_their_recorded_real_accuracy():
    root = realdata_root() / "acdc" / "training"
    if not root.is_dir():
        pytest.skip(f"real ACDC folder {root} is absent (only in the development environment)")
    from training.cardiac.evaluate_sax_real import _stacks_acdc, acdc_split, evaluate

    record = load_card(CARD).metrics["real_acdc_val"]
    patients = acdc_split(root, CONFIG)["val"]
    got = evaluate(str(CARD), _stacks_acdc(root, patients), rotations=record.get("rotations")).summary()
    assert got["stacks"] == record["stacks"] and got["slices"] == record["slices"]
    for key, n in (("rvi_pair_rate", got["rvi_slices_with_both"]), ("false_insertion_rate", got["rvi_slices_with_none"])):
        assert abs(got[key] - record[key]) <= 1.0 / n + 1e-9, (key, got[key], record[key])
    for name in ("RVI-1", "RVI-2", "LVC"):
        want, have = record["per_landmark"][name]["mean_mm"], got["per_landmark"][name]["mean_mm"]
        assert abs(have - want) <= 0.1 + 0.05 * want, (name, have, want)
