"""Tests of training/cardiac/evaluate_sax_real.py: the scoring of real short-axis stacks, and its patient split."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from heatmap_landmarks.cardiac.segmentation import SegmentationPoints
from heatmap_landmarks.testing import realdata_root
from training.cardiac.evaluate_sax_real import Scores, acdc_split, report_markdown

CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "cardiac_sax_acdc.json"


class _Det:
    """The fields of CardiacDetections that Scores reads, for hand-made detections."""

    def __init__(self, points, labels):
        self.names = ["RVI-1", "RVI-2", "LVC"]
        self.points = np.asarray(points, dtype=np.float32)[None]
        self.labels = np.asarray(labels, dtype=object)[None]


def _ref(rvi1=None, rvi2=None, lvc=None):
    out = SegmentationPoints()
    for name, p in (("RVI-1", rvi1), ("RVI-2", rvi2), ("LVC", lvc)):
        if p is not None:
            out.points[name] = np.asarray(p, dtype=np.float64)
    return out


NAN = [np.nan, np.nan]


def test_scores_count_pairs_false_insertions_swaps_and_ends():
    ref = [_ref((10, 10), (10, 30), (20, 20)),   # basal: both RVIs
           _ref((10, 10), (10, 30), (20, 20)),   # swapped by the "model"
           _ref(None, None, (20, 20)),           # apical: no RVIs, one false
           _ref()]                               # no LV
    det = _Det([[[10, 12], [10, 30], [20, 21]],
                [[10, 30], [10, 10], [20, 20]],
                [[5, 5], NAN, [22, 20]],
                [NAN, NAN, [1, 1]]],
               [["RVI-1", "RVI-2", "BCA"], ["RVI-1", "RVI-2", "LVC"], ["RVI-1", "RVI-2", "ACA"],
                ["RVI-1", "RVI-2", "LVC"]])
    s = Scores()
    s.add_stack("p", det, ref, (0.5, 0.5))
    out = s.summary()
    assert out["rvi_pair_rate"] == 1.0 and out["swap_rate"] == 0.5 and out["swaps"] == 1
    assert out["false_insertion_rate"] == 0.5 and out["rvi_slices_with_none"] == 2
    assert out["false_lvc_rate"] == 1.0
    assert out["per_landmark"]["RVI-1"]["median_mm"] == pytest.approx((1.0 + 10.0) / 2)
    assert out["per_landmark"]["BCA"]["mean_mm"] == pytest.approx(0.5)  # slice 0 is the most basal with an LV
    assert out["per_landmark"]["ACA"]["mean_mm"] == pytest.approx(1.0)
    assert out["ends_named"] == {"BCA": 1.0, "ACA": 1.0}
    assert out["per_landmark"]["LVC"]["within_2mm"] == 1.0
    assert not out["targets"]["swap_rate<=0.01"] and out["targets"]["lvc_found>=0.98"]
    text = report_markdown("t", out)
    assert "| RVI-1 |" in text and "identity swaps" in text


def test_a_miss_counts_as_a_failure_but_not_in_the_mean():
    s = Scores()
    s.add_stack("p", _Det([[NAN, NAN, [20, 20]]], [["RVI-1", "RVI-2", "LVC"]]), [_ref((1, 1), (1, 9), (20, 20))],
                (1.0, 1.0))
    r = s.summary()["per_landmark"]["RVI-1"]
    assert r["found"] == 0.0 and r["mean_mm"] is None and r["within_5mm"] == 0.0
    assert s.summary()["rvi_pair_rate"] == 0.0 and math.isnan(s.err["RVI-1"][0])


def test_acdc_split_matches_the_training_split():
    root = realdata_root() / "acdc" / "training"
    if not root.is_dir():
        pytest.skip(f"real ACDC folder {root} is absent (only in the development environment)")
    parts = acdc_split(root, CONFIG)
    assert len(parts["test"]) == 20 and len(parts["val"]) == 10 and len(parts["train"]) == 70
    # As the training run logged it (training/RESULTS.md): the validation patients.
    assert parts["val"] == ["patient001", "patient018", "patient025", "patient038", "patient045", "patient057",
                            "patient074", "patient078", "patient086", "patient089"]
    assert not set(parts["test"]) & set(parts["train"])
