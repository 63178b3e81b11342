"""Tests of heatmap_landmarks.metrics, against hand-computed values."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from heatmap_landmarks.errors import InputError, OutputExistsError
from heatmap_landmarks.metrics import (
    DetectionCounts,
    format_markdown_table,
    match_points,
    pooled_detection_scores,
    radial_errors,
    successful_detection_rate,
    summarise_landmark_errors,
    write_csv,
)

NAN = float("nan")


# --------------------------------------------------------------------------- radial errors


@pytest.mark.parametrize(
    "pred, gt, spacing, expected_px, expected_mm",
    [
        # 3-4-5 triangle; mm = hypot(3 * 0.5, 4 * 2.0) = hypot(1.5, 8) = sqrt(66.25)
        ([[3, 4]], [[0, 0]], (0.5, 2.0), [5.0], [math.sqrt(66.25)]),
        # anisotropic: 2 px along x is 2 * 0.7 = 1.4 mm, 2 px along y is 2 * 1.5 = 3.0 mm
        ([[12, 10], [10, 12]], [[10, 10], [10, 10]], (0.7, 1.5), [2.0, 2.0], [1.4, 3.0]),
        # exact hit and a miss (NaN prediction)
        ([[1, 1], [NAN, NAN]], [[1, 1], [5, 5]], (1.0, 1.0), [0.0, NAN], [0.0, NAN]),
        ([[1, 1]], [[4, 5]], None, [5.0], None),
    ],
)
def test_radial_errors(pred, gt, spacing, expected_px, expected_mm):
    px, mm = radial_errors(pred, gt, spacing)
    np.testing.assert_allclose(px, expected_px, equal_nan=True)
    if expected_mm is None:
        assert mm is None
    else:
        np.testing.assert_allclose(mm, expected_mm, equal_nan=True)


@pytest.mark.parametrize(
    "pred, gt, spacing, match",
    [
        ([[1, 1]], [[1, 1], [2, 2]], None, "differ in shape"),
        ([[1, 1]], [[NAN, NAN]], None, "ground-truth points contain NaN"),
        ([[1, 1]], [[1, 1]], (1.0, 0.0), "spacing_xy"),
        ([[1, 1]], [[1, 1]], (1.0,), "spacing_xy"),
        ([1, 1], [1, 1], None, "shape \\(N, 2\\)"),
    ],
)
def test_radial_errors_bad_input(pred, gt, spacing, match):
    with pytest.raises(InputError, match=match):
        radial_errors(pred, gt, spacing)


@pytest.mark.parametrize(
    "errors, thresholds, expected",
    [
        # thresholds are inclusive: 2.0 <= 2.0 succeeds; 5.0001 fails at 5; NaN always fails
        ([2.0, 3.0, 5.0, 5.0001, NAN], (2.0, 3.0, 5.0), {2.0: 0.2, 3.0: 0.4, 5.0: 0.6}),
        ([0.0, 10.0], (1.0,), {1.0: 0.5}),
        ([NAN, NAN], (2.0,), {2.0: 0.0}),
        ([], (2.0,), {2.0: NAN}),
    ],
)
def test_successful_detection_rate(errors, thresholds, expected):
    got = successful_detection_rate(errors, thresholds)
    assert list(got) == list(expected)
    for t, value in expected.items():
        assert got[t] == pytest.approx(value, nan_ok=True)


# --------------------------------------------------------------------------- tables


def test_summarise_landmark_errors_by_hand():
    px = {"RVI-1": [1.0, 3.0, NAN], "LVC": [2.0, 6.0]}
    mm = {"RVI-1": [0.5, 1.5, NAN], "LVC": [1.0, 3.0]}
    rows = summarise_landmark_errors(px, mm)
    assert [r["landmark"] for r in rows] == ["RVI-1", "LVC", "All"]
    rvi, lvc, overall = rows
    assert list(rvi) == [
        "landmark", "mean_px", "std_px", "mean_mm", "std_mm", "sdr_2px", "sdr_3px", "sdr_5px", "n", "n_missed"
    ]
    # RVI-1: detected {1, 3}: mean 2, population std 1; SDR2 = 1/3 (the miss fails), SDR3 = SDR5 = 2/3
    assert (rvi["mean_px"], rvi["std_px"], rvi["mean_mm"], rvi["std_mm"]) == (2.0, 1.0, 1.0, 0.5)
    assert (rvi["sdr_2px"], rvi["sdr_3px"], rvi["sdr_5px"]) == pytest.approx((1 / 3, 2 / 3, 2 / 3))
    assert (rvi["n"], rvi["n_missed"]) == (3, 1)
    # LVC: {2, 6}: mean 4, std 2; SDR2 = 1/2, SDR3 = 1/2, SDR5 = 1/2
    assert (lvc["mean_px"], lvc["std_px"], lvc["sdr_5px"]) == (4.0, 2.0, 0.5)
    # All: {1, 3, 2, 6}: mean 3, std sqrt((4 + 0 + 1 + 9) / 4) = sqrt(3.5); SDR2 = 2/5
    assert overall["mean_px"] == 3.0 and overall["std_px"] == pytest.approx(math.sqrt(3.5))
    assert overall["mean_mm"] == 1.5 and overall["sdr_2px"] == pytest.approx(0.4)
    assert (overall["n"], overall["n_missed"]) == (5, 1)


def test_summarise_without_mm_and_custom_thresholds():
    rows = summarise_landmark_errors({"MV-1": [0.5, 1.5]}, thresholds=(1.0,), overall_label=None)
    assert len(rows) == 1
    assert math.isnan(rows[0]["mean_mm"]) and rows[0]["sdr_1px"] == 0.5


def test_summarise_mismatched_mm():
    with pytest.raises(InputError, match="2 px errors"):
        summarise_landmark_errors({"LVC": [1.0, 2.0]}, {"LVC": [1.0]})


def test_format_markdown_table():
    rows = summarise_landmark_errors({"LVC": [1.0, 3.0]}, {"LVC": [0.5, 1.5]})
    text = format_markdown_table(rows)
    assert text.splitlines() == [
        "| Landmark | Error (px) | Error (mm) | SDR 2 px (%) | SDR 3 px (%) | SDR 5 px (%) | N |",
        "|---|---|---|---|---|---|---|",
        "| LVC | 2.00 ± 1.00 | 1.00 ± 0.50 | 50.0 | 100.0 | 100.0 | 2 |",
        "| All | 2.00 ± 1.00 | 1.00 ± 0.50 | 50.0 | 100.0 | 100.0 | 2 |",
    ]


def test_write_csv_atomic_and_refuses_overwrite(tmp_path):
    rows = summarise_landmark_errors({"LVC": [1.0, 3.0]}, overall_label=None)
    out = tmp_path / "table.csv"
    assert write_csv(rows, out) == str(out)
    lines = out.read_text().splitlines()
    assert lines[0] == "landmark,mean_px,std_px,mean_mm,std_mm,sdr_2px,sdr_3px,sdr_5px,n,n_missed"
    assert lines[1] == "LVC,2.0,1.0,nan,nan,0.5,1.0,1.0,2,0"
    with pytest.raises(OutputExistsError, match="already exists"):
        write_csv([{"a": 1}], out)
    assert out.read_text().splitlines()[0].startswith("landmark")  # untouched
    write_csv([{"a": 1}, {"b": 2}], out, overwrite=True)
    assert out.read_text().splitlines() == ["a,b", "1,", ",2"]
    with pytest.raises(InputError, match="parent folder"):
        write_csv(rows, tmp_path / "missing" / "t.csv")
    with pytest.raises(InputError, match="row 1 is not a mapping"):
        write_csv([{"a": 1}, 42], tmp_path / "bad.csv")

    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot format")

    # a failure half-way through writing leaves neither the file nor a temporary
    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv([{"a": 1}, {"a": Unprintable()}], tmp_path / "broken.csv")
    assert sorted(os.listdir(tmp_path)) == ["table.csv"]


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "pred, gt, radius, pairs, unmatched_pred, unmatched_gt",
    [
        # one truth, two predictions nearby: one-to-one -> the closer one is the TP, the other a FP
        ([[1.0, 0.0], [0.5, 0.0]], [[0.0, 0.0]], 6.0, [[1, 0]], [0], []),
        # radius boundary is inclusive: 6.0 px matches, 6.01 px does not
        ([[6.0, 0.0]], [[0.0, 0.0]], 6.0, [[0, 0]], [], []),
        ([[6.01, 0.0]], [[0.0, 0.0]], 6.0, [], [0], [0]),
        # a 3-4-5 triangle scaled: distance 5 matches within radius 5
        ([[3.0, 4.0]], [[0.0, 0.0]], 5.0, [[0, 0]], [], []),
        # NaN prediction rows are no prediction at all: neither TP nor FP
        ([[NAN, NAN], [10.0, 10.0]], [[10.0, 11.0], [50.0, 50.0]], 6.0, [[1, 0]], [], [1]),
        (np.zeros((0, 2)), [[1.0, 1.0]], 6.0, [], [], [0]),
        ([[1.0, 1.0]], np.zeros((0, 2)), 6.0, [], [0], []),
        # two-by-two, each prediction closest to a different truth
        ([[0.0, 0.0], [20.0, 0.0]], [[19.0, 0.0], [1.0, 0.0]], 6.0, [[0, 1], [1, 0]], [], []),
    ],
)
def test_match_points(pred, gt, radius, pairs, unmatched_pred, unmatched_gt):
    for method in ("greedy", "hungarian"):
        got_pairs, got_fp, got_fn = match_points(pred, gt, radius, method=method)
        assert got_pairs.shape[1] == 2 and got_pairs.dtype == np.int64
        assert got_pairs.tolist() == pairs
        assert got_fp.tolist() == unmatched_pred
        assert got_fn.tolist() == unmatched_gt


def test_match_greedy_versus_hungarian():
    # truths A = (0, 0), B = (7, 0); p0 = (3.6, 0) is 3.6 from A and 3.4 from B; p1 = (12, 0) is 5 from B.
    # greedy takes the globally closest pair p0-B first, then p1 has nothing left within 6 px;
    # Hungarian maximises the matches: p0-A and p1-B.
    pred, gt = [[3.6, 0.0], [12.0, 0.0]], [[0.0, 0.0], [7.0, 0.0]]
    pairs, fp, fn = match_points(pred, gt)
    assert (pairs.tolist(), fp.tolist(), fn.tolist()) == ([[0, 1]], [1], [0])
    pairs, fp, fn = match_points(pred, gt, method="hungarian")
    assert (pairs.tolist(), fp.tolist(), fn.tolist()) == ([[0, 0], [1, 1]], [], [])


def test_match_bad_input():
    with pytest.raises(InputError, match="radius"):
        match_points([[0, 0]], [[0, 0]], radius=-1)
    with pytest.raises(InputError, match="method"):
        match_points([[0, 0]], [[0, 0]], method="nearest")


# --------------------------------------------------------------------------- detection scores


@pytest.mark.parametrize(
    "tp, fp, fn, precision, sensitivity, f1",
    [
        (8, 2, 4, 8 / 10, 8 / 12, 16 / 22),  # f1 = 2*8 / (2*8 + 2 + 4)
        (5, 0, 0, 1.0, 1.0, 1.0),
        (0, 3, 2, 0.0, 0.0, 0.0),
        (0, 0, 0, 1.0, 1.0, 1.0),  # nothing to find, nothing found: perfect
        (0, 0, 3, 0.0, 0.0, 0.0),  # nothing predicted, 3 missed: precision 0/0 -> 0
        (0, 2, 0, 0.0, 0.0, 0.0),  # nothing to find, 2 false alarms: sensitivity 0/0 -> 0
    ],
)
def test_detection_counts(tp, fp, fn, precision, sensitivity, f1):
    c = DetectionCounts(tp, fp, fn)
    assert c.precision == pytest.approx(precision)
    assert c.sensitivity == pytest.approx(sensitivity) and c.recall == c.sensitivity
    assert c.f1 == pytest.approx(f1)
    assert c.to_dict()["f1"] == pytest.approx(f1)


@pytest.mark.parametrize("bad", [(-1, 0, 0), (1.5, 0, 0), (True, 0, 0)])
def test_detection_counts_bad(bad):
    with pytest.raises(InputError, match="non-negative integer"):
        DetectionCounts(*bad)


def test_pooling_differs_from_per_frame_average():
    # frame 1: one truth found exactly -> tp 1, fp 0, fn 0 (F1 = 1)
    # frame 2: nine truths; 3 predictions on them, 6 far away -> tp 3, fp 6, fn 6 (F1 = 6 / 18 = 1/3)
    gts = [[[10.0, 10.0]], [[10.0 * k, 0.0] for k in range(9)]]
    preds = [[[10.0, 10.0]], [[10.0 * k + 0.5, 0.0] for k in range(3)] + [[10.0 * k, 50.0] for k in range(6)]]
    per_frame_f1 = [pooled_detection_scores([p], [g]).f1 for p, g in zip(preds, gts)]
    assert per_frame_f1 == pytest.approx([1.0, 1 / 3])
    assert np.mean(per_frame_f1) == pytest.approx(2 / 3)
    pooled = pooled_detection_scores(preds, gts)
    # pooled: tp 4, fp 6, fn 6 -> precision = sensitivity = 4/10, F1 = 8 / (8 + 12) = 0.4
    assert (pooled.tp, pooled.fp, pooled.fn) == (4, 6, 6)
    assert (pooled.precision, pooled.sensitivity, pooled.f1) == pytest.approx((0.4, 0.4, 0.4))


def test_pooled_empty_frames_and_length_check():
    empty = np.zeros((0, 2))
    c = pooled_detection_scores([empty, empty], [empty, empty])
    assert (c.tp, c.fp, c.fn, c.f1) == (0, 0, 0, 1.0)
    with pytest.raises(InputError, match="2 predicted frames but 1"):
        pooled_detection_scores([empty, empty], [empty])
