"""Cardiac heatmaps -> named points, on the network grid: the one home of cardiac decoding.

:class:`CardiacDecoder` is built from a model card (its ``decoder`` settings,
heatmap mode, view and grid spacing) and decodes one network output
``(C, h, w)`` into ``(L, 2)`` points and ``(L,)`` confidences in network
pixels. The predictor, the training validation and the decoder search all
call it; the caller maps the points back to the image once.

* Per-landmark heatmaps: one blob per channel
  (:func:`~heatmap_landmarks.heatmaps.decode_per_channel`). With
  ``rvi_max_distance_mm`` the RV insertions must lie within that distance of
  the LV centre (:func:`decode_tethered`); with ``rvi_pair_confidence`` both
  insertions are kept or neither (:func:`decide_pair`).
* One heatmap for all landmarks: its blobs are named by anatomy
  (:func:`assign_identities`); a slice with fewer blobs than landmarks is
  named by matching a complete neighbour (:meth:`CardiacDecoder.name_by_reference`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import InputError
from ..heatmaps import check_heatmap, check_points, decode_contours, decode_per_channel, strongest_first
from ..heatmaps import encode_heatmap, encode_heatmaps_per_channel  # noqa: F401 (the doctests draw with them)
from .names import lv_centre_channel, rv_insertion_channels, view_of_names

__all__ = ["CardiacDecoder", "assign_identities", "decide_pair", "decode_tethered"]


@dataclasses.dataclass(frozen=True)
class CardiacDecoder:
    """How one cardiac model's heatmaps become named points (network grid).

    Attributes:
        names: landmark names, channel order.
        heatmap_mode: ``"per_landmark"`` (one channel per name) or ``"single"``.
        view: ``"sax"``, ``"lax"`` or None (the anatomy rule of a single heatmap).
        grid_spacing_mm: mm per network pixel (None: distances in mm cannot be used).
        level: blob threshold, as a fraction of the heatmap maximum.
        min_confidence: weakest peak kept as a landmark.
        rvi_max_distance_mm: RV insertions tethered to the LV centre within this distance; None or 0 = off.
        rvi_pair_confidence: both RV insertions or neither, at this pair confidence; None or 0 = off.
    """

    names: tuple
    heatmap_mode: str = "per_landmark"
    view: str | None = None
    grid_spacing_mm: float | None = None
    level: float = 0.5
    min_confidence: float = 0.1
    rvi_max_distance_mm: float | None = None
    rvi_pair_confidence: float | None = None

    #: The settings a model card's ``decoder`` may hold (the rest comes from the card itself).
    SETTINGS = ("level", "min_confidence", "rvi_max_distance_mm", "rvi_pair_confidence")

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        if self.heatmap_mode not in ("per_landmark", "single"):
            raise InputError(None, f"heatmap_mode must be 'per_landmark' or 'single', got {self.heatmap_mode!r}")
        for key in ("level", "min_confidence"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InputError(None, f"decoder {key} must be a number in [0, 1], got {value!r}")
        if self.rvi_max_distance_mm and not self.grid_spacing_mm:
            raise InputError(None, "decoder rvi_max_distance_mm needs the network grid spacing (input_spacing_mm)")

    @classmethod
    def from_card(cls, card, **overrides) -> "CardiacDecoder":
        """The decoder a model card describes; ``overrides`` replace its ``decoder`` settings.

        Unknown setting names are refused with one line.
        """
        settings = dict(card.decoder or {})
        settings.update(overrides)
        unknown = sorted(set(settings) - set(cls.SETTINGS))
        if unknown:
            raise InputError(None, f"unknown cardiac decoder setting(s) {', '.join(map(repr, unknown))}; "
                                   f"valid: {', '.join(cls.SETTINGS)}")
        return cls(names=tuple(card.landmark_names), heatmap_mode=card.heatmap_mode, view=card.view,
                   grid_spacing_mm=card.input_spacing_mm, **settings)

    def with_settings(self, **settings) -> "CardiacDecoder":
        """A copy with some :data:`SETTINGS` changed (the decoder search tries many)."""
        unknown = sorted(set(settings) - set(self.SETTINGS))
        if unknown:
            raise InputError(None, f"unknown cardiac decoder setting(s) {', '.join(map(repr, unknown))}")
        return dataclasses.replace(self, **settings)

    def settings(self) -> dict:
        """The :data:`SETTINGS` that differ from off, as a model card's ``decoder`` dict."""
        out = {"level": self.level, "min_confidence": self.min_confidence}
        for key in ("rvi_max_distance_mm", "rvi_pair_confidence"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def decode(self, heatmap) -> tuple[np.ndarray, np.ndarray]:
        """``(C, h, w)`` network heatmaps -> ``((L, 2)`` network px, NaN = not found, ``(L,))`` confidence."""
        names = list(self.names)
        if self.heatmap_mode == "per_landmark":
            rvi = rv_insertion_channels(names)
            if self.rvi_max_distance_mm and rvi and len(rvi) < len(names):
                pts, conf = decode_tethered(heatmap, anchor=lv_centre_channel(names), tethered=rvi,
                                            max_distance=float(self.rvi_max_distance_mm) / float(self.grid_spacing_mm),
                                            min_confidence=self.min_confidence, level=self.level)
            else:
                pts, conf = decode_per_channel(heatmap, min_confidence=self.min_confidence, level=self.level)
            if self.rvi_pair_confidence and len(rvi) == 2:
                pts = decide_pair(pts, conf, rvi, float(self.rvi_pair_confidence))
            return pts, conf
        return self.name_blobs(*self.blobs(heatmap))

    def name_blobs(self, blobs, confidence) -> tuple[np.ndarray, np.ndarray]:
        """Single-heatmap mode: the unnamed :meth:`blobs` of one frame named by anatomy -> ``(L, 2)``, ``(L,)``."""
        return assign_identities(blobs, confidence, list(self.names), rule=self.view or "auto")

    def blobs(self, heatmap) -> tuple[np.ndarray, np.ndarray]:
        """Unnamed blobs of a single-channel ``(1, h, w)`` or ``(h, w)`` heatmap: ``(M, 2)``, ``(M,)``."""
        hm = np.asarray(heatmap)
        return decode_contours(hm[0] if hm.ndim == 3 else hm, level=self.level, min_confidence=self.min_confidence,
                               max_points=len(self.names) + 2)

    def name_by_reference(self, points, confidence, blobs) -> int:
        """Name the blobs of frames left unnamed (too few blobs) by matching the nearest complete frame.

        Args:
            points: ``(F, L, 2)`` named points of a stack, updated in place.
            confidence: ``(F, L)``, updated in place.
            blobs: ``F`` items: each frame's unnamed ``(blobs (M, 2), confidence (M,))``, same grid as ``points``.
        Returns:
            how many frames were named this way.
        """
        complete = np.flatnonzero(np.isfinite(points[..., 0]).all(axis=1))
        empty = np.flatnonzero(~np.isfinite(points[..., 0]).any(axis=1))
        if not len(complete) or not len(empty):
            return 0
        resolved = 0
        for f in empty:
            pts, conf = blobs[f]
            if not len(pts):
                continue
            nearest = complete[np.argmin(np.abs(complete - f))]
            points[f], confidence[f] = assign_identities(pts, conf, list(self.names), reference=points[nearest])
            resolved += 1
        return resolved


def decode_tethered(
    heatmaps,
    *,
    anchor: int,
    tethered: Sequence[int],
    max_distance: float,
    min_confidence: float = 0.1,
    level: float = 0.5,
    candidates: int = 3,
    relative: bool = True,
    min_area: int = 3,
    method: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel decoding where some landmarks must lie near another one.

    The SAX use: both RV insertion points lie on the LV epicardium, so they are
    within an epicardial radius of the LV centre. For each of the ``candidates``
    most confident blobs of the ``anchor`` channel, every ``tethered`` channel
    takes its most confident blob within ``max_distance`` (or none). A candidate
    scores its own peak value, plus the tethered peaks only when *every*
    tethered channel has a blob in reach (both insertions: one stray blob near
    a vessel must not outvote the LV); the highest score wins. A bright blob far
    from the heart (a vessel mistaken for the LV) then loses to a slightly
    weaker one that both insertions confirm. Without RV insertions (apical
    slices) the anchor is that of :func:`decode_per_channel`. Other channels are
    decoded independently.

    Args:
        heatmaps: ``(C, H, W)`` float.
        anchor: channel index of the anchor landmark.
        tethered: channel indices that must lie within ``max_distance`` px of it.
        max_distance: px (same grid as ``heatmaps``), > 0.
        min_confidence, level, relative, min_area, method: as in :func:`decode_per_channel`.
        candidates: blobs per channel considered, >= 1.

    Returns:
        As :func:`decode_per_channel`: ``(C, 2)`` points (NaN = absent) and
        ``(C,)`` confidences (the best blob's peak also for absent rows).

    Channel 1 (the anchor) has its true blob at (36, 30) with peak 0.9 and a
    brighter distractor at (5, 60); channel 0's blob at (30, 30) confirms the first:

    >>> maps = encode_heatmaps_per_channel([[30.0, 30.0], [36.0, 30.0]], (64, 64))
    >>> maps[1] = np.maximum(0.9 * maps[1], encode_heatmaps_per_channel([[5.0, 60.0]], (64, 64))[0])
    >>> decode_per_channel(maps)[0].round(1).tolist()
    [[30.0, 30.0], [5.0, 60.0]]
    >>> pts, _ = decode_tethered(maps, anchor=1, tethered=[0], max_distance=20.0)
    >>> pts.round(1).tolist()
    [[30.0, 30.0], [36.0, 30.0]]
    """
    maps = check_heatmap(heatmaps, ndim=3)
    n_channels = maps.shape[0]
    tethered = [int(t) for t in tethered]
    if not 0 <= int(anchor) < n_channels or any(not 0 <= t < n_channels or t == anchor for t in tethered):
        raise InputError(None, f"anchor {anchor} and tethered {tethered} must be distinct channels of {n_channels}")
    if not (math.isfinite(float(max_distance)) and max_distance > 0):
        raise InputError(None, f"max_distance must be > 0 px, got {max_distance}")
    if int(candidates) < 1:
        raise InputError(None, f"candidates must be >= 1, got {candidates}")
    points = np.full((n_channels, 2), np.nan, dtype=np.float32)
    confidence = np.zeros(n_channels, dtype=np.float32)
    others = [c for c in range(n_channels) if c != anchor and c not in tethered]
    if others:
        points[others], confidence[others] = decode_per_channel(
            maps[others], min_confidence=min_confidence, level=level, relative=relative, min_area=min_area,
            method=method)
    # Each involved channel is decoded once: its strongest blob is the per-channel answer (as in
    # decode_per_channel), its candidates above min_confidence feed the search.
    blobs = {}
    for c in [anchor, *tethered]:
        pts, conf = decode_contours(maps[c], level=level, relative=relative, min_area=min_area,
                                    max_points=int(candidates), method=method)
        if len(pts):
            confidence[c] = conf[0]
            if conf[0] >= min_confidence:
                points[c] = pts[0]
        keep = conf >= min_confidence
        blobs[c] = (pts[keep].astype(np.float64), conf[keep].astype(np.float64))
    if not len(blobs[anchor][0]):
        return points, confidence
    best_score, best_choice = -1.0, None
    for a_pt, a_conf in zip(*blobs[anchor]):
        support, choice = 0.0, {anchor: a_pt}
        for t in tethered:
            pts, conf = blobs[t]
            near = np.flatnonzero(np.hypot(*(pts - a_pt).T) <= max_distance) if len(pts) else []
            if len(near):
                k = near[np.argmax(conf[near])]
                support += float(conf[k])
                choice[t] = pts[k]
        score = float(a_conf) + (support if len(choice) == len(tethered) + 1 else 0.0)
        if score > best_score:
            best_score, best_choice = score, choice
    for c in [anchor, *tethered]:
        points[c] = best_choice[c] if c in best_choice else np.nan
    return points, confidence


def decide_pair(points, confidence, pair: Sequence[int], min_pair_confidence: float) -> np.ndarray:
    """Keep or drop two landmarks that exist together, such as the two RV insertions.

    On a short-axis slice the RV insertions are both there (the RV cavity meets
    the LV) or both absent (apical slices). Deciding them one by one, a weak
    peak on one side gives a half pair. Here the pair is present when its
    stronger detected member reaches ``min_pair_confidence``; then every member
    already detected (each above the decoder's own ``min_confidence``) is kept,
    otherwise both are dropped. Other rows are untouched.

    Args:
        points: ``(L, 2)`` decoded points, NaN rows = not detected.
        confidence: ``(L,)`` peak values in [0, 1].
        pair: the two row indices that exist together.
        min_pair_confidence: in [0, 1]; 0 keeps every detected member.

    Returns:
        ``(L, 2)`` float32 copy of ``points`` with the pair's rows set to NaN when the pair is absent.

    >>> pts = np.array([[10.0, 10.0], [np.nan, np.nan], [20.0, 20.0]])
    >>> decide_pair(pts, [0.25, 0.1, 0.9], (0, 1), 0.4)[:, 0].tolist()
    [nan, nan, 20.0]
    >>> decide_pair(pts, [0.45, 0.1, 0.9], (0, 1), 0.4)[:, 0].tolist()
    [10.0, nan, 20.0]
    """
    pts = np.array(points, dtype=np.float32, copy=True)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if pts.ndim != 2 or pts.shape[1] != 2 or conf.shape[0] != pts.shape[0]:
        raise InputError(None, f"points must be (L, 2) with L confidences, got {pts.shape} and {conf.shape}")
    members = [int(i) for i in pair]
    if len(members) != 2 or members[0] == members[1] or not all(0 <= i < len(pts) for i in members):
        raise InputError(None, f"pair must be two distinct row indices of {len(pts)}, got {list(pair)}")
    if not (math.isfinite(float(min_pair_confidence)) and 0.0 <= float(min_pair_confidence) <= 1.0):
        raise InputError(None, f"min_pair_confidence must be in [0, 1], got {min_pair_confidence}")
    detected = [i for i in members if np.isfinite(pts[i]).all()]
    strongest = max((conf[i] for i in detected), default=-1.0)
    if strongest < float(min_pair_confidence):
        pts[members] = np.nan
    return pts


def _unit(vector, what: str) -> np.ndarray:
    vec = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = np.hypot(*vec) if vec.shape == (2,) else 0.0
    if not (math.isfinite(norm) and norm > 0):
        raise InputError(None, f"{what} must be a non-zero (dx, dy) pixel vector, got {vector!r}")
    return vec / norm


def assign_identities(
    points,
    confidence,
    names: Sequence[str],
    *,
    rule: str = "auto",
    anterior_direction=(0.0, -1.0),
    lateral_direction=(1.0, 0.0),
    reference=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Name the blobs decoded from a single-channel cardiac heatmap.

    Only the ``len(names)`` most confident detections are used. Rules, all
    deterministic, in pixel space:

    * ``reference`` given (``(len(names), 2)`` array, or mapping name ->
      (x, y); NaN/missing = unknown): detections are matched one-to-one to
      the reference positions minimising the summed distance (Hungarian).
      Use it with positions from a neighbouring frame/slice, a per-channel
      model, or anatomy known to the caller. Works for any number of points.
    * ``rule="sax"``, names = (anterior RV insertion, inferior RV insertion,
      LV centre), e.g. ``("RVI-1", "RVI-2", "LVC")``: needs 3 detections.
      The two RV insertions are the pair farthest apart (seen from the LV
      centre they subtend well over 60 degrees, so the side between them is
      the longest of the triangle); the remaining point is the LV centre. Of
      the pair, the one further along ``anterior_direction`` (default
      ``(0, -1)``: up, smaller y, standard SAX display) is RVI-1. With fewer
      than 3 detections the identities are ambiguous and all are NaN.
    * ``rule="lax"``, names = (MV-1, MV-2): needs 2 detections. MV-1 is the
      one with the smaller projection on ``lateral_direction`` (default
      ``(1, 0)``: MV-1 is the image-left hinge). With 1 detection: NaN.
    * ``rule="auto"``: ``"sax"`` for 3 names, ``"lax"`` for 2.

    Args:
        points: ``(M, 2)`` float (x, y) pixels; confidence: ``(M,)``.
        names: expected landmark names, in the order described above.

    Returns:
        ``(len(names), 2)`` float32 points (NaN where not assigned) and
        ``(len(names),)`` float32 confidences (0 where not assigned).

    >>> pts = [[60.0, 80.0], [40.0, 60.0], [42.0, 100.0]]
    >>> p, c = assign_identities(pts, [0.9, 0.8, 0.7], ["RVI-1", "RVI-2", "LVC"])
    >>> p.tolist()
    [[40.0, 60.0], [42.0, 100.0], [60.0, 80.0]]
    >>> assign_identities([[30, 50], [10, 52]], [0.9, 0.9], ["MV-1", "MV-2"])[0].tolist()
    [[10.0, 52.0], [30.0, 50.0]]
    """
    pts = check_points(points)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if conf.shape != (len(pts),):
        raise InputError(None, f"confidence must have shape ({len(pts)},), got {conf.shape}")
    names = list(names)
    k = len(names)
    if k == 0:
        raise InputError(None, "names must not be empty")
    if rule == "auto":
        rule = view_of_names(names) or ""
        if not rule and reference is None:
            raise InputError(None, f"rule='auto' needs 3 (SAX) or 2 (LAX) names, got {k}; pass reference")
    elif rule not in ("sax", "lax"):
        raise InputError(None, f"rule must be 'auto', 'sax' or 'lax', got {rule!r}")
    if rule == "sax" and k != 3 and reference is None:
        raise InputError(None, f"rule 'sax' needs 3 names (RVI-1, RVI-2, LV centre), got {names}")
    if rule == "lax" and k != 2 and reference is None:
        raise InputError(None, f"rule 'lax' needs 2 names (MV-1, MV-2), got {names}")
    anterior = _unit(anterior_direction, "anterior_direction")
    lateral = _unit(lateral_direction, "lateral_direction")

    valid = ~np.isnan(pts[:, 0])
    pts, conf = pts[valid], conf[valid]
    top = strongest_first(pts, conf)[:k]
    pts, conf = pts[top], conf[top]
    out_pts = np.full((k, 2), np.nan, dtype=np.float64)
    out_conf = np.zeros(k, dtype=np.float64)

    if reference is not None:
        if isinstance(reference, Mapping):
            unknown = set(reference) - set(names)
            if unknown:
                raise InputError(None, f"reference names {sorted(unknown)} are not in names {names}")
            ref = np.array([reference.get(n, (np.nan, np.nan)) for n in names], dtype=np.float64)
        else:
            ref = check_points(reference, "reference")
        if ref.shape != (k, 2):
            raise InputError(None, f"reference must have shape ({k}, 2), got {ref.shape}")
        known = np.flatnonzero(~np.isnan(ref[:, 0]))
        if len(pts) and len(known):
            cost = np.hypot(*(pts[:, None, :] - ref[None, known, :]).transpose(2, 0, 1))
            det_idx, ref_idx = linear_sum_assignment(cost)
            out_pts[known[ref_idx]] = pts[det_idx]
            out_conf[known[ref_idx]] = conf[det_idx]
    elif rule == "sax" and len(pts) == 3:
        d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        i, j = np.unravel_index(np.argmax(d), d.shape)
        centre = 3 - i - j
        first, second = (i, j) if pts[i] @ anterior >= pts[j] @ anterior else (j, i)
        for slot, idx in enumerate((first, second, centre)):
            out_pts[slot], out_conf[slot] = pts[idx], conf[idx]
    elif rule == "lax" and len(pts) == 2:
        first, second = (0, 1) if pts[0] @ lateral <= pts[1] @ lateral else (1, 0)
        for slot, idx in enumerate((first, second)):
            out_pts[slot], out_conf[slot] = pts[idx], conf[idx]
    return out_pts.astype(np.float32), out_conf.astype(np.float32)
