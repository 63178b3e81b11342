"""Tests of the real-frame suture evaluation (``training.sutures.evaluate --real``) and of the real split.

The pipeline tests run a genuine hand-weighted suture network
(:func:`heatmap_landmarks.testing.make_spot_detector`: one heatmap blob per
bright red disc) on a small tree laid out like the shared real-data folder,
so every count is known in advance. The tests on the real AdaptOR frames skip
when the shared folder is absent.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from heatmap_landmarks.sutures import SuturePredictor
from heatmap_landmarks.metrics import DetectionCounts, match_points
from heatmap_landmarks.phantoms.endoscopic_v2 import ENDOSCOPE_OVERLAY_BOX, LOGO_TEXT, OVERLAY, PRINTED_TEXT
from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector, realdata_root
from training.sutures import evaluate as ev
from training.datasets.adaptor import read_submission_json
from training.sutures.data import (
    REAL_ADAPTOR_INCOMPLETE,
    REAL_ADAPTOR_TRAIN,
    REAL_ADAPTOR_VALIDATION,
    PhantomSource,
)

REPO = Path(__file__).resolve().parents[1]
REAL = realdata_root()
needs_real = pytest.mark.skipif(not (REAL / "adaptor_real").is_dir(),
                                reason=f"real AdaptOR frames not found at {REAL / 'adaptor_real'} "
                                       "(set HEATMAP_LANDMARKS_REALDATA); they are never part of the project")


# ------------------------------------------------------------ box counting ---
def test_box_mask_rounds_fractional_edges_outward_and_clips():
    m = ev.box_mask((10, 20), (17.5, 8.2, 25, 12), 3)
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 3}
    ys, xs = np.nonzero(m)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (17, 19, 8, 9)


@pytest.mark.parametrize("points,expected", [
    (np.zeros((0, 2)), {"detections": 0, "any": 0, "overlay": 0, "printed_text": 0, "logo_text": 0}),
    ([[5.0, 5.0]], {"detections": 1, "any": 0, "overlay": 0, "printed_text": 0, "logo_text": 0}),
    ([[15.4, 2.0], [15.6, 2.0]], {"detections": 2, "any": 1, "overlay": 1, "printed_text": 0, "logo_text": 0}),
    ([[17.0, 8.0], [2.0, 9.0], [-3.0, 9.0]], {"detections": 3, "any": 3, "overlay": 1, "printed_text": 2,
                                                "logo_text": 0}),
])
def test_distractor_hits_count_detections_by_class(points, expected):
    mask = np.zeros((10, 20), np.uint8)
    mask[:, 16:] = OVERLAY
    mask[8:, :4] = PRINTED_TEXT
    assert ev.distractor_hits([np.asarray(points, np.float32)], [mask]) == expected


def test_distractor_hits_skip_frames_without_a_mask():
    hits = ev.distractor_hits([np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]])],
                              [None, np.full((4, 4), LOGO_TEXT, np.uint8)])
    assert hits["detections"] == 1 and hits["logo_text"] == 1


# ------------------------------------------------- a tree like realdata ---
def _write_frame(folder: Path, name: str, image: np.ndarray, labels=None):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "images" / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if labels is not None:
        (folder / "point_labels").mkdir(parents=True, exist_ok=True)
        data = {"points": [{"x": float(x), "y": float(y)} for x, y in labels],
                "imageHeight": image.shape[0], "imageWidth": image.shape[1]}
        (folder / "point_labels" / (os.path.splitext(name)[0] + ".json")).write_text(json.dumps(data))


def _spot_tree(root: Path) -> dict:
    """Frames at the real split's names whose answers are known; returns the expected counts per group.

    Every labelled frame k of a group has k + 2 discs with labels on them (one label 4 px off, still a hit),
    one label without a disc (a miss), one unlabelled disc in the overlay box (a false detection on the
    overlay) and, in sim frames, one unlabelled disc elsewhere (a false detection off the overlay).
    """
    expected = {}
    ox, oy = 452.0, 272.0  # inside ENDOSCOPE_OVERLAY_BOX
    for split, table in (("validation", REAL_ADAPTOR_VALIDATION), ("training", REAL_ADAPTOR_TRAIN),
                         ("incomplete", REAL_ADAPTOR_INCOMPLETE)):
        for domain, keys in table.items():
            tp = fp = fn = points = overlay = 0
            for k, key in enumerate(keys):
                op, video, name = key.split("/")
                discs = [(60.0 + 40 * j, 80.0 + 20 * (k % 3)) for j in range(k + 2)]
                labels = list(discs)
                labels[0] = (labels[0][0] + 4.0, labels[0][1])
                labels.append((300.0, 150.0))
                extra = [(ox, oy)] + ([(200.0, 220.0)] if domain == "sim" else [])
                image = draw_spot_frame((288, 512), discs + extra, dtype=np.uint8)
                _write_frame(root / "adaptor_real" / op / video, name, image, labels)
                tp, fn, fp = tp + len(discs), fn + 1, fp + len(extra)
                points, overlay = points + len(labels), overlay + 1
            expected[(domain, split)] = {"tp": tp, "fp": fp, "fn": fn, "points": points, "overlay": overlay,
                                         "frames": len(keys)}
    # An unlabelled 1024x576 intra-op frame: halved, its disc lands in the overlay box.
    big = draw_spot_frame((576, 1024), [(2 * ox + 0.5, 2 * oy + 0.5), (200.5, 200.5)], radius=6.0, dtype=np.uint8)
    _write_frame(root / "adaptor_real" / "intraop" / "website2022_unlabelled", "000000.png", big)
    expected[("intraop", "unlabelled")] = {"detections": 2, "overlay": 1, "frames": 1}
    # The logo frame (502 wide, 501 high): two discs inside the logo box, one above it.
    logo = draw_spot_frame((501, 502), [(100.0, 330.0), (300.0, 350.0), (250.0, 100.0)], dtype=np.uint8)
    (root / "adaptor_frame").mkdir(parents=True)
    cv2.imwrite(str(root / "adaptor_frame" / "AdaptOR.png"), cv2.cvtColor(logo, cv2.COLOR_RGB2BGR))
    expected[("intraop", "logo")] = {"detections": 3, "logo": 2, "frames": 1}
    return expected


@pytest.fixture(scope="module")
def spot_setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("real_eval")
    expected = _spot_tree(base / "realdata")
    card = make_spot_detector(base)
    return base / "realdata", card, expected


def test_evaluate_real_on_a_spot_detector_gives_the_known_counts(spot_setup):
    root, card, expected = spot_setup
    frames, preds, groups = ev.evaluate_real(SuturePredictor(card), root)
    by = {(g.domain, g.split): g for g in groups}
    assert set(by) == set(expected)
    for key, exp in expected.items():
        g = by[key]
        assert len(g.keys) == exp["frames"], key
        if "tp" in exp:
            assert (g.counts.tp, g.counts.fp, g.counts.fn) == (exp["tp"], exp["fp"], exp["fn"]), key
            assert g.points == exp["points"] and g.hits["overlay"] == exp["overlay"], key
            assert g.counts == sum(g.per_frame, DetectionCounts(0, 0, 0))
        else:
            assert g.counts is None and g.hits["detections"] == exp["detections"], key
            assert g.hits["overlay"] == exp.get("overlay", 0) and g.hits["logo_text"] == exp.get("logo", 0), key
    c = by[("intraop", "validation")].counts
    assert c.precision == pytest.approx(c.tp / (c.tp + c.fp))
    assert c.f1 == pytest.approx(2 * c.tp / (2 * c.tp + c.fp + c.fn))
    # The validation frames are exactly the split's, in order, with their masks on the overlay box.
    val = [rf for rf in frames if rf.split == "validation" and rf.domain == "sim"]
    assert [rf.key for rf in val] == list(REAL_ADAPTOR_VALIDATION["sim"])
    ys, xs = np.nonzero(val[0].mask == OVERLAY)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == ENDOSCOPE_OVERLAY_BOX


def test_run_real_writes_tables_files_and_refuses_to_overwrite(spot_setup, tmp_path):
    root, card, expected = spot_setup
    out = tmp_path / "eval"
    assert ev.main(["--weights", str(card), "--real", str(root), "--out", str(out), "--quiet"]) == 0
    md = (out / "real_results.md").read_text(encoding="utf-8")
    assert "Table 3 layout (intra-operative domain)" in md and "Table 2 layout (simulator domain)" in md
    e = expected[("intraop", "validation")]
    assert f"| **Pooled, real validation** | {e['frames']} | {e['points']} | {e['tp']} | {e['fp']} | {e['fn']} |" in md
    rows = list(csv.DictReader((out / "real_results.csv").open(encoding="utf-8")))
    n_frames = sum(v["frames"] for v in expected.values())
    assert len(rows) == n_frames + len(expected)  # one row per frame plus one pooled row per group
    summary = json.loads((out / "real_detections.json").read_text(encoding="utf-8"))
    assert summary["overlay_box"] == list(ENDOSCOPE_OVERLAY_BOX) and len(summary["frames"]) == n_frames
    sheet = cv2.imread(str(out / "real_sheet.png"))
    assert sheet.shape[1] == 4 * 512 and sheet.shape[0] % 288 == 0
    assert ev.main(["--weights", str(card), "--real", str(root), "--out", str(out), "--quiet"]) == 2
    assert ev.main(["--weights", str(card), "--real", str(root), "--phantom-seeds", "0:2", "--out",
                    str(tmp_path / "x"), "--quiet"]) == 2


def test_missing_real_folder_is_a_clear_error(tmp_path, capsys):
    card = make_spot_detector(tmp_path)
    assert ev.main(["--weights", str(card), "--real", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"),
                    "--quiet"]) == 2
    assert "adaptor_real" in capsys.readouterr().err


def test_tables_put_the_cards_phantom_numbers_of_the_same_domain_beside_the_real_ones():
    counts = DetectionCounts(3, 1, 2)
    group = ev.RealGroup("sim", "validation", ["sim/a/000001.png"], 5, counts, [counts],
                         {"detections": 4, "any": 1, "overlay": 1, "printed_text": 0, "logo_text": 0},
                         [{"detections": 4, "any": 1, "overlay": 1, "printed_text": 0, "logo_text": 0}])
    metrics = {"heldout_sim_wide": {"source": {"kind": "phantom", "domain": "sim"}, "frames": 160, "tp": 930,
                                    "fp": 2, "fn": 291, "precision": 0.99786, "sensitivity": 0.76167, "f1": 0.86391},
               "heldout_intraop_wide": {"source": {"kind": "phantom", "domain": "intraop"}, "frames": 256, "tp": 1,
                                        "fp": 0, "fn": 0, "precision": 1.0, "sensitivity": 1.0, "f1": 1.0},
               "real_val_sim": {"source": {"kind": "adaptor", "domain": "sim"}, "frames": 4, "tp": 0, "fp": 0,
                                "fn": 1, "precision": 0.0, "sensitivity": 0.0, "f1": 0.0}}
    md = ev.format_real_tables([group], metrics, "demo")
    assert "| **Pooled, real validation** | 1 | 5 | 3 | 1 | 2 | **75.00** | **60.00** | **66.67** | 4 | 1 |" in md
    assert "| Phantom v1 held-out (card: heldout_sim_wide) | 160 | 1221 | 930 | 2 | 291 | 99.79 | 76.17 | 86.39 |" in md
    assert "heldout_intraop_wide" not in md and "real_val_sim" not in md  # other domain / not a phantom


def test_phantom_v2_evaluation_counts_detections_on_its_distractor_masks(tmp_path):
    card = make_spot_detector(tmp_path)
    out = tmp_path / "eval"
    assert ev.main(["--weights", str(card), "--phantom-seeds", "5:8", "--phantom-version", "2", "--domain",
                    "intraop", "--folds", "2", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    preds = [e.points for e in read_submission_json(out / "submission.json")]
    src = PhantomSource(range(5, 8), domain="intraop", randomisation="wide", version=2, cache=False)
    assert summary["distractor_hits"] == ev.distractor_hits(preds, [src[i].distractors for i in range(3)])
    assert summary["distractor_hits"]["detections"] == sum(len(p) for p in preds)
    assert "Detections on distractors" in (out / "results.md").read_text(encoding="utf-8")


# -------------------------------------------------------------- the split ---
def test_real_split_is_disjoint_and_the_v2_config_uses_it():
    for domain in ("intraop", "sim"):
        assert not set(REAL_ADAPTOR_TRAIN[domain]) & set(REAL_ADAPTOR_VALIDATION[domain])
        assert not set(REAL_ADAPTOR_INCOMPLETE.get(domain, ())) & (set(REAL_ADAPTOR_TRAIN[domain])
                                                                    | set(REAL_ADAPTOR_VALIDATION[domain]))
    assert (len(REAL_ADAPTOR_VALIDATION["intraop"]), len(REAL_ADAPTOR_VALIDATION["sim"])) == (3, 4)
    cfg = json.loads((REPO / "training" / "configs" / "sutures_v2.json").read_text(encoding="utf-8"))
    real_train = [s for s in cfg["train"] if s["kind"] == "adaptor"]
    assert len(real_train) == 1
    assert sorted(real_train[0]["frames"]) == sorted(REAL_ADAPTOR_TRAIN["intraop"] + REAL_ADAPTOR_TRAIN["sim"])
    tests = {t["name"]: t for t in cfg["test"]}
    for domain in ("intraop", "sim"):
        assert tests[f"real_val_{domain}"]["frames"] == list(REAL_ADAPTOR_VALIDATION[domain])
        assert tests[f"real_val_{domain}"]["domain"] == domain
    # Neither checkpoint nor decoder is chosen on real frames.
    assert all(v["kind"] == "phantom" and v.get("version") == 2 for v in cfg["val"])


# ----------------------------------------------------- real AdaptOR frames ---
@needs_real
def test_real_split_matches_the_index_and_covers_every_labelled_frame():
    index = json.loads((REAL / "adaptor_real" / "INDEX.json").read_text(encoding="utf-8"))
    labelled = {}
    for entry in index:
        if entry["labels"] is None:
            continue
        domain, source, _, name = entry["image"].split("/")
        labelled[f"{domain}/{source}/{name}"] = entry["points"]
    split = [k for table in (REAL_ADAPTOR_VALIDATION, REAL_ADAPTOR_TRAIN, REAL_ADAPTOR_INCOMPLETE)
             for keys in table.values() for k in keys]
    assert sorted(split) == sorted(labelled) and len(split) == len(set(split))
    frames = ev.real_frames(REAL)
    for rf in frames:
        if rf.labelled:
            assert len(rf.frame.points) == labelled[rf.key], rf.key
    assert sum(len(rf.frame.points) for rf in frames if rf.split == "validation" and rf.domain == "intraop") == 31
    assert sum(len(rf.frame.points) for rf in frames if rf.split == "validation" and rf.domain == "sim") == 36


@needs_real
def test_overlay_box_holds_the_real_scope_icons_and_no_label():
    """On every fully labelled real frame the saturated blue/green icon pixels of the bottom-right corner all
    lie inside ENDOSCOPE_OVERLAY_BOX, and no labelled point does."""
    x0, y0, x1, y1 = ENDOSCOPE_OVERLAY_BOX
    for rf in ev.real_frames(REAL):
        if rf.split not in ("validation", "training"):
            continue
        im = rf.frame.image
        icon = (np.maximum(im[..., 1], im[..., 2]) - im[..., 0] > 0.3) & (im.max(axis=2) - im.min(axis=2) > 0.35)
        in_box = int(icon[y0:y1, x0:x1].sum())
        assert in_box >= 20 and in_box == int(icon[240:, 380:].sum()), rf.key
        p = rf.frame.points
        assert not np.any((p[:, 0] >= x0) & (p[:, 0] < x1) & (p[:, 1] >= y0) & (p[:, 1] < y1)), rf.key


@needs_real
def test_logo_box_holds_all_of_the_logo():
    logo = [rf for rf in ev.real_frames(REAL) if rf.split == "logo"]
    assert len(logo) == 1
    im = logo[0].frame.image
    strokes = (im.min(axis=2) > 235 / 255) | ((im[..., 2] > 150 / 255) & (im[..., 2] - im[..., 0] > 70 / 255))
    strokes[:260] = False
    strokes[400:] = False
    inside = strokes & (logo[0].mask == LOGO_TEXT)
    assert strokes.sum() > 5000 and inside.sum() == strokes.sum()


@needs_real
def test_shipped_model_on_real_frames_agrees_with_a_direct_computation():
    predictor = SuturePredictor(REPO / "heatmap_landmarks" / "weights" / "sutures.json")
    frames, preds, groups = ev.evaluate_real(predictor, REAL)
    val = [i for i, rf in enumerate(frames) if rf.split == "validation" and rf.domain == "intraop"]
    direct = [next(predictor.predict_sutures([frames[i].frame.image])).points for i in val]
    counts = DetectionCounts(0, 0, 0)
    for i, p in zip(val, direct):
        np.testing.assert_allclose(preds[i], p, atol=1e-4)
        pairs, fp, fn = match_points(p, frames[i].frame.points, 6.0)
        counts = counts + DetectionCounts(len(pairs), len(fp), len(fn))
    g = next(g for g in groups if g.domain == "intraop" and g.split == "validation")
    assert g.counts == counts and g.points == 31
    assert g.hits["overlay"] <= g.hits["detections"] == sum(len(p) for p in direct)
