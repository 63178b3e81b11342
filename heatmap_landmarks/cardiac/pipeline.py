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
  its blobs (decoded once, on the network grid) are matched to the nearest slice
  (or frame) of the same run whose three points are known (Hungarian matching,
  :meth:`~heatmap_landmarks.cardiac.decode.CardiacDecoder.name_by_reference`).

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
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from ..inference import Cancelled
from ..pixels import greyscale_volume
from .measurements import annulus_excursion, long_axis_length, mitral_annulus_diameter, rv_insertion_angle
from .names import lv_centre_channel, name_rv_insertions, sax_labels, stack_basal_end, view_of_names
from .predict import VolumeAt

__all__ = ["CHUNK_FRAMES", "CardiacDetections", "FrameLandmarks", "detect_cardiac", "image_volumes"]

#: Time points of a 2D cine run through the predictor (and normalised) together.
CHUNK_FRAMES = 64

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
        """Clinical measurements (see :mod:`heatmap_landmarks.cardiac.measurements`) as rows.

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


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# detection
# ---------------------------------------------------------------------------
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
    if int(n_times) < 1:
        raise InputError(source, "no time points to process")
    n_times = int(n_times)
    names = list(predictor.names)
    card = predictor.card
    view = view or card.view or view_of_names(names)
    if view not in ("sax", "lax"):
        raise InputError(predictor.weights_path, "cannot tell whether this model is short or long axis")
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
        resolved += pred.named_by_reference
        p = p.reshape(len(ts), z_count, len(names), 2)
        c = c.reshape(len(ts), z_count, len(names))
        heat = pred.heatmaps.reshape((len(ts), z_count) + tuple(shape_hw))
        for i, (ti, geometry) in enumerate(zip(ts, geometries)):
            points[ti], conf[ti] = p[i], c[i]
            ras[ti] = geometry.xy_to_ras(p[i], k=np.arange(z_count)[:, None])
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
        labels = sax_labels(points, names, basal_end or 0)
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


def image_volumes(image):
    """``(volume_at, n_times)`` of an :class:`~heatmap_landmarks.io.Image` for :func:`detect_cardiac`.

    A ``"2d+t"`` cine is ``F`` time points of one slice (``volume_at(t)`` gives
    ``(1, H, W)``); a 2D image or a 3D stack is one time point of ``F`` slices.
    """
    array = image.array
    if image.kind == "2d+t":
        def volume_at(t):
            return array[t:t + 1], image.geometry

        return volume_at, image.n_frames

    def volume_at(_t):
        return array, image.geometry

    return volume_at, 1
