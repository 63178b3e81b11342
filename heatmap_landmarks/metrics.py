"""Landmark evaluation: radial errors, SDR, point matching, detection scores.

Conventions: points are ``(N, 2)`` float ``(x, y) = (column, row)`` pixels; a
NaN row in a prediction is a missed landmark. Spacing is ``(sx, sy)`` mm per
pixel along x (columns) and y (rows).

* Fixed-identity landmarks (cardiac): :func:`radial_errors`,
  :func:`successful_detection_rate`, :func:`summarise_landmark_errors`
  (rows laid out like the seed's tables), :func:`format_markdown_table`,
  :func:`write_csv`.
* Varying number of points (sutures): :func:`match_points` and
  :func:`pooled_detection_scores` -> :class:`DetectionCounts`.
"""
from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .fileutil import atomic_text_file
from .errors import InputError, PathLike, refuse_overwrite
from .heatmaps import check_points as _points  # one home for point validation

__all__ = [
    "DEFAULT_SDR_THRESHOLDS",
    "radial_errors",
    "successful_detection_rate",
    "summarise_landmark_errors",
    "format_markdown_table",
    "write_csv",
    "match_points",
    "DetectionCounts",
    "pooled_detection_scores",
]

#: SDR thresholds in pixels used by the seed's tables.
DEFAULT_SDR_THRESHOLDS = (2.0, 3.0, 5.0)


# --------------------------------------------------------------------------- radial errors


def radial_errors(pred, gt, spacing_xy=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Euclidean distance between predicted and true landmarks, row by row.

    Args:
        pred: ``(N, 2)`` float (x, y) pixels; a NaN row is a missed landmark
            and gets a NaN error (a failure for :func:`successful_detection_rate`).
        gt: ``(N, 2)`` float (x, y) pixels, no NaN (drop absent landmarks first:
            an absent truth cannot be scored).
        spacing_xy: ``(sx, sy)`` mm per pixel, or None for no mm errors.
            Anisotropic spacing scales dx and dy separately.

    Returns:
        ``errors_px`` ``(N,)`` float64 and ``errors_mm`` ``(N,)`` float64 or None.

    >>> px, mm = radial_errors([[3, 4], [float("nan")] * 2], [[0, 0], [1, 1]], spacing_xy=(2.0, 0.5))
    >>> px.tolist(), mm.tolist()   # mm: hypot(3*2, 4*0.5) = hypot(6, 2)
    ([5.0, nan], [6.324555320336759, nan])
    """
    p, g = _points(pred, "predicted points"), _points(gt, "ground-truth points")
    if p.shape != g.shape:
        raise InputError(None, f"predicted points {p.shape} and ground truth {g.shape} differ in shape")
    if np.isnan(g).any():
        raise InputError(None, "ground-truth points contain NaN; drop absent landmarks before scoring")
    diff = p - g
    errors_px = np.hypot(diff[:, 0], diff[:, 1])
    if spacing_xy is None:
        return errors_px, None
    spacing = np.asarray(spacing_xy, dtype=np.float64).reshape(-1)
    if spacing.shape != (2,) or not np.isfinite(spacing).all() or (spacing <= 0).any():
        raise InputError(None, f"spacing_xy must be two positive mm values (sx, sy), got {spacing_xy!r}")
    errors_mm = np.hypot(diff[:, 0] * spacing[0], diff[:, 1] * spacing[1])
    return errors_px, errors_mm


def _thresholds(thresholds) -> tuple[float, ...]:
    out = tuple(float(t) for t in thresholds)
    if not out or any(not (math.isfinite(t) and t >= 0) for t in out):
        raise InputError(None, f"SDR thresholds must be non-negative numbers, got {thresholds!r}")
    return out


def successful_detection_rate(errors_px, thresholds=DEFAULT_SDR_THRESHOLDS) -> dict[float, float]:
    """Fraction of landmarks with error ``<=`` each threshold (inclusive).

    NaN errors (missed landmarks) count as failures. An empty input gives NaN.

    >>> successful_detection_rate([1.0, 2.0, 2.5, float("nan")])
    {2.0: 0.5, 3.0: 0.75, 5.0: 0.75}
    """
    err = np.asarray(errors_px, dtype=np.float64).reshape(-1)
    out = {}
    for t in _thresholds(thresholds):
        # NaN <= t is False, so misses are failures without special-casing.
        out[t] = float(np.mean(err <= t)) if err.size else float("nan")
    return out


# --------------------------------------------------------------------------- tables


def _sdr_key(threshold: float) -> str:
    return f"sdr_{threshold:g}px"


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    found = values[~np.isnan(values)]
    if found.size == 0:
        return float("nan"), float("nan")
    return float(found.mean()), float(found.std())


def summarise_landmark_errors(
    errors_px_by_label: Mapping[str, Sequence[float]],
    errors_mm_by_label: Mapping[str, Sequence[float]] | None = None,
    *,
    thresholds=DEFAULT_SDR_THRESHOLDS,
    overall_label: str | None = "All",
) -> list[dict]:
    """One row per landmark, laid out like the seed's Tables 1/2.

    Row keys, in order: ``landmark``, ``mean_px``, ``std_px``, ``mean_mm``,
    ``std_mm`` (NaN without mm errors), ``sdr_2px``, ``sdr_3px``, ``sdr_5px``
    (one per threshold, fractions in [0, 1]), ``n`` (landmarks scored, misses
    included), ``n_missed`` (NaN errors). Mean and std (population std,
    ``ddof=0``) are over detected landmarks only; misses count only in SDR.
    When ``overall_label`` is not None a last row pools every landmark.

    >>> rows = summarise_landmark_errors({"LVC": [1.0, 3.0], "RVI-1": [2.0, float("nan")]})
    >>> [(r["landmark"], r["mean_px"], r["std_px"], r["sdr_2px"], r["n"], r["n_missed"]) for r in rows]
    [('LVC', 2.0, 1.0, 0.5, 2, 0), ('RVI-1', 2.0, 0.0, 0.5, 2, 1), ('All', 2.0, 0.816496580927726, 0.5, 4, 1)]
    """
    ths = _thresholds(thresholds)
    if errors_mm_by_label is not None:
        extra = set(errors_mm_by_label) - set(errors_px_by_label)
        if extra:
            raise InputError(None, f"mm errors given for labels without px errors: {sorted(extra)}")
    groups: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for label, errs in errors_px_by_label.items():
        px = np.asarray(errs, dtype=np.float64).reshape(-1)
        mm = None
        if errors_mm_by_label is not None and label in errors_mm_by_label:
            mm = np.asarray(errors_mm_by_label[label], dtype=np.float64).reshape(-1)
            if mm.shape != px.shape:
                raise InputError(None, f"landmark {label!r}: {mm.size} mm errors but {px.size} px errors")
        groups.append((str(label), px, mm))
    if overall_label is not None and groups:
        all_px = np.concatenate([g[1] for g in groups])
        all_mm = None
        if all(g[2] is not None for g in groups):
            all_mm = np.concatenate([g[2] for g in groups])
        groups.append((overall_label, all_px, all_mm))

    rows = []
    for label, px, mm in groups:
        mean_px, std_px = _mean_std(px)
        mean_mm, std_mm = _mean_std(mm) if mm is not None else (float("nan"), float("nan"))
        row = {"landmark": label, "mean_px": mean_px, "std_px": std_px, "mean_mm": mean_mm, "std_mm": std_mm}
        for t, rate in successful_detection_rate(px, ths).items():
            row[_sdr_key(t)] = rate
        row["n"] = int(px.size)
        row["n_missed"] = int(np.isnan(px).sum())
        rows.append(row)
    return rows


def _pm(mean: float, std: float, decimals: int) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def format_markdown_table(rows: Sequence[Mapping], *, decimals: int = 2) -> str:
    """Markdown table of :func:`summarise_landmark_errors` rows.

    Columns: Landmark | Error (px) | Error (mm) | SDR per threshold (%) | N.
    Unavailable values print as "–".

    >>> print(format_markdown_table(summarise_landmark_errors({"LVC": [1.0, 3.0]}, overall_label=None)))
    | Landmark | Error (px) | Error (mm) | SDR 2 px (%) | SDR 3 px (%) | SDR 5 px (%) | N |
    |---|---|---|---|---|---|---|
    | LVC | 2.00 ± 1.00 | – | 50.0 | 100.0 | 100.0 | 2 |
    """
    if not rows:
        raise InputError(None, "no rows to format")
    sdr_keys = [k for k in rows[0] if k.startswith("sdr_") and k.endswith("px")]
    header = ["Landmark", "Error (px)", "Error (mm)"] + [f"SDR {k[4:-2]} px (%)" for k in sdr_keys] + ["N"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            str(row["landmark"]),
            _pm(row["mean_px"], row["std_px"], decimals),
            _pm(row["mean_mm"], row["std_mm"], decimals),
        ]
        cells += ["–" if not math.isfinite(row[k]) else f"{100 * row[k]:.1f}" for k in sdr_keys]
        cells.append(str(row["n"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows: Sequence[Mapping], path: PathLike, *, overwrite: bool = False) -> str:
    """Write rows (dicts) as CSV, atomically; refuses to replace ``path`` unless ``overwrite``.

    Columns are the union of the rows' keys in first-seen order; missing
    values are empty cells. Returns the path written.

    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "errors.csv")
    >>> _ = write_csv([{"landmark": "LVC", "mean_px": 1.5}], out)
    >>> open(out).read().splitlines()
    ['landmark,mean_px', 'LVC,1.5']
    """
    path = os.fspath(path)
    refuse_overwrite(path, overwrite)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(path, "parent folder does not exist")
    rows = list(rows)
    fields: list[str] = []
    for k, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(path, f"row {k} is not a mapping of column -> value: {row!r}")
        fields += [key for key in row if key not in fields]
    with atomic_text_file(path, overwrite=overwrite, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- matching / detection


def match_points(pred, gt, radius: float = 6.0, *, method: str = "greedy"):
    """One-to-one matching of predicted to true points within ``radius`` px.

    A pair may match when its distance is ``<= radius`` (inclusive). NaN rows
    (no point) are ignored: never matched, never listed as unmatched.

    * ``method="greedy"`` (default, the "closest pairs" rule): repeatedly
      take the globally closest remaining pair (ties by prediction index,
      then truth index) until none is within ``radius``.
    * ``method="hungarian"``: maximum number of matches, then minimum summed
      distance (``scipy.optimize.linear_sum_assignment``). Differs from
      greedy only in crowded configurations.

    Returns:
        ``pairs`` ``(P, 2)`` int64 ``[pred_index, gt_index]`` sorted by
        prediction index, ``unmatched_pred`` ``(M-P',)`` int64 and
        ``unmatched_gt`` int64 index arrays (sorted).

    >>> pairs, fp, fn = match_points([[0, 0], [1, 0], [20, 20]], [[0.5, 0]])
    >>> pairs.tolist(), fp.tolist(), fn.tolist()
    ([[0, 0]], [1, 2], [])
    """
    p, g = _points(pred, "predicted points"), _points(gt, "ground-truth points")
    radius = float(radius)
    if not (math.isfinite(radius) and radius >= 0):
        raise InputError(None, f"matching radius must be a non-negative number of px, got {radius}")
    if method not in ("greedy", "hungarian"):
        raise InputError(None, f"method must be 'greedy' or 'hungarian', got {method!r}")
    p_idx = np.flatnonzero(~np.isnan(p[:, 0]))
    g_idx = np.flatnonzero(~np.isnan(g[:, 0]))
    empty = np.zeros(0, dtype=np.int64)
    if len(p_idx) == 0 or len(g_idx) == 0:
        return np.zeros((0, 2), dtype=np.int64), p_idx.astype(np.int64), g_idx.astype(np.int64)
    diff = p[p_idx][:, None, :] - g[g_idx][None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    within = dist <= radius

    pairs = []
    if method == "greedy":
        i, j = np.nonzero(within)
        order = np.lexsort((j, i, dist[i, j]))
        used_p, used_g = set(), set()
        for a, b in zip(i[order], j[order]):
            if a not in used_p and b not in used_g:
                used_p.add(a)
                used_g.add(b)
                pairs.append((p_idx[a], g_idx[b]))
    else:
        # Pairs beyond the radius cost more than any set of admissible pairs,
        # so the optimum first maximises the number of admissible matches.
        big = (within.sum() + 1) * (radius + 1.0)
        cost = np.where(within, dist, big)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(p_idx[a], g_idx[b]) for a, b in zip(rows, cols) if within[a, b]]

    pairs_arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    unmatched_pred = np.setdiff1d(p_idx, pairs_arr[:, 0]).astype(np.int64) if len(p_idx) else empty
    unmatched_gt = np.setdiff1d(g_idx, pairs_arr[:, 1]).astype(np.int64) if len(g_idx) else empty
    return pairs_arr, unmatched_pred, unmatched_gt


@dataclass(frozen=True)
class DetectionCounts:
    """True positives, false positives and false negatives of point detection.

    Scores with a zero denominator (0/0) are defined, not NaN:

    * ``precision = tp / (tp + fp)``; with no predictions: 1.0 if there was
      nothing to find either (``fn == 0``), else 0.0.
    * ``sensitivity = tp / (tp + fn)`` (recall); with nothing to find: 1.0
      if nothing was predicted (``fp == 0``), else 0.0.
    * ``f1 = 2 tp / (2 tp + fp + fn)``; 1.0 when all counts are 0 (an empty
      frame correctly left empty is perfect).

    >>> c = DetectionCounts(tp=8, fp=2, fn=4)
    >>> c.precision, round(c.sensitivity, 4), round(c.f1, 4)
    (0.8, 0.6667, 0.7273)
    >>> DetectionCounts(0, 0, 0).f1, DetectionCounts(0, 0, 3).precision
    (1.0, 0.0)
    """

    tp: int
    fp: int
    fn: int

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InputError(None, f"DetectionCounts.{name} must be a non-negative integer, got {value!r}")
            object.__setattr__(self, name, int(value))

    def __add__(self, other: "DetectionCounts") -> "DetectionCounts":
        if not isinstance(other, DetectionCounts):
            return NotImplemented
        return DetectionCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        denom = self.tp + self.fp
        if denom == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / denom

    @property
    def sensitivity(self) -> float:
        denom = self.tp + self.fn
        if denom == 0:
            return 1.0 if self.fp == 0 else 0.0
        return self.tp / denom

    recall = sensitivity

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 1.0 if denom == 0 else 2 * self.tp / denom

    def to_dict(self) -> dict:
        """Counts and scores as a flat dict (for CSV/JSON)."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "sensitivity": self.sensitivity,
            "f1": self.f1,
        }


def pooled_detection_scores(preds, gts, radius: float = 6.0, *, method: str = "greedy") -> DetectionCounts:
    """Match every frame (:func:`match_points`) and pool TP/FP/FN over all frames.

    Scores are then computed once from the pooled counts (not averaged per
    frame), so frames with many points weigh more.

    Args:
        preds: sequence of ``(M_f, 2)`` predicted points per frame.
        gts: sequence of ``(K_f, 2)`` true points per frame, same length.

    >>> c = pooled_detection_scores([[[0, 0]], np.zeros((0, 2))], [[[1, 1]], [[5, 5]]])
    >>> (c.tp, c.fp, c.fn), c.precision, c.sensitivity
    ((1, 0, 1), 1.0, 0.5)
    """
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise InputError(None, f"{len(preds)} predicted frames but {len(gts)} ground-truth frames")
    total = DetectionCounts(0, 0, 0)
    for pred, gt in zip(preds, gts):
        pairs, fp, fn = match_points(pred, gt, radius, method=method)
        total = total + DetectionCounts(len(pairs), len(fp), len(fn))
    return total
