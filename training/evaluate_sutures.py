"""Evaluate suture weights: matched precision / sensitivity / F1 per surgery-level fold.

Runs the shipped inference path (:meth:`heatmap_landmarks.inference.Predictor.predict_sutures`,
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

Example::

    python -m training.evaluate_sutures --weights heatmap_landmarks/weights/sutures.json \\
        --phantom-seeds 900000:900200 --domain intraop --out runs/eval_sutures
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
from heatmap_landmarks.heatmaps import decode_sutures
from heatmap_landmarks.metrics import DetectionCounts, match_points, pooled_detection_scores, write_csv

from .datasets.adaptor import SubmissionEntry, write_submission_json
from .datasets.splits import ADAPTOR_FOLDS, adaptor_folds
from .config import parse_seed_range
from .suture_data import DEFAULT_GROUP_SIZE, AdaptorSource, Frame, PhantomSource

log = logging.getLogger("training.evaluate_sutures")

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
    from .datasets.splits import kfold_splits

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
    """Points ``(M, 2)`` per frame through ``Predictor.predict_sutures`` (heatmaps not kept)."""
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


# --------------------------------------------------------------------------- CLI
def load_frames(args) -> tuple[list[Frame], str]:
    """Frames to evaluate from ``--phantom-seeds`` and/or ``--adaptor-root``, plus a description."""
    frames: list[Frame] = []
    parts = []
    if args.phantom_seeds:
        src = PhantomSource(list(parse_seed_range(args.phantom_seeds, "--phantom-seeds")), domain=args.domain,
                            randomisation=args.randomisation, group_size=args.group_size, cache=False)
        frames += [src[i] for i in range(len(src))]
        parts.append(f"{len(src)} phantom frames (domain {args.domain}, randomisation {args.randomisation}, "
                     f"seeds {args.phantom_seeds}, {args.group_size} seeds per surgery)")
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
    p = argparse.ArgumentParser(prog="python -m training.evaluate_sutures", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="model card (.json), weights (.safetensors) or catalogue key")
    p.add_argument("--phantom-seeds", help="phantom seeds A:B (B exclusive), e.g. 900000:900200")
    p.add_argument("--domain", choices=sorted(ADAPTOR_FOLDS), default="intraop",
                   help="phantom domain and fold count (sim: 5 folds, intraop: 4)")
    p.add_argument("--randomisation", choices=["none", "train", "wide"], default="wide")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return _run(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args) -> int:
    import torch

    from heatmap_landmarks.inference import Predictor

    from .common import progress_bar

    if args.threads:
        torch.set_num_threads(args.threads)
    outputs = [os.path.join(args.out, n) for n in ("results.md", "results.csv", "submission.json", "summary.json")]
    for path in outputs:
        refuse_overwrite(path, args.overwrite)
    os.makedirs(args.out, exist_ok=True)
    predictor = Predictor(args.weights, device=args.device, batch_size=args.batch_size)
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
    print(table)
    with open(outputs[0] + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    os.replace(outputs[0] + ".tmp", outputs[0])
    write_csv(summary_rows(results, pooled), outputs[1], overwrite=args.overwrite)
    entries = [SubmissionEntry(f.group, f.video, f.name, p) for f, p in zip(frames, preds)]
    write_submission_json(entries, outputs[2], overwrite=args.overwrite)
    summary = {
        "weights": str(predictor.weights_path), "data": description, "domain": domain,
        "radius_px": args.radius, "decoder": predictor.card.decoder,
        "folds": [r.row() | {"groups": r.groups} for r in results],
        "mean_std": {k: mean_std([getattr(r.counts, k) for r in results]) for k in ("precision", "sensitivity", "f1")},
        "pooled": pooled.to_dict(), "seconds": round(seconds, 2),
        "frames_per_second": round(len(frames) / max(seconds, 1e-9), 2),
    }
    with open(outputs[3] + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
        fh.write("\n")
    os.replace(outputs[3] + ".tmp", outputs[3])
    log.info("%.1f frames/s end to end (inference + decoding); wrote %s", summary["frames_per_second"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
