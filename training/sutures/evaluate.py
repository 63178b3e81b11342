"""Evaluate suture weights: matched precision / sensitivity / F1 per surgery-level fold.

Runs the shipped inference path (:meth:`heatmap_landmarks.inference.SuturePredictor.predict_sutures`,
i.e. the card's normalisation and decoder) on phantom frames and/or an AdaptOR
tree, matches predictions to the truth within 6 px (closest pairs first,
one-to-one: :func:`heatmap_landmarks.metrics.match_points`), pools TP/FP/FN
over all frames of each fold and reports precision, sensitivity and F1 per
fold and their mean +- std (sample std, ddof=1), in the layout of Yao et al.'s
Tables 2 (simulator domain, 5 folds) and 3 (intra-operative domain, 4 folds).

Folds are surgery-level (:func:`training.datasets.splits.adaptor_folds`): an
AdaptOR ``<op>`` or a phantom seed group is never split. With one trained
model the folds are a partition of the evaluated frames by surgery (how much
the score varies between surgeries), not a cross-validation of training runs.

Writes to ``--out``: ``results.md`` (table), ``results.csv`` (one row per
fold, plus mean, std and pooled rows), ``submission.json`` (challenge format,
via :func:`training.datasets.adaptor.write_submission_json`) and ``summary.json``.
Version-2 phantom frames (``--phantom-version 2``) carry a distractor mask;
the table then adds how many detections fall on the endoscope overlay,
printed text and logos/text.

``--real [REALDATA]`` evaluates instead on the real AdaptOR frames of the
shared real-data folder (:func:`evaluate_real`; default
:func:`heatmap_landmarks.testing.realdata_root`): per domain, precision,
sensitivity and F1 at 6 px with one-to-one matching, pooled over the real
validation frames (:data:`training.sutures.data.REAL_ADAPTOR_VALIDATION`),
beside the card's held-out phantom numbers, and the detections on the
endoscope overlay box (:data:`~heatmap_landmarks.phantoms.endoscopic_v2.ENDOSCOPE_OVERLAY_BOX`)
and on the logo of ``adaptor_frame/AdaptOR.png`` (:data:`ADAPTOR_LOGO_BOX`);
it writes ``real_results.md``, ``real_results.csv``, ``real_detections.json``
and ``real_sheet.png``.

Example::

    python -m training.sutures.evaluate --weights heatmap_landmarks/weights/sutures.json \\
        --phantom-seeds 900000:900200 --domain intraop --out runs/eval_sutures
    python -m training.sutures.evaluate --weights heatmap_landmarks/weights/sutures.json \\
        --real --out runs/eval_sutures_real
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from heatmap_landmarks.errors import InputError, refuse_overwrite
from heatmap_landmarks.fileutil import atomic_path, atomic_text_file
from heatmap_landmarks.sutures.decode import decode_sutures
from heatmap_landmarks.metrics import DetectionCounts, match_points, pooled_detection_scores, write_csv
from heatmap_landmarks.phantoms.endoscopic_v2 import DISTRACTOR_NAMES, ENDOSCOPE_OVERLAY_BOX
from heatmap_landmarks.testing import realdata_root

from ..common import one_line_errors
from ..common.config import parse_seed_range
from ..datasets.adaptor import SubmissionEntry, write_submission_json
from ..datasets.splits import ADAPTOR_FOLDS, adaptor_folds
from .data import (
    DEFAULT_GROUP_SIZE,
    REAL_ADAPTOR_INCOMPLETE,
    REAL_ADAPTOR_TRAIN,
    REAL_ADAPTOR_VALIDATION,
    AdaptorSource,
    Frame,
    PhantomSource,
)

log = logging.getLogger("training.sutures.evaluate")

#: Matching radius of the AdaptOR challenge, pixels.
MATCH_RADIUS_PX = 6.0


# --------------------------------------------------------------------------- scoring
@dataclass
class FoldResult:
    """Pooled detection counts of one fold (a set of whole surgeries)."""

    fold: int
    groups: list
    frames: int
    points: int
    counts: DetectionCounts

    def row(self) -> dict:
        c = self.counts
        return {"fold": self.fold, "surgeries": len(self.groups), "frames": self.frames, "points": self.points,
                "tp": c.tp, "fp": c.fp, "fn": c.fn, "precision": c.precision, "sensitivity": c.sensitivity,
                "f1": c.f1}


def frame_counts(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                 radius: float = MATCH_RADIUS_PX) -> list[DetectionCounts]:
    """Per-frame TP/FP/FN (closest-pair one-to-one matching within ``radius`` px)."""
    out = []
    for p, g in zip(preds, gts):
        pairs, fp, fn = match_points(p, g, radius)
        out.append(DetectionCounts(len(pairs), len(fp), len(fn)))
    return out


def fold_results(groups: Sequence[str], preds, gts, domain: str, *, seed: int = 0,
                 radius: float = MATCH_RADIUS_PX, n_folds: int | None = None) -> list[FoldResult]:
    """Split frames into surgery-level folds and pool the counts of each.

    ``domain`` picks the seed's fold count (5 sim, 4 intraop) unless ``n_folds``
    is given; with fewer surgeries than folds, each surgery is its own fold.
    """
    from ..datasets.splits import kfold_splits

    distinct = sorted(set(groups))
    k = n_folds if n_folds is not None else ADAPTOR_FOLDS[domain]
    k = min(k, len(distinct))
    if k < 2:
        folds = [list(range(len(groups)))]
        fold_groups = [distinct]
    else:
        splits = adaptor_folds(groups, domain, seed=seed) if n_folds is None and k == ADAPTOR_FOLDS[domain] \
            else kfold_splits(groups, k, val_fraction=0.0, seed=seed, balance="samples")
        folds = [s.test for s in splits]
        fold_groups = [s.test_groups for s in splits]
    per_frame = frame_counts(preds, gts, radius)
    results = []
    for f, (idx, gr) in enumerate(zip(folds, fold_groups), start=1):
        total = sum((per_frame[i] for i in idx), DetectionCounts(0, 0, 0))
        results.append(FoldResult(f, list(gr), len(idx), int(sum(len(gts[i]) for i in idx)), total))
    return results


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value).

    >>> mean_std([0.5, 0.7])
    (0.6, 0.1414)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return round(float(v.mean()), 4), round(std, 4)


def summary_rows(results: Sequence[FoldResult], pooled: DetectionCounts) -> list[dict]:
    """CSV rows: one per fold, then ``mean``, ``std`` and ``pooled`` (all frames)."""
    rows = [r.row() for r in results]
    mean_row: dict = {"fold": "mean"}
    std_row: dict = {"fold": "std"}
    for key in ("precision", "sensitivity", "f1"):
        m, s = mean_std([r[key] for r in rows])
        mean_row[key], std_row[key] = m, s
    pooled_row = {"fold": "pooled", "surgeries": sum(r["surgeries"] for r in rows),
                  "frames": sum(r["frames"] for r in rows), "points": sum(r["points"] for r in rows),
                  **pooled.to_dict()}
    return rows + [mean_row, std_row, pooled_row]


def format_table(results: Sequence[FoldResult], pooled: DetectionCounts, title: str) -> str:
    """Markdown table in the seed's layout: Fold | Precision | Sensitivity | F1 (%), then Mean +- std.

    >>> r = [FoldResult(1, ["a"], 2, 4, DetectionCounts(3, 1, 1)), FoldResult(2, ["b"], 2, 4, DetectionCounts(4, 0, 0))]
    >>> print(format_table(r, DetectionCounts(7, 1, 1), "Demo").splitlines()[4])
    | 1 | 1 | 2 | 4 | 3 | 1 | 1 | 75.00 | 75.00 | 75.00 |
    """
    head = ["Fold", "Surgeries", "Frames", "Points", "TP", "FP", "FN", "Precision (%)", "Sensitivity (%)", "F1 (%)"]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        c = r.counts
        lines.append(f"| {r.fold} | {len(r.groups)} | {r.frames} | {r.points} | {c.tp} | {c.fp} | {c.fn} | "
                     f"{100 * c.precision:.2f} | {100 * c.sensitivity:.2f} | {100 * c.f1:.2f} |")
    cells = []
    for key in ("precision", "sensitivity", "f1"):
        m, s = mean_std([getattr(r.counts, key) for r in results])
        cells.append(f"{100 * m:.2f} ± {100 * s:.2f}")
    lines.append(f"| Mean ± std | | | | | | | {' | '.join(cells)} |")
    lines.append(f"| Pooled | {sum(len(r.groups) for r in results)} | {sum(r.frames for r in results)} | "
                 f"{sum(r.points for r in results)} | {pooled.tp} | {pooled.fp} | {pooled.fn} | "
                 f"{100 * pooled.precision:.2f} | {100 * pooled.sensitivity:.2f} | {100 * pooled.f1:.2f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- prediction
def predict_points(predictor, frames: Iterable[Frame], *, decoder: dict | None = None,
                   progress=None) -> list[np.ndarray]:
    """Points ``(M, 2)`` per frame through ``SuturePredictor.predict_sutures`` (heatmaps not kept)."""
    frames = list(frames)
    preds = predictor.predict_sutures((f.image for f in frames), return_heatmaps=False, decoder=decoder,
                                      progress=progress, total=len(frames))
    return [p.points for p in preds]


def heatmaps_of(model, frames: Sequence[np.ndarray], *, mean, std, device="cpu", batch_size: int = 4) -> list:
    """Sigmoid heatmaps ``(H, W)`` float32 of RGB frames, preprocessed as inference does (for decoder search)."""
    import torch

    from heatmap_landmarks.preprocess import prepare_suture_frame

    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            chunk = frames[start:start + batch_size]
            prepared = [prepare_suture_frame(f, mean=mean, std=std) for f in chunk]
            x = torch.from_numpy(np.stack([p[0] for p in prepared])).to(device)
            y = torch.sigmoid(model(x).float()).cpu().numpy()
            for hm, f in zip(y, chunk):
                out.append(np.ascontiguousarray(hm[0, :f.shape[0], :f.shape[1]]))
    return out


#: Decoder settings tried by :func:`choose_decoder` (the product of all lists).
DEFAULT_DECODER_GRID = {
    "threshold": [None, 0.5],
    "opening_kernel": [0, 3],
    "cut": [True, False],
    "cut_ratio": [1.0, 1.25, 1.5],
    "min_confidence": [0.0, 0.3, 0.5],
}


def _grid(grid: dict) -> list[dict]:
    combos = [{}]
    for key, values in grid.items():
        combos = [{**c, key: v} for c in combos for v in values]
    # cut_ratio means nothing when cut is off: keep one of those
    seen, out = set(), []
    for c in combos:
        if c.get("cut") is False:
            c = {**c, "cut_ratio": 1.0}
        key = json.dumps(c, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def choose_decoder(heatmaps: Sequence[np.ndarray], gts: Sequence[np.ndarray], grid: dict | None = None,
                   radius: float = MATCH_RADIUS_PX) -> tuple[dict, list[dict]]:
    """Pick the decode settings with the best pooled F1 on validation heatmaps.

    Ties go to the earlier setting in grid order. Returns ``(best settings,
    table of every setting with its counts)``.

    >>> from heatmap_landmarks.heatmaps import encode_heatmap
    >>> hm = [encode_heatmap([[10, 10], [30, 12]], (32, 48))]
    >>> best, table = choose_decoder(hm, [np.array([[10, 10], [30, 12]])], {"min_confidence": [0.0, 0.5]})
    >>> best, table[0]["f1"]
    ({'min_confidence': 0.0}, 1.0)
    """
    rows = []
    best, best_f1 = None, -1.0
    for settings in _grid(grid or DEFAULT_DECODER_GRID):
        preds = [decode_sutures(h, **settings)[0] for h in heatmaps]
        c = pooled_detection_scores(preds, gts, radius)
        rows.append({**{k: ("otsu" if v is None else v) for k, v in settings.items()}, **c.to_dict()})
        if c.f1 > best_f1 + 1e-12:
            best, best_f1 = settings, c.f1
    return best, rows


# --------------------------------------------------------------------------- detections on distractors
def box_mask(shape, box, value: int = 1) -> np.ndarray:
    """``(H, W)`` uint8 with ``value`` inside ``box`` = ``(x0, y0, x1, y1)`` pixels (x1, y1 exclusive; fractional
    edges are rounded outward), 0 elsewhere.

    >>> box_mask((4, 6), (1, 1, 3.5, 3)).sum(axis=0).tolist()
    [0, 2, 2, 2, 0, 0]
    """
    h, w = int(shape[0]), int(shape[1])
    x0, y0, x1, y1 = box
    out = np.zeros((h, w), np.uint8)
    rows = slice(max(0, math.floor(y0)), max(0, min(h, math.ceil(y1))))
    cols = slice(max(0, math.floor(x0)), max(0, min(w, math.ceil(x1))))
    out[rows, cols] = value
    return out


def distractor_hits(preds: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]) -> dict:
    """Count detections that fall on distractors.

    Args:
        preds: per frame ``(M, 2)`` float (x, y) pixels.
        masks: per frame ``(H, W)`` uint8 distractor mask (values of
            :data:`heatmap_landmarks.phantoms.endoscopic_v2.DISTRACTOR_NAMES`,
            0 = none) or None (not counted).

    Returns:
        ``{"detections": all detections on frames with a mask, "any": on a
        distractor, "overlay": ..., "printed_text": ..., "logo_text": ...}``; a
        detection counts where its nearest pixel is non-zero in the mask.

    >>> m = np.zeros((10, 10), np.uint8); m[8:, 6:] = 1
    >>> distractor_hits([np.array([[7.0, 8.2], [2.0, 2.0]])], [m])["overlay"]
    1
    """
    out = {"detections": 0, "any": 0, **{name: 0 for name in DISTRACTOR_NAMES.values()}}
    for p, m in zip(preds, masks):
        if m is None:
            continue
        p = np.asarray(p, np.float64).reshape(-1, 2)
        out["detections"] += len(p)
        if not len(p):
            continue
        h, w = m.shape
        ix = np.clip(np.round(p[:, 0]).astype(int), 0, w - 1)
        iy = np.clip(np.round(p[:, 1]).astype(int), 0, h - 1)
        values = m[iy, ix]
        out["any"] += int((values > 0).sum())
        for code, name in DISTRACTOR_NAMES.items():
            out[name] += int((values == code).sum())
    return out


# --------------------------------------------------------------------------- real AdaptOR frames
#: The AdaptOR logo drawn over ``<realdata>/adaptor_frame/AdaptOR.png`` (502x501): ``(x0, y0, x1, y1)`` pixels,
#: x1/y1 exclusive, measured on its white letters and blue outline (x 14-414, y 290-388).
ADAPTOR_LOGO_BOX = (12, 286, 418, 390)
#: Splits of the real frames, in report order.
REAL_SPLITS = ("validation", "training", "incomplete", "unlabelled", "logo")


@dataclass
class RealFrame:
    """One real frame for :func:`evaluate_real`.

    Attributes:
        frame: the image ``(H, W, 3)`` float32 and its points ``(N, 2)`` float32 (x, y) px (empty if unlabelled).
        domain: ``"intraop"`` or ``"sim"``.
        split: one of :data:`REAL_SPLITS`: ``validation`` (kept out of training),
            ``training`` (``REAL_ADAPTOR_TRAIN``), ``incomplete`` (labels miss points:
            only sensitivity means something), ``unlabelled`` (detections counted),
            ``logo`` (the challenge's logo frame: detections counted).
        mask: ``(H, W)`` uint8 distractor mask: the endoscope overlay box
            (:data:`~heatmap_landmarks.phantoms.endoscopic_v2.ENDOSCOPE_OVERLAY_BOX`,
            value ``OVERLAY``) on 512x288 frames, the logo box (``LOGO_TEXT``) on the logo frame.
        key: ``"<domain>/<source>/<name>"`` or the file name.
    """

    frame: Frame
    domain: str
    split: str
    mask: np.ndarray
    key: str

    @property
    def labelled(self) -> bool:
        return self.split in ("validation", "training", "incomplete")


def real_frames(root) -> list[RealFrame]:
    """The real frames under ``root`` (the real-data folder: ``adaptor_real/``, ``adaptor_frame/AdaptOR.png``).

    Labelled frames come through :class:`~training.sutures.data.AdaptorSource`
    (``adaptor_real`` is an AdaptOR layout whose ``<op>`` is the domain). The
    unlabelled 1024x576 intra-op frames are halved to the challenge's 512x288
    (where the overlay box applies); the 997x480 unlabelled sim screenshot is
    left out (a video player's controls, not the scope's overlay). Raises
    :class:`InputError` when ``adaptor_real`` is missing.
    """
    import cv2

    from heatmap_landmarks.phantoms.endoscopic_v2 import LOGO_TEXT, OVERLAY

    from ..datasets.adaptor import read_png_rgb

    root = os.fspath(root)
    base = os.path.join(root, "adaptor_real")
    if not os.path.isdir(base):
        raise InputError(base, "not found: the real AdaptOR frames live only in the shared real-data folder")
    out: list[RealFrame] = []
    for split, table in (("validation", REAL_ADAPTOR_VALIDATION), ("training", REAL_ADAPTOR_TRAIN),
                         ("incomplete", REAL_ADAPTOR_INCOMPLETE)):
        for domain, keys in table.items():
            src = AdaptorSource(base, frames=list(keys))
            for i in range(len(src)):
                f = src[i]
                if f.image.shape[:2] != (288, 512):
                    raise InputError(src.frames[i].image_path, f"expected a 512x288 frame, got {f.image.shape[1]}x"
                                                               f"{f.image.shape[0]}")
                key = f"{f.group}/{f.video}/{f.name}"
                out.append(RealFrame(f, domain, split, box_mask((288, 512), ENDOSCOPE_OVERLAY_BOX, OVERLAY), key))
    folder = os.path.join(base, "intraop", "website2022_unlabelled", "images")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.lower().endswith(".png"):
            continue
        image = read_png_rgb(os.path.join(folder, name))
        if image.shape[:2] != (576, 1024):
            continue
        image = cv2.resize(image, (512, 288), interpolation=cv2.INTER_AREA)
        frame = Frame(image, np.zeros((0, 2), np.float32), "intraop", "website2022_unlabelled", name)
        out.append(RealFrame(frame, "intraop", "unlabelled", box_mask((288, 512), ENDOSCOPE_OVERLAY_BOX, OVERLAY),
                             f"intraop/website2022_unlabelled/{name} (halved)"))
    logo = os.path.join(root, "adaptor_frame", "AdaptOR.png")
    if os.path.isfile(logo):
        image = read_png_rgb(logo)
        frame = Frame(image, np.zeros((0, 2), np.float32), "adaptor_frame", "adaptor_frame", "AdaptOR.png")
        out.append(RealFrame(frame, "intraop", "logo", box_mask(image.shape, ADAPTOR_LOGO_BOX, LOGO_TEXT),
                             "adaptor_frame/AdaptOR.png"))
    return out


@dataclass
class RealGroup:
    """Pooled results of one (domain, split) group of real frames."""

    domain: str
    split: str
    keys: list
    points: int
    counts: DetectionCounts | None  # None for unlabelled groups
    per_frame: list  # DetectionCounts or None per frame
    hits: dict  # distractor_hits of the group
    per_frame_hits: list  # distractor_hits per frame

    def row(self) -> dict:
        c = self.counts
        row = {"domain": self.domain, "split": self.split, "frame": "pooled", "frames": len(self.keys),
               "points": self.points, "detections": self.hits["detections"],
               "on_overlay": self.hits["overlay"], "on_logo_text": self.hits["logo_text"]}
        if c is not None:
            row.update(tp=c.tp, fp=c.fp, fn=c.fn, precision=c.precision, sensitivity=c.sensitivity, f1=c.f1)
        return row


def evaluate_real(predictor, root, *, radius: float = MATCH_RADIUS_PX, decoder: dict | None = None,
                  progress=None) -> tuple[list[RealFrame], list[np.ndarray], list[RealGroup]]:
    """Run ``predictor`` on every frame of :func:`real_frames` and score each (domain, split) group.

    Labelled groups: TP/FP/FN with one-to-one matching within ``radius`` px
    (:func:`heatmap_landmarks.metrics.match_points`), pooled over the frames,
    then precision, sensitivity, F1. Every group: detections on the overlay box
    or the logo box (:func:`distractor_hits`).

    Returns:
        ``(frames, predicted points per frame ((M, 2) float32 px), groups)``.
    """
    frames = real_frames(root)
    preds = predict_points(predictor, [rf.frame for rf in frames], decoder=decoder, progress=progress)
    groups = []
    for domain in ("intraop", "sim"):
        for split in REAL_SPLITS:
            idx = [i for i, rf in enumerate(frames) if rf.domain == domain and rf.split == split]
            if not idx:
                continue
            labelled = frames[idx[0]].labelled
            per_frame = frame_counts([preds[i] for i in idx], [frames[i].frame.points for i in idx], radius) \
                if labelled else [None] * len(idx)
            counts = sum(per_frame, DetectionCounts(0, 0, 0)) if labelled else None
            groups.append(RealGroup(
                domain, split, [frames[i].key for i in idx], int(sum(len(frames[i].frame.points) for i in idx)),
                counts, per_frame, distractor_hits([preds[i] for i in idx], [frames[i].mask for i in idx]),
                [distractor_hits([preds[i]], [frames[i].mask]) for i in idx]))
    return frames, preds, groups


def _pct(x) -> str:
    return f"{100 * x:.2f}"


def format_real_tables(groups: Sequence[RealGroup], card_metrics: dict | None, title: str,
                       radius: float = MATCH_RADIUS_PX) -> str:
    """Markdown: per domain, the seed's Table 3 (intra-op) / Table 2 (sim) columns for the real validation
    frames (one row per frame, then pooled), next to the card's held-out phantom numbers of that domain;
    then the other real frames (training, incomplete labels, unlabelled, logo) with their detections on the
    overlay and logo boxes."""
    lines = [f"**{title}**", "",
             f"Matching radius {radius:g} px, closest pairs first, one-to-one; TP/FP/FN pooled over the frames. "
             f"Overlay box (x0, y0, x1, y1) = {ENDOSCOPE_OVERLAY_BOX} px on 512x288 frames; "
             f"logo box {ADAPTOR_LOGO_BOX} px on adaptor_frame/AdaptOR.png.", ""]
    head = ["Data", "Frames", "Points", "TP", "FP", "FN", "Precision (%)", "Sensitivity (%)", "F1 (%)",
            "Detections", "On overlay"]
    names = {"intraop": "Table 3 layout (intra-operative domain)", "sim": "Table 2 layout (simulator domain)"}
    for domain in ("intraop", "sim"):
        val = [g for g in groups if g.domain == domain and g.split == "validation"]
        if not val:
            continue
        g = val[0]
        lines += [f"**{names[domain]}: real validation frames**", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        for key, c, hits in zip(g.keys, g.per_frame, g.per_frame_hits):
            n = c.tp + c.fn
            lines.append(f"| {key} | 1 | {n} | {c.tp} | {c.fp} | {c.fn} | {_pct(c.precision)} | "
                         f"{_pct(c.sensitivity)} | {_pct(c.f1)} | {hits['detections']} | {hits['overlay']} |")
        c = g.counts
        lines.append(f"| **Pooled, real validation** | {len(g.keys)} | {g.points} | {c.tp} | {c.fp} | {c.fn} | "
                     f"**{_pct(c.precision)}** | **{_pct(c.sensitivity)}** | **{_pct(c.f1)}** | "
                     f"{g.hits['detections']} | {g.hits['overlay']} |")
        for name, m in sorted((card_metrics or {}).items()):
            src = m.get("source", {}) if isinstance(m, dict) else {}
            if not (isinstance(m, dict) and src.get("kind") == "phantom" and src.get("domain") == domain
                    and "f1" in m and "tp" in m):
                continue
            version = src.get("version", 1)
            lines.append(f"| Phantom v{version} held-out (card: {name}) | {m.get('frames', '')} | "
                         f"{m['tp'] + m['fn']} | {m['tp']} | {m['fp']} | {m['fn']} | {_pct(m['precision'])} | "
                         f"{_pct(m['sensitivity'])} | {_pct(m['f1'])} | {m['tp'] + m['fp']} | n/a |")
        lines.append("")
    lines += ["**Other real frames**", "",
              "| Domain | Frames | Labelled points | TP | FP | FN | Precision (%) | Sensitivity (%) | F1 (%) | "
              "Detections | On overlay box | On logo box |", "|" + "---|" * 12]
    notes = {"training": "training split (REAL_ADAPTOR_TRAIN)",
             "incomplete": "incomplete labels (precision is a lower bound)",
             "unlabelled": "unlabelled, halved to 512x288", "logo": "adaptor_frame/AdaptOR.png (logo, no labels)"}
    for g in groups:
        if g.split == "validation":
            continue
        c = g.counts
        cells = [f"{g.domain}: {notes[g.split]}", str(len(g.keys))]
        cells += ([str(g.points), str(c.tp), str(c.fp), str(c.fn), _pct(c.precision), _pct(c.sensitivity),
                   _pct(c.f1)] if c is not None else [""] * 7)
        cells += [str(g.hits["detections"]), str(g.hits["overlay"]), str(g.hits["logo_text"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_sheet(frames: Sequence[RealFrame], preds: Sequence[np.ndarray], *, columns: int = 4,
               radius: float = MATCH_RADIUS_PX) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB contact sheet: each frame fitted into 512x288 with its truth as green rings
    (radius = matching radius), detections as red crosses and the overlay/logo box in yellow."""
    import cv2

    tiles = []
    for rf, p in zip(frames, preds):
        img = np.round(np.clip(rf.frame.image, 0, 1) * 255).astype(np.uint8)
        h, w = img.shape[:2]
        f = min(512 / w, 288 / h)
        img = cv2.resize(img, (int(round(w * f)), int(round(h * f))), interpolation=cv2.INTER_AREA)
        tile = np.zeros((288, 512, 3), np.uint8)
        tile[:img.shape[0], :img.shape[1]] = img
        x, y, bw, bh = cv2.boundingRect(rf.mask)
        cv2.rectangle(tile, (int(x * f), int(y * f)), (int((x + bw) * f), int((y + bh) * f)), (255, 220, 0), 1)
        for q in rf.frame.points:
            cv2.circle(tile, (int(round(q[0] * f)), int(round(q[1] * f))), max(2, int(round(radius * f))),
                       (0, 255, 0), 1, cv2.LINE_AA)
        for q in np.asarray(p).reshape(-1, 2):
            c = (int(round(q[0] * f)), int(round(q[1] * f)))
            cv2.drawMarker(tile, c, (255, 0, 0), cv2.MARKER_CROSS, 9, 2)
        cv2.putText(tile, f"{rf.split}: {rf.key}"[:70], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros((288, 512, 3), np.uint8))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def run_real(predictor, root, out: str, *, radius: float = MATCH_RADIUS_PX, overwrite: bool = False,
             quiet: bool = False) -> dict:
    """Evaluate on the real frames and write ``real_results.md``, ``real_results.csv`` (one row per frame
    and per pooled group), ``real_detections.json`` and ``real_sheet.png`` to ``out``; returns the summary."""
    import cv2

    names = ("real_results.md", "real_results.csv", "real_detections.json", "real_sheet.png")
    paths = [os.path.join(out, n) for n in names]
    for path in paths:
        refuse_overwrite(path, overwrite)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    frames, preds, groups = evaluate_real(predictor, root, radius=radius)
    seconds = time.perf_counter() - t0
    title = (f"{os.path.basename(str(predictor.weights_path))} on the real AdaptOR frames in {root} "
             f"(decoder {predictor.card.decoder})")
    table = format_real_tables(groups, predictor.card.metrics, title, radius)
    if not quiet:
        print(table)
    with atomic_text_file(paths[0], overwrite=True) as fh:
        fh.write(table + "\n")
    rows = []
    for g in groups:
        for key, c, hits in zip(g.keys, g.per_frame, g.per_frame_hits):
            row = {"domain": g.domain, "split": g.split, "frame": key, "frames": 1,
                   "points": (c.tp + c.fn) if c is not None else "", "detections": hits["detections"],
                   "on_overlay": hits["overlay"], "on_logo_text": hits["logo_text"]}
            if c is not None:
                row.update(tp=c.tp, fp=c.fp, fn=c.fn, precision=c.precision, sensitivity=c.sensitivity, f1=c.f1)
            rows.append(row)
        rows.append(g.row())
    write_csv(rows, paths[1], overwrite=overwrite)
    detections = [{"frame": rf.key, "domain": rf.domain, "split": rf.split,
                   "points": [[round(float(x), 2), round(float(y), 2)] for x, y in np.asarray(p).reshape(-1, 2)]}
                  for rf, p in zip(frames, preds)]
    summary = {"weights": str(predictor.weights_path), "realdata": os.fspath(root), "radius_px": radius,
               "decoder": predictor.card.decoder, "overlay_box": list(ENDOSCOPE_OVERLAY_BOX),
               "logo_box": list(ADAPTOR_LOGO_BOX), "groups": [g.row() for g in groups],
               "frames": detections, "seconds": round(seconds, 2)}
    with atomic_text_file(paths[2], overwrite=True) as fh:
        json.dump(summary, fh, indent=1)
        fh.write("\n")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(real_sheet(frames, preds, radius=radius), cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(paths[3], "PNG encoding failed")
    with atomic_path(paths[3], overwrite=True) as tmp:
        tmp.write_bytes(buf.tobytes())
    return summary


# --------------------------------------------------------------------------- CLI
def load_frames(args) -> tuple[list[Frame], str]:
    """Frames to evaluate from ``--phantom-seeds`` and/or ``--adaptor-root``, plus a description."""
    frames: list[Frame] = []
    parts = []
    if args.phantom_seeds:
        src = PhantomSource(list(parse_seed_range(args.phantom_seeds, "--phantom-seeds")), domain=args.domain,
                            randomisation=args.randomisation, group_size=args.group_size, cache=False,
                            version=args.phantom_version)
        frames += [src[i] for i in range(len(src))]
        parts.append(f"{len(src)} phantom v{args.phantom_version} frames (domain {args.domain}, randomisation "
                     f"{args.randomisation}, seeds {args.phantom_seeds}, {args.group_size} seeds per surgery)")
    if args.adaptor_root:
        src = AdaptorSource(args.adaptor_root, strict=not args.skip_bad_frames)
        for i in range(len(src)):
            try:
                frames.append(src[i])
            except InputError as err:
                if not args.skip_bad_frames:
                    raise
                src.report.skip(src.frames[i].image_path, "invalid frame", str(err))
        parts.append(f"AdaptOR {args.adaptor_root}: {src.report.summary()}")
    if not frames:
        raise InputError(None, "nothing to evaluate: give --phantom-seeds A:B and/or --adaptor-root DIR")
    return frames, "; ".join(parts)


def evaluate(predictor, frames: Sequence[Frame], domain: str, *, radius: float = MATCH_RADIUS_PX,
             seed: int = 0, n_folds: int | None = None, decoder: dict | None = None, progress=None):
    """Predict and score; returns ``(preds, fold results, pooled counts)``."""
    preds = predict_points(predictor, frames, decoder=decoder, progress=progress)
    gts = [f.points for f in frames]
    results = fold_results([f.group for f in frames], preds, gts, domain, seed=seed, radius=radius,
                           n_folds=n_folds)
    pooled = pooled_detection_scores(preds, gts, radius)
    return preds, results, pooled


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.sutures.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="model card (.json), weights (.safetensors) or catalogue key")
    p.add_argument("--phantom-seeds", help="phantom seeds A:B (B exclusive), e.g. 900000:900200")
    p.add_argument("--domain", choices=sorted(ADAPTOR_FOLDS), default="intraop",
                   help="phantom domain and fold count (sim: 5 folds, intraop: 4)")
    p.add_argument("--randomisation", choices=["none", "train", "wide"], default="wide")
    p.add_argument("--phantom-version", type=int, choices=[1, 2], default=1,
                   help="phantom version (2: real-looking, with distractors whose detections are counted)")
    p.add_argument("--real", nargs="?", const=str(realdata_root()), default=None, metavar="REALDATA",
                   help="evaluate on the real AdaptOR frames of this real-data folder instead "
                        f"(default {realdata_root()})")
    p.add_argument("--group-size", type=int, default=DEFAULT_GROUP_SIZE, help="phantom seeds per surgery")
    p.add_argument("--adaptor-root", help="AdaptOR-layout root to evaluate (its <op> folders are the surgeries)")
    p.add_argument("--skip-bad-frames", action="store_true",
                   help="skip (and count) frames the loader refuses instead of stopping")
    p.add_argument("--folds", type=int, default=None, help="override the number of folds")
    p.add_argument("--radius", type=float, default=MATCH_RADIUS_PX, help="matching radius in px (challenge: 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    return _run(args)


def _run(args) -> int:
    import torch

    from heatmap_landmarks.sutures import SuturePredictor

    from ..common import progress_bar

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.real is not None:
        if args.phantom_seeds or args.adaptor_root:
            raise InputError(None, "--real evaluates the real frames only; leave out --phantom-seeds/--adaptor-root")
        predictor = SuturePredictor(args.weights, device=args.device, batch_size=args.batch_size)
        run_real(predictor, args.real, args.out, radius=args.radius, overwrite=args.overwrite, quiet=args.quiet)
        log.info("wrote %s", args.out)
        return 0
    outputs = [os.path.join(args.out, n) for n in ("results.md", "results.csv", "submission.json", "summary.json")]
    for path in outputs:
        refuse_overwrite(path, args.overwrite)
    os.makedirs(args.out, exist_ok=True)
    predictor = SuturePredictor(args.weights, device=args.device, batch_size=args.batch_size)
    frames, description = load_frames(args)
    log.info("evaluating %s on %s", predictor.weights_path, description)
    bar = progress_bar(total=len(frames), desc="frames", enabled=not args.quiet)

    def progress(done, total):
        bar.update(done - bar.n)

    t0 = time.perf_counter()
    domain = args.domain
    preds, results, pooled = evaluate(predictor, frames, domain, radius=args.radius, seed=args.seed,
                                      n_folds=args.folds, progress=progress)
    seconds = time.perf_counter() - t0
    bar.close()
    table_name = "Table 2 layout (simulator domain)" if domain == "sim" else "Table 3 layout (intra-operative domain)"
    title = (f"{table_name}: {os.path.basename(str(predictor.weights_path))} on {description}; "
             f"matching radius {args.radius:g} px, TP/FP/FN pooled per fold")
    table = format_table(results, pooled, title)
    masks = [f.distractors for f in frames]
    hits = distractor_hits(preds, masks) if any(m is not None for m in masks) else None
    if hits is not None:
        table += (f"\n\nDetections on distractors: {hits['any']} of {hits['detections']} "
                  f"(endoscope overlay {hits['overlay']}, printed text {hits['printed_text']}, "
                  f"logo/text {hits['logo_text']})")
    print(table)
    with atomic_text_file(outputs[0], overwrite=True) as fh:
        fh.write(table + "\n")
    write_csv(summary_rows(results, pooled), outputs[1], overwrite=args.overwrite)
    entries = [SubmissionEntry(f.group, f.video, f.name, p) for f, p in zip(frames, preds)]
    write_submission_json(entries, outputs[2], overwrite=args.overwrite)
    summary = {
        "weights": str(predictor.weights_path), "data": description, "domain": domain,
        "radius_px": args.radius, "decoder": predictor.card.decoder,
        "folds": [r.row() | {"groups": r.groups} for r in results],
        "mean_std": {k: mean_std([getattr(r.counts, k) for r in results]) for k in ("precision", "sensitivity", "f1")},
        "pooled": pooled.to_dict(), "distractor_hits": hits, "seconds": round(seconds, 2),
        "frames_per_second": round(len(frames) / max(seconds, 1e-9), 2),
    }
    with atomic_text_file(outputs[3], overwrite=True) as fh:
        json.dump(summary, fh, indent=1)
        fh.write("\n")
    log.info("%.1f frames/s end to end (inference + decoding); wrote %s", summary["frames_per_second"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
