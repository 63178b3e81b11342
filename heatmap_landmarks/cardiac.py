"""Cardiac landmark detection on a stack, a cine or both: the pipeline shared by the Slicer Logic and the CLI.

An input is ``T`` time points, each a *volume* of ``Z`` parallel slices
``(Z, H, W)`` placed in RAS by a :class:`~heatmap_landmarks.geometry.Geometry`
(k = slice). One 2D image is ``T = Z = 1``; a short-axis stack is ``T = 1``;
a 2D cine is ``Z = 1``; a 3D cine has both. The caller hands volumes over one
at a time (``volume_at(t)``), so a long cine is never held in memory: each
volume is run through :class:`~heatmap_landmarks.inference.Predictor`, its
``(Z, H, W)`` float32 heatmap is passed to ``on_heatmap`` (e.g. written into a
Slicer sequence item) and dropped; only the points are kept. 2D cines are
processed in chunks of up to :data:`CHUNK_FRAMES` time points so the network
still sees full batches.

Naming (the model predicts ``RVI-1, RVI-2, LVC`` on SAX and ``MV-1, MV-2`` on LAX):

* On a short-axis *stack* (``Z > 1``) the LV centre of the most basal slice
  where it was found is named **BCA**, of the most apical one **ACA**, and
  ``LVC`` in between. Which end of the stack is basal is decided from the
  image, not the slice order: the RV only reaches the basal part of the
  ventricle, so the end whose outer third of slices has the larger summed
  RV-insertion (RVI-1, RVI-2) confidence over all time points is basal; a tie
  (e.g. no RVI found at all) keeps the usual acquisition order, slice 0 basal.
  The decision is made once for the whole cine so names do not flip between
  frames.
* On a single short-axis slice the centre stays **LVC** (base and apex cannot
  be told apart from one slice); a note says so.
* A single-heatmap SAX model cannot name its blobs on slices where fewer than
  three are found (typically the apical slices, where the RV is absent). There
  the heatmap is decoded again and its blobs are matched to the nearest slice
  (or frame) of the same run whose three points are known (Hungarian matching,
  :func:`~heatmap_landmarks.heatmaps.assign_identities` with ``reference``).

View ``"auto"``: both shipped models run on the middle slice of the middle time
point and the view whose model is more confident (mean peak confidence over
its landmarks, 0 for a landmark not found) wins. The scores are kept in
:attr:`CardiacDetections.view_scores`.

This module imports only numpy at load time (torch, OpenCV and SciPy come in
with the predictor), so the Slicer module loads before its Python
dependencies are installed.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import numpy as np

from .errors import InputError
from .geometry import Geometry
from .heatmaps import lv_centre_channel
from .pixels import greyscale_volume
from .measurements import annulus_excursion, long_axis_length, mitral_annulus_diameter, rv_insertion_angle

__all__ = [
    "CHUNK_FRAMES",
    "CardiacDetections",
    "FrameLandmarks",
    "LAX_NAMES",
    "PredictorCache",
    "SAX_NAMES",
    "VIEW_CHOICES",
    "choose_view",
    "detect_cardiac",
    "load_predictors",
]

SAX_NAMES = ("RVI-1", "RVI-2", "LVC")
LAX_NAMES = ("MV-1", "MV-2")
#: Values accepted for ``view``.
VIEW_CHOICES = ("auto", "sax", "lax")
#: Time points of a 2D cine run through the predictor (and normalised) together.
CHUNK_FRAMES = 64

#: ``volume_at(t) -> ((Z, H, W) array, Geometry placing it in RAS)``.
VolumeAt = Callable[[int], "tuple[np.ndarray, Geometry]"]
#: ``progress(fraction in [0, 1], message)``.
ProgressFn = Callable[[float, str], None]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass
class FrameLandmarks:
    """The landmarks of one time point, flat, in display order (slice, then landmark).

    Attributes:
        labels: N names (RVI-1, RVI-2, BCA, ACA, LVC, MV-1, MV-2).
        slices: ``(N,)`` int slice index k of each point.
        points_xy: ``(N, 2)`` float32 pixels (x = column, y = row) on that slice.
        ras: ``(N, 3)`` float64 RAS mm; NaN rows for landmarks not found
            (only kept where the landmark set is fixed, see :meth:`CardiacDetections.frame`).
        confidence: ``(N,)`` float32 in [0, 1] (0 when not found).
    """

    labels: list
    slices: np.ndarray
    points_xy: np.ndarray
    ras: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class CardiacDetections:
    """Landmarks of every slice of every time point, plus naming and provenance.

    Attributes:
        view: "sax" or "lax" (the one used, also when "auto" was asked for).
        names: model landmark names, channel order (``SAX_NAMES`` or ``LAX_NAMES``).
        points: ``(T, Z, L, 2)`` float32 pixels (x, y); NaN = not found.
        confidence: ``(T, Z, L)`` float32 in [0, 1].
        ras: ``(T, Z, L, 3)`` float64 RAS mm; NaN = not found.
        labels: ``(T, Z, L)`` display names (BCA/ACA/LVC naming applied).
        basal_end: SAX stacks: slice index (0 or Z-1) judged basal; else None.
        notes: things the user should know (resampling/cropping, naming).
        view_scores: for ``view="auto"``: mean confidence of each view's model.
        seconds: wall time of the detection (model loading excluded).
        weights: model card path(s) used.
    """

    view: str
    names: list
    points: np.ndarray
    confidence: np.ndarray
    ras: np.ndarray
    labels: np.ndarray
    basal_end: Optional[int] = None
    notes: list = field(default_factory=list)
    view_scores: dict = field(default_factory=dict)
    seconds: float = 0.0
    weights: list = field(default_factory=list)

    @property
    def n_times(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_slices(self) -> int:
        return int(self.points.shape[1])

    def found(self) -> np.ndarray:
        """``(T, Z, L)`` bool: landmark found."""
        return np.isfinite(self.points[..., 0])

    def frame(self, t: int, *, keep_missing: bool | None = None) -> FrameLandmarks:
        """Landmarks of time point ``t``.

        Args:
            keep_missing: also list landmarks that were not found (NaN
                positions), so that the list always has the same labels in the
                same order. Default: True for a single slice (the fixed set
                RVI-1, RVI-2, LVC or MV-1, MV-2), False for stacks (a missing
                RVI on an apical slice is expected, not a gap).
        """
        if not 0 <= t < self.n_times:
            raise IndexError(f"time point {t} out of range 0..{self.n_times - 1}")
        keep = self.n_slices == 1 if keep_missing is None else bool(keep_missing)
        found = self.found()[t]
        zs, ls = np.nonzero(found | keep)
        return FrameLandmarks(
            labels=[str(self.labels[t, z, l]) for z, l in zip(zs, ls)],
            slices=zs.astype(np.int64),
            points_xy=self.points[t, zs, ls].astype(np.float32).reshape(-1, 2),
            ras=self.ras[t, zs, ls].reshape(-1, 3),
            confidence=self.confidence[t, zs, ls].astype(np.float32),
        )

    def rows(self) -> list[dict]:
        """Every found landmark as a dict: time, slice, label, x, y, r, a, s, confidence.

        Ordered by time, slice, then landmark. ``x, y`` are 0-based pixels of
        that slice; ``r, a, s`` RAS mm.
        """
        out = []
        ts, zs, ls = np.nonzero(self.found())
        for t, z, l in zip(ts, zs, ls):
            x, y = (float(v) for v in self.points[t, z, l])
            r, a, s = (float(v) for v in self.ras[t, z, l])
            out.append({"time": int(t), "slice": int(z), "label": str(self.labels[t, z, l]), "x": x, "y": y,
                        "r": r, "a": a, "s": s, "confidence": float(self.confidence[t, z, l])})
        return out

    def position(self, label: str, t: int) -> np.ndarray:
        """``(3,)`` RAS of the first landmark named ``label`` in time point ``t`` (NaN if none)."""
        hits = np.argwhere((self.labels[t] == label) & self.found()[t])
        if len(hits) == 0:
            return np.full(3, np.nan)
        z, l = hits[0]
        return self.ras[t, z, l].copy()

    def measurements(self) -> list[dict]:
        """Clinical measurements (see :mod:`heatmap_landmarks.measurements`) as rows.

        Each row: ``measurement`` (name), ``time`` (time point, -1 for a value
        over the whole cine), ``slice`` (-1 when not tied to one slice),
        ``value`` and ``unit``. Only values that could be computed are listed.
        """
        rows: list[dict] = []

        def add(name, t, z, value, unit):
            if value is not None and math.isfinite(float(value)):
                rows.append({"measurement": name, "time": int(t), "slice": int(z), "value": float(value),
                             "unit": unit})

        idx = {n: i for i, n in enumerate(self.names)}
        if self.view == "lax" and "MV-1" in idx and "MV-2" in idx:
            for z in range(self.n_slices):
                mv1, mv2 = self.ras[:, z, idx["MV-1"]], self.ras[:, z, idx["MV-2"]]
                for t, d in enumerate(mitral_annulus_diameter(mv1, mv2)):
                    add("mitral annulus diameter", t, z, d, "mm")
                if self.n_times >= 2:
                    exc = annulus_excursion(mv1, mv2)
                    add("annulus midpoint excursion", -1, z, exc["midpoint"], "mm")
                    add("MV-1 excursion", -1, z, exc["MV-1"], "mm")
                    add("MV-2 excursion", -1, z, exc["MV-2"], "mm")
        elif self.view == "sax" and {"RVI-1", "RVI-2"} <= set(idx):
            centre = lv_centre_channel(self.names)
            for t in range(self.n_times):
                angles = rv_insertion_angle(self.ras[t, :, idx["RVI-1"]], self.ras[t, :, idx["RVI-2"]],
                                            self.ras[t, :, centre])
                for z, angle in enumerate(angles):
                    add("RV insertion angle", t, z, angle, "deg")
            if self.n_slices > 1:
                for t in range(self.n_times):
                    add("LV long-axis length", t, -1,
                        long_axis_length(self.position("BCA", t), self.position("ACA", t))[0], "mm")
        return rows


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------
def _check_view(view: str) -> str:
    if view not in VIEW_CHOICES:
        raise InputError(None, f"view must be one of {', '.join(VIEW_CHOICES)}, got {view!r}")
    return view


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
class PredictorCache:
    """Keeps loaded predictors so repeated runs (Slicer's Apply) skip reloading.

    Keyed by (resolved weights path, its modification time, device, batch size, rotations).
    """

    def __init__(self):
        self._items: dict = {}

    def get(self, weights, *, device: str, batch_size: int, rotations: int | None = None):
        from .catalog import resolve_weights
        from .inference import Predictor

        path = resolve_weights(weights)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = None
        key = (str(path), mtime, str(device), int(batch_size), rotations)
        if key not in self._items:
            self._items[key] = Predictor(path, device=device, batch_size=batch_size, rotations=rotations)
        return self._items[key]

    def clear(self) -> None:
        self._items.clear()


def load_predictors(view: str = "auto", weights=None, *, device: str = "cpu", batch_size: int = 8,
                    cache: PredictorCache | None = None, rotations: int | None = None) -> dict:
    """The cardiac predictor(s) for a run: ``{view: Predictor}``.

    * ``weights`` None: the shipped model of ``view``; both for ``"auto"``.
    * ``weights`` given (card/.safetensors path or catalogue key): that model
      only; its card's view must agree with ``view`` (``"auto"`` takes the
      card's view).
    * ``weights`` a mapping ``{"sax": ..., "lax": ...}``: one model per view
      (``"auto"`` chooses between them; a fixed view uses its entry).
    * ``rotations``: test-time quarter turns averaged (1, 2 or 4); None = each card's own setting.

    Raises:
        InputError / CheckpointError: missing, tampered or wrong-architecture
            weights, a non-cardiac model, or a view mismatch.
    """
    _check_view(view)
    cache = cache or PredictorCache()
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - {"sax", "lax"})
        if unknown or not weights:
            raise InputError(None, f"weights per view must be keyed 'sax' and/or 'lax', got {sorted(weights)}")
        wanted = sorted(weights) if view == "auto" else [view]
        if view not in ("auto",) and view not in weights:
            raise InputError(None, f"no weights given for view '{view}' (have {', '.join(sorted(weights))})")
        out = {}
        for v in wanted:
            out.update(load_predictors(v, weights[v], device=device, batch_size=batch_size, cache=cache,
                                       rotations=rotations))
        return out
    if weights is None or (isinstance(weights, str) and not weights.strip()):
        from .catalog import default_weights_key

        views = ("sax", "lax") if view == "auto" else (view,)
        return {v: cache.get(default_weights_key("cardiac", v), device=device, batch_size=batch_size,
                             rotations=rotations) for v in views}
    predictor = cache.get(weights, device=device, batch_size=batch_size, rotations=rotations)
    card = predictor.card
    if card.task != "cardiac":
        raise InputError(predictor.weights_path, f"is a '{card.task}' model, not a cardiac landmark model")
    card_view = card.view or {len(SAX_NAMES): "sax", len(LAX_NAMES): "lax"}.get(len(card.landmark_names))
    if view != "auto":
        if card.view is not None and card.view != view:
            raise InputError(predictor.weights_path, f"is a '{card.view}' model but view '{view}' was requested")
        card_view = view
    if card_view is None:
        raise InputError(predictor.weights_path, "model card names no view; choose view 'sax' or 'lax'")
    return {card_view: predictor}


def choose_view(predictors: dict, volume_at: VolumeAt, n_times: int, *, source=None) -> tuple[str, dict]:
    """Pick the view whose model is more confident on the middle slice of the middle time point.

    Returns:
        ``(view, {view: mean confidence})``; with one predictor, its view and no scores.
    """
    if len(predictors) == 1:
        return next(iter(predictors)), {}
    volume, geometry = volume_at(n_times // 2)
    frame = greyscale_volume(volume, source)
    frame = frame[len(frame) // 2]
    scores = {}
    for view, predictor in predictors.items():
        pred = predictor.predict_cardiac(frame, geometry.spacing[:2], return_heatmaps=False, source=source)
        scores[view] = float(np.mean(pred.confidence))
    best = max(scores, key=lambda v: (scores[v], v == "sax"))
    return best, scores


# ---------------------------------------------------------------------------
# detection
# ---------------------------------------------------------------------------
def _resolve_ambiguous(points, confidence, heatmaps, names, decoder: dict) -> int:
    """Name the blobs of frames whose identities were ambiguous, by matching a complete neighbour.

    ``points (F, L, 2)``, ``confidence (F, L)`` are updated in place; returns
    how many frames were resolved.
    """
    if heatmaps is None:
        return 0
    complete = np.flatnonzero(np.isfinite(points[..., 0]).all(axis=1))
    empty = np.flatnonzero(~np.isfinite(points[..., 0]).any(axis=1))
    if not len(complete) or not len(empty):
        return 0
    from .heatmaps import assign_identities, decode_contours

    level = float(decoder.get("level", 0.5))
    min_conf = float(decoder.get("min_confidence", 0.1))
    resolved = 0
    for f in empty:
        blobs, conf = decode_contours(heatmaps[f], level=level, min_confidence=min_conf, max_points=len(names) + 2)
        if not len(blobs):
            continue
        nearest = complete[np.argmin(np.abs(complete - f))]
        p, c = assign_identities(blobs, conf, names, reference=points[nearest])
        points[f], confidence[f] = p, c
        resolved += 1
    return resolved


def _basal_end(points, confidence, names) -> int:
    """Slice index (0 or Z-1) of the basal end of a SAX stack, from where the RV insertions are found."""
    z_count = points.shape[1]
    rvi = [i for i, n in enumerate(names) if n.upper().startswith("RVI")]
    if z_count < 2 or not rvi:
        return 0
    found = np.isfinite(points[..., 0])
    score = np.where(found[..., rvi], confidence[..., rvi], 0.0).sum(axis=(0, 2))  # (Z,)
    k = max(1, z_count // 3)
    return z_count - 1 if score[-k:].sum() > score[:k].sum() else 0


def apex_direction(geometry: Geometry, z_count: int, basal_end: int | None) -> np.ndarray | None:
    """RAS direction ``(3,)`` from base to apex along the slice axis, or None when it cannot be told.

    With patient orientation and a slice axis that runs clearly up or down, the apex
    is the inferior side (for one slice too: the heart's long axis points down to
    the apex). Otherwise a stack's ``basal_end`` (found from its content) decides.
    """
    if not has_patient_orientation(geometry):
        return None
    axis = np.asarray(geometry.direction[:, 2], dtype=np.float64)
    if abs(float(axis[2])) >= MIN_SLICE_AXIS_S:
        return axis * (-1.0 if axis[2] > 0 else 1.0)
    if z_count > 1 and basal_end is not None:
        return axis * (1.0 if basal_end == 0 else -1.0)
    return None


def name_rv_insertions(points, confidence, ras, names, geometry: Geometry, basal_end: int | None) -> str:
    """Name RVI-1/RVI-2 of a short-axis stack or slice by patient geometry, in place; returns the note to show.

    * Patient orientation with a known base-to-apex direction (:func:`apex_direction`):
      by the insertions' turn around the LV centre (:func:`name_insertions_by_chirality`),
      which a header with turned axes cannot swap.
    * Orientation, but a slice lying flat (single slice): RVI-1 is the more anterior one.
    * No orientation: the names stay the model's (or the caller's) convention.
    ``points (T, Z, L, 2)``, ``confidence (T, Z, L)``, ``ras (T, Z, L, 3)``.
    """
    z_count = points.shape[1]
    toward_apex = apex_direction(geometry, z_count, basal_end)
    if toward_apex is not None:
        swapped, decided = name_insertions_by_chirality(points, confidence, ras, names, toward_apex)
        return (f"RV insertions named by patient geometry on {decided} slice(s): by their turn around the LV centre "
                f"seen from base to apex (RVI-1 anterior for a heart in normal position); the names given before "
                f"were swapped on {swapped} of them")
    if has_patient_orientation(geometry):
        swapped, decided = name_insertions_by_anatomy(points, confidence, ras, names)
        return (f"RV insertions named by patient geometry (RVI-1 is the more anterior one) on {decided} slice(s); "
                f"the names given before were swapped on {swapped} of them")
    return ("the image has no patient orientation (identity direction): RV insertions are named by the model's "
            "convention, the display orientation of short-axis views (anterior up, RV on the left of the LV); a "
            "mirrored or rotated image would need its real orientation")


#: The slice axis must point at least this much up or down (cosine with S) for the apex to be placed by it.
MIN_SLICE_AXIS_S = 0.25


def stack_basal_end(geometry: Geometry, points, confidence, names) -> tuple[int, str]:
    """``(slice index 0 or Z-1 of the base, how it was decided)`` for a short-axis stack.

    With patient orientation and a slice axis that runs clearly up or down
    (``|cos(k, S)| >= MIN_SLICE_AXIS_S``), the apex is the inferior end: the LV long
    axis points from the base down to the apex, and a header turned about S keeps
    that. Otherwise the end where the RV insertions are found is basal
    (:func:`_basal_end`).
    """
    z_count = points.shape[1]
    if has_patient_orientation(geometry):
        s = float(geometry.direction[2, 2])
        if abs(s) >= MIN_SLICE_AXIS_S:
            return (0 if s < 0 else z_count - 1), "the apex is the inferior end of the stack (patient orientation)"
    return _basal_end(points, confidence, names), "the RV insertion points were found at that end of the stack"


def _sax_labels(points, names, basal_end: int) -> np.ndarray:
    """``(T, Z, L)`` display names: the LV centre becomes BCA/ACA on the basal/apical-most slice with it."""
    t_count, z_count, _ = points.shape[:3]
    labels = np.empty(points.shape[:3], dtype=object)
    labels[...] = np.asarray(list(names), dtype=object)[None, None, :]
    if z_count < 2:
        return labels
    centre = lv_centre_channel(names)
    order = list(range(z_count)) if basal_end == 0 else list(range(z_count - 1, -1, -1))
    for t in range(t_count):
        with_centre = [z for z in order if np.isfinite(points[t, z, centre, 0])]
        if not with_centre:
            continue
        if len(with_centre) == 1:
            # One slice only: name it by the end it is nearer to.
            z = with_centre[0]
            labels[t, z, centre] = "BCA" if order.index(z) < z_count / 2 else "ACA"
            continue
        labels[t, with_centre[0], centre] = "BCA"
        labels[t, with_centre[-1], centre] = "ACA"
    return labels


#: RAS direction of an image whose header carries no orientation (identity in ITK's LPS), e.g. ACDC.
_NO_ORIENTATION = np.diag([-1.0, -1.0, 1.0])
#: Below this difference in the anterior (A) coordinate, mm, the two insertions are not told apart by geometry.
MIN_ANTERIOR_SEPARATION_MM = 2.0


def has_patient_orientation(geometry: Geometry) -> bool:
    """False when the header's direction is the identity (no scanner orientation, as on ACDC files,
    PNGs and most research exports); True for any other, e.g. a real oblique short-axis plane."""
    return not np.allclose(geometry.direction, _NO_ORIENTATION, atol=1e-6)


def name_insertions_by_anatomy(points, confidence, ras, names, *,
                               min_separation_mm: float = MIN_ANTERIOR_SEPARATION_MM) -> tuple[int, int]:
    """Name the two RV insertions by patient geometry: the anterior one (larger RAS A) is RVI-1.

    ``points (..., L, 2)``, ``confidence (..., L)`` and ``ras (..., L, 3)`` are swapped
    in place where the network's RVI-1 is the posterior one. Slices where the two
    differ by less than ``min_separation_mm`` in A keep the network's names.
    Returns ``(swapped, decided)``: slices renamed, and slices where geometry decided.

    >>> pts = np.array([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]]); conf = np.array([[0.9, 0.8, 0.7]])
    >>> ras = np.array([[[0.0, -10.0, 0.0], [0.0, 15.0, 0.0], [0.0, 0.0, 0.0]]])
    >>> name_insertions_by_anatomy(pts, conf, ras, ["RVI-1", "RVI-2", "LVC"]), pts[0, 0].tolist()
    ((1, 1), [2.0, 2.0])
    """
    names = list(names)
    if "RVI-1" not in names or "RVI-2" not in names:
        return 0, 0
    i, j = names.index("RVI-1"), names.index("RVI-2")
    a_i, a_j = ras[..., i, 1], ras[..., j, 1]
    both = np.isfinite(a_i) & np.isfinite(a_j)
    decided = both & (np.abs(a_i - a_j) >= min_separation_mm)
    swap = decided & (a_i < a_j)
    _swap_channels(points, confidence, ras, swap, i, j)
    return int(swap.sum()), int(decided.sum())


def name_insertions_by_chirality(points, confidence, ras, names, base_to_apex) -> tuple[int, int]:
    """Name the two RV insertions by their turn around the LV centre, seen along the LV long axis.

    With ``n`` the base-to-apex direction (RAS, any length), the anterior insertion
    RVI-1 and the inferior RVI-2 of a heart in normal position satisfy
    ``((RVI-1 - LVC) x (RVI-2 - LVC)) . n > 0`` (the RV lies to the patient's right
    of the LV, the apex points left, anterior and inferior). Unlike "the more anterior
    one", this holds under any rotation of the patient axes, so a header whose
    axes are turned (as in some converted NIfTI files) cannot swap the names; a
    mirrored image changes the sign, which the header's direction then undoes.
    ``points (..., L, 2)``, ``confidence (..., L)``, ``ras (..., L, 3)`` are swapped in
    place where the sign is negative; slices without all three points keep the
    network's names. Returns ``(swapped, decided)``.

    >>> pts = np.zeros((1, 3, 2)); conf = np.array([[0.9, 0.8, 0.7]])
    >>> ras = np.array([[[1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # RV to the right (+R)
    >>> name_insertions_by_chirality(pts, conf, ras, ["RVI-1", "RVI-2", "LVC"], (0.0, 0.0, -1.0))  # apex inferior
    (1, 1)
    >>> ras[0, :2, 1].tolist()  # RVI-1 is now the anterior one (+A)
    [1.0, -1.0]
    """
    names = list(names)
    if not {"RVI-1", "RVI-2"} <= set(names):
        return 0, 0
    i, j, c = names.index("RVI-1"), names.index("RVI-2"), lv_centre_channel(names)
    n = np.asarray(base_to_apex, dtype=np.float64)
    turn = np.einsum("...k,k->...", np.cross(ras[..., i, :] - ras[..., c, :], ras[..., j, :] - ras[..., c, :]), n)
    decided = np.isfinite(turn) & (turn != 0)
    swap = decided & (turn < 0)
    _swap_channels(points, confidence, ras, swap, i, j)
    return int(swap.sum()), int(decided.sum())


def _swap_channels(points, confidence, ras, swap, i: int, j: int) -> None:
    """Swap landmark channels ``i`` and ``j`` of ``points``/``confidence``/``ras`` where ``swap``, in place."""
    for arr in (points, ras):
        a, b = arr[..., i, :].copy(), arr[..., j, :].copy()
        arr[..., i, :], arr[..., j, :] = np.where(swap[..., None], b, a), np.where(swap[..., None], a, b)
    a, b = confidence[..., i].copy(), confidence[..., j].copy()
    confidence[..., i], confidence[..., j] = np.where(swap, b, a), np.where(swap, a, b)


def detect_cardiac(volume_at: VolumeAt, n_times: int, predictor, *, view: str | None = None,
                   on_heatmap: Callable[[int, np.ndarray, Geometry], None] | None = None,
                   progress: ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None,
                   source=None, chunk_frames: int = CHUNK_FRAMES) -> CardiacDetections:
    """Run one cardiac model over ``n_times`` volumes handed over by ``volume_at``.

    Args:
        volume_at: ``t -> ((Z, H, W) voxels, Geometry)``; all volumes must have
            the same shape. Vector voxels ``(Z, H, W, C)`` are accepted when
            grey (see :func:`greyscale_volume`).
        n_times: number of time points (>= 1).
        predictor: a cardiac :class:`~heatmap_landmarks.inference.Predictor`.
        view: "sax"/"lax" (default: the model card's view).
        on_heatmap: called as ``on_heatmap(t, heatmap (Z, H, W) float32 in
            [0, 1], geometry)`` for each time point, in order, as soon as it
            is ready. Without it heatmaps are not kept.
        progress: ``progress(fraction, message)``.
        should_cancel: checked before every batch; True raises
            :class:`~heatmap_landmarks.inference.Cancelled`.
        source: name of the input, for messages.

    Returns:
        :class:`CardiacDetections`.

    Raises:
        InputError: bad voxels (NaN, too small, colour, shape change), bad model.
        Cancelled: ``should_cancel()`` returned True.
    """
    from .inference import Cancelled

    if int(n_times) < 1:
        raise InputError(source, "no time points to process")
    n_times = int(n_times)
    names = list(predictor.names)
    card = predictor.card
    view = view or card.view or {3: "sax", 2: "lax"}.get(len(names))
    if view not in ("sax", "lax"):
        raise InputError(predictor.weights_path, "cannot tell whether this model is short or long axis")
    decoder = dict(card.decoder or {})
    single = card.heatmap_mode == "single"
    started = time.perf_counter()

    first, first_geometry = volume_at(0)
    first = greyscale_volume(first, source)
    z_count, shape_hw = first.shape[0], first.shape[1:]
    t_chunk = max(1, int(chunk_frames)) if z_count == 1 else 1
    total = n_times * z_count
    points = np.full((n_times, z_count, len(names), 2), np.nan, np.float32)
    conf = np.zeros((n_times, z_count, len(names)), np.float32)
    ras = np.full((n_times, z_count, len(names), 3), np.nan)
    notes: list[str] = []
    resolved = 0

    def report(done_frames: int, message: str) -> None:
        if progress is not None:
            progress(done_frames / total, message)

    report(0, "starting")
    t = 0
    while t < n_times:
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"cancelled after {t} of {n_times} time points")
        ts = list(range(t, min(n_times, t + t_chunk)))
        volumes, geometries = [], []
        for ti in ts:
            if ti == 0:
                volume, geometry = first, first_geometry
            else:
                volume, geometry = volume_at(ti)
                volume = greyscale_volume(volume, source)
            if volume.shape != first.shape:
                raise InputError(source, f"time point {ti} has shape {volume.shape}, time point 0 {first.shape}; "
                                         f"every frame of a cine must have the same size")
            volumes.append(volume)
            geometries.append(geometry)
        # Z slices of one time point, or several time points of a 2D cine, make one stack.
        stack = volumes[0] if len(volumes) == 1 else np.concatenate(volumes, axis=0)
        done_before = t * z_count

        def on_progress(done, _n, _base=done_before, _t=ts):
            label = f"time point {_t[0] + 1}" if len(_t) == 1 else f"time points {_t[0] + 1}-{_t[-1] + 1}"
            report(_base + done, f"{label} of {n_times}")

        pred = predictor.predict_cardiac(stack, geometries[0].spacing[:2], progress=on_progress,
                                         should_cancel=should_cancel, source=source)
        for note in pred.notes:
            if note not in notes:
                notes.append(note)
        p, c = pred.points.copy(), pred.confidence.copy()
        if single:
            resolved += _resolve_ambiguous(p, c, pred.heatmaps, names, decoder)
        p = p.reshape(len(ts), z_count, len(names), 2)
        c = c.reshape(len(ts), z_count, len(names))
        heat = pred.heatmaps.reshape((len(ts), z_count) + tuple(shape_hw))
        for i, (ti, geometry) in enumerate(zip(ts, geometries)):
            points[ti], conf[ti] = p[i], c[i]
            z_index = np.broadcast_to(np.arange(z_count, dtype=np.float64)[:, None], (z_count, len(names)))
            ijk = np.stack([p[i, ..., 0], p[i, ..., 1], z_index], axis=-1).reshape(-1, 3)
            ras[ti] = geometry.pixel_to_ras(ijk).reshape(z_count, len(names), 3)
            if on_heatmap is not None:
                on_heatmap(ti, heat[i], geometry)
        del pred, heat, stack, volumes
        t = ts[-1] + 1
    report(total, "done")

    basal_end = None
    if view == "sax" and z_count > 1:
        basal_end, how = stack_basal_end(first_geometry, points, conf, names)
        if basal_end != 0:
            notes.append(f"slice {basal_end} is taken as basal (BCA) and slice 0 as apical (ACA): {how}")
    if view == "sax" and {"RVI-1", "RVI-2"} <= set(names):
        notes.append(name_rv_insertions(points, conf, ras, names, first_geometry, basal_end))
    if view == "sax":
        if z_count == 1:
            notes.append("single short-axis slice: the LV centre is named LVC (BCA/ACA need a stack of slices "
                         "to tell base from apex)")
        labels = _sax_labels(points, names, basal_end or 0)
    else:
        labels = np.empty(points.shape[:3], dtype=object)
        labels[...] = np.asarray(names, dtype=object)[None, None, :]
    if resolved:
        notes.append(f"{resolved} slice(s)/frame(s) with fewer blobs than landmarks were named by matching "
                     f"a neighbouring slice/frame")
    for note in notes:
        log.info("%s: %s", source or "input", note)
    return CardiacDetections(view=view, names=names, points=points, confidence=conf, ras=ras, labels=labels,
                             basal_end=basal_end, notes=notes, seconds=time.perf_counter() - started,
                             weights=[str(predictor.weights_path)])
